// What a client may send, and the synthetic replies to what it may not (pure functions).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ALLOWED, refusal, refusalReplies } from '../../../server/bridge/refusals.js';
import { anonymous, clientMsg, tokenCaller } from './fake-kernel.js';

const rules = (ok = true) => {
  const taken: string[] = [];
  return {
    taken,
    maxCodeBytes: 8,
    executions: {
      take: (key: string) => {
        taken.push(key);
        return ok ? { ok: true as const } : { ok: false as const, retryAfterS: 7 };
      },
    },
  };
};

describe('refusal', () => {
  it('lets every allowed type through on its channel', () => {
    for (const [channel, types] of Object.entries(ALLOWED))
      for (const type of types)
        expect(refusal(clientMsg(channel, type, { code: 'x' }), tokenCaller, rules())).toBeUndefined();
  });

  it('sends interrupt, restart and shutdown to the REST API', () => {
    for (const [channel, type] of [
      ['control', 'interrupt_request'],
      ['control', 'kernel_info_request'],
      ['shell', 'shutdown_request'],
    ] as const)
      expect(refusal(clientMsg(channel, type), anonymous, rules())).toMatch(/through the REST API/);
  });

  it('checks code before it costs an execution, and only for anonymous callers', () => {
    const r = rules(false);
    expect(refusal(clientMsg('shell', 'execute_request', {}), anonymous, r)).toBe(
      'execute_request needs content.code',
    );
    expect(refusal(clientMsg('shell', 'execute_request', { code: 'é'.repeat(5) }), anonymous, r)).toBe(
      'code is larger than 8 bytes',
    );
    expect(r.taken).toEqual([]);
    expect(refusal(clientMsg('shell', 'execute_request', { code: '1' }), tokenCaller, r)).toBeUndefined();
    expect(refusal(clientMsg('shell', 'execute_request', { code: '1' }), anonymous, r)).toBe(
      'too many executions from your address; retry in 7 s',
    );
    expect(r.taken).toEqual([anonymous.ipKey]);
  });

  it('refuses for a kernel that cannot take the message before it costs an execution', () => {
    const r = { ...rules(), unavailable: 'the kernel is dead: crashed' };
    expect(refusal(clientMsg('shell', 'execute_request', { code: '1' }), anonymous, r)).toBe(
      'the kernel is dead: crashed',
    );
    expect(refusal(clientMsg('shell', 'kernel_info_request'), anonymous, r)).toBe(
      'the kernel is dead: crashed',
    );
    expect(refusal(clientMsg('shell', 'shutdown_request'), anonymous, r)).toMatch(/through the REST API/);
    expect(r.taken).toEqual([]);
  });

  it('never lets through a type outside the allow-list', () => {
    const channel = fc.oneof(
      fc.constantFrom('shell', 'stdin', 'control', 'iopub', 'toString', '__proto__', 'constructor'),
      fc.string({ maxLength: 12 }),
    );
    const type = fc.oneof(
      fc.constantFrom(...Object.values(ALLOWED).flatMap((t) => [...t]), 'shutdown_request', 'valueOf'),
      fc.string({ minLength: 1, maxLength: 40 }),
    );
    fc.assert(
      fc.property(channel, type, (c, t) => {
        const why = refusal(clientMsg(c, t, { code: '' }), anonymous, rules());
        expect(why === undefined).toBe(Object.hasOwn(ALLOWED, c) && ALLOWED[c]?.has(t) === true);
      }),
    );
  });

  it('takes inherited property names for unknown channels', () => {
    for (const c of ['toString', 'constructor', '__proto__', 'hasOwnProperty']) {
      const m = clientMsg(c, 'execute_request', { code: '1' });
      expect(refusal(m, anonymous, rules())).toMatch(/^unknown channel/);
      expect(refusalReplies('s', 'a', m, 'unknown')).toHaveLength(1);
    }
  });
});

describe('refusalReplies', () => {
  it('answers a request like a kernel would: busy, error output (execute only), error reply, idle', () => {
    const m = clientMsg('shell', 'execute_request', { code: '1' });
    const out = refusalReplies('kernel-session', 'a', m, 'no');
    expect(out.map((o) => `${o.channel}:${o.header.msg_type}`)).toEqual([
      'iopub:status',
      'iopub:error',
      'shell:execute_reply',
      'iopub:status',
    ]);
    for (const o of out) {
      expect(o).toMatchObject({
        target: 'a',
        origin: { sid: 'a', header: m.header },
        parent_header: m.header,
      });
      expect(o.header).toMatchObject({ session: 'kernel-session', username: 'runcell' });
    }
    expect(out[2]?.content).toEqual({
      status: 'error',
      ename: 'RuncellError',
      evalue: 'no',
      traceback: ['RuncellError: no'],
    });
    const inspect = refusalReplies('s', 'a', clientMsg('control', 'inspect_request'), 'no');
    expect(inspect.map((o) => `${o.channel}:${o.header.msg_type}`)).toEqual([
      'iopub:status',
      'control:inspect_reply',
      'iopub:status',
    ]);
  });

  it('answers anything else with one stderr notice', () => {
    for (const m of [clientMsg('stdin', 'input_reply'), clientMsg('bogus', 'execute_request')]) {
      const out = refusalReplies('s', 'a', m, 'because');
      expect(out).toHaveLength(1);
      expect(out[0]).toMatchObject({
        channel: 'iopub',
        target: 'a',
        content: { name: 'stderr', text: '[runcell] message refused: because\n' },
      });
    }
  });
});
