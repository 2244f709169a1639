// The long-poll transport without a server: parseMessages on POST bodies, and poll() answering a GET
// from a hub over a fake kernel. The real-server suite is longpoll.test.ts.
import { describe, expect, it } from 'vitest';
import { parseMessages, poll } from '../../../server/bridge/longpoll.js';
import { anonymous, clientMsg, fakeHub } from './fake-kernel.js';

describe('parseMessages', () => {
  const m = () => clientMsg('shell', 'kernel_info_request');

  it('takes one message, an array, or {messages: [...]}, with base64 buffers', () => {
    expect(parseMessages(m())).toHaveLength(1);
    expect(parseMessages([m(), m()])).toHaveLength(2);
    const [x] = parseMessages({ messages: [{ ...m(), buffers: ['AQID'] }] });
    expect(x?.buffers).toEqual([Buffer.from([1, 2, 3])]);
  });

  it('refuses empty bodies, too many messages, bad buffers and bad messages, naming which', () => {
    expect(() => parseMessages([])).toThrow(/send a message/);
    expect(() => parseMessages('text')).toThrow(/send a message/);
    expect(() => parseMessages(Array.from({ length: 101 }, m))).toThrow(/at most 100 messages/);
    expect(() => parseMessages([m(), { ...m(), buffers: [1] }])).toThrow(/^message 1: buffers must be/);
    expect(() => parseMessages([{ channel: 'shell' }])).toThrow(/^message 0: invalid message/);
  });
});

describe('poll', () => {
  const opts = (over: Partial<Parameters<typeof poll>[2]> = {}) => ({
    after: undefined,
    holdMs: 60_000,
    max: 100,
    signal: new AbortController().signal,
    draining: () => false,
    ...over,
  });
  const parse = (r: { body: string }) =>
    JSON.parse(r.body) as {
      messages: { seq: number; channel: string; content: Record<string, unknown> }[];
      next: number;
      lost: number;
      more: boolean;
      dead?: string;
    };

  it('answers at once with what follows the cursor, and moves the session on', async () => {
    const { hub, kernel } = fakeHub();
    const { session } = hub.session('a', anonymous.ipKey);
    for (let i = 0; i < 3; i++) kernel.status('busy', {});
    const r = parse(await poll(hub, session, opts({ after: 1, max: 1 })));
    expect(r.messages.map((x) => x.seq)).toEqual([2]);
    expect(r).toMatchObject({ next: 2, lost: 0, more: true });
    expect(session.acked).toBe(1);
    // Without a cursor, from what the session was known to have.
    const again = parse(await poll(hub, session, opts()));
    expect(again.messages.map((x) => x.seq)).toEqual([2, 3]);
  });

  it('waits for the next entry visible to the session', async () => {
    const { hub, kernel } = fakeHub();
    const { session } = hub.session('a', anonymous.ipKey);
    const pending = poll(hub, session, opts());
    // A reply to another session does not end the wait; output does.
    hub.fromClient('b', clientMsg('shell', 'kernel_info_request'), anonymous);
    kernel.emitMessage('shell', 'kernel_info_reply', { status: 'ok' }, kernel.last());
    await new Promise((r) => setImmediate(r));
    kernel.emitMessage('iopub', 'stream', { name: 'stdout', text: 'hi' }, {});
    const r = parse(await pending);
    expect(r.messages.map((x) => x.content.text)).toEqual(['hi']);
    expect(r.next).toBe(2);
  });

  it('answers empty when the client leaves, the server drains, or the hold ends', async () => {
    const { hub } = fakeHub();
    const { session } = hub.session('a', anonymous.ipKey);
    const abort = new AbortController();
    const left = poll(hub, session, opts({ signal: abort.signal }));
    abort.abort();
    expect(parse(await left).messages).toEqual([]);
    expect(parse(await poll(hub, session, opts({ draining: () => true }))).messages).toEqual([]);
    expect(parse(await poll(hub, session, opts({ holdMs: 0 })))).toEqual({
      messages: [],
      next: 0,
      lost: 0,
      more: false,
    });
  });

  it('reports lost entries and, once caught up, that the kernel is dead', async () => {
    const { hub, kernel } = fakeHub({ config: { replayMessages: 2 } });
    const { session } = hub.session('a', anonymous.ipKey);
    for (let i = 0; i < 3; i++) kernel.status('busy', {});
    kernel.die('killed');
    const r = await poll(hub, session, opts({ after: 0, max: 1 }));
    expect(r.lost).toBe(2);
    expect(parse(r)).toMatchObject({ lost: 2, more: true });
    expect(parse(r).dead).toBeUndefined();
    const last = parse(await poll(hub, session, opts({ after: 3 })));
    expect(last.messages.map((x) => x.content.execution_state)).toEqual(['dead']);
    expect(last.dead).toBe('killed');
  });
});
