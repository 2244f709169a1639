// The hub over a fake kernel: no process, no sockets, no database. What clients see is read from the
// replay log the way the transports read it (since + view/frameFor/jsonFor).
import { afterEach, describe, expect, it, vi } from 'vitest';
import { type Header, KernelManagerError } from '../../../kernel-manager/index.js';
import { decodeV1, frameFor, jsonFor, V1_PROTOCOL, view } from '../../../server/bridge/framing.js';
import type { Hub } from '../../../server/bridge/hub.js';
import { MAX_QUEUED } from '../../../server/bridge/lifecycle.js';
import type { Outgoing } from '../../../server/bridge/outgoing.js';
import type { Sink } from '../../../server/bridge/sessions.js';
import { THROTTLE_MS } from '../../../server/bridge/throttle.js';
import { FILES_MIME } from '../../../server/bridge/workfiles.js';
import { RateLimiter } from '../../../server/limits.js';
import type { ExecuteBegin, ExecuteFinish, Recorder } from '../../../server/store/records.js';
import { anonymous, clientMsg, FakeKernel, fakeHub, tokenCaller } from './fake-kernel.js';

interface Seen {
  channel: string;
  header: Header;
  parent_header: Record<string, unknown>;
  content: Record<string, unknown>;
}

/** Everything `sid` can see from `after` on, as that client sees it. */
function seen(hub: Hub<FakeKernel>, sid: string, after = 0): Seen[] {
  return hub.since(sid, after).entries.map((e) => view(e.value, sid) as Seen);
}
const types = (hub: Hub<FakeKernel>, sid: string, after = 0) =>
  seen(hub, sid, after).map((m) => `${m.channel}:${(m.header as Header).msg_type}`);

class FakeSink implements Sink {
  wakes = 0;
  replacedBy = 0;
  gone: [string, number][] = [];
  direct: (o: Outgoing) => void = () => undefined;
  wake(): void {
    this.wakes++;
  }
  replaced(): void {
    this.replacedBy++;
  }
  kernelGone(reason: string, code: number): void {
    this.gone.push([reason, code]);
  }
}

afterEach(() => {
  vi.useRealTimers();
});

describe('hub: the server owns headers', () => {
  it('sends with its own msg_id, session, username and date, keeping only msg_type and version', () => {
    const { hub, kernel } = fakeHub();
    const a = hub.session('a', anonymous.ipKey).session;
    const m = clientMsg('shell', 'execute_request', { code: '1+1' });
    const before = Date.now();
    hub.fromClient('a', m, anonymous);
    const [sent] = kernel.sent;
    if (!sent) throw new Error('nothing sent');
    const h = sent.msg.header;
    expect(sent.channel).toBe('shell');
    expect(h.msg_id).not.toBe(m.header.msg_id);
    expect(h.session).toBe(a.serverSession);
    expect(h.session).not.toBe(m.header.session);
    expect(h.username).toBe('anonymous');
    expect(Date.parse(String(h.date))).toBeGreaterThanOrEqual(before - 1000);
    expect(h).toMatchObject({ msg_type: 'execute_request', version: '5.2' });
    // The client's parent_header is not the kernel's business; content and metadata are passed on.
    expect(sent.msg.parent_header).toEqual({});
    expect(sent.msg.content).toEqual({ code: '1+1' });
    expect(sent.msg.metadata).toEqual({ tag: 'm' });
  });

  it('names token callers runcell-token and gives each client session its own server session', () => {
    const { hub, kernel } = fakeHub();
    hub.fromClient('a', clientMsg('shell', 'kernel_info_request'), tokenCaller);
    hub.fromClient('b', clientMsg('shell', 'kernel_info_request'), tokenCaller);
    const [x, y] = kernel.sent.map((s) => s.msg.header);
    expect(x?.username).toBe('runcell-token');
    expect(x?.session).not.toBe(y?.session);
  });

  it("gives replies only to the asker, with the asker's own header as parent", () => {
    const { hub, kernel } = fakeHub();
    hub.session('b', anonymous.ipKey);
    const m = clientMsg('shell', 'execute_request', { code: 'print(1)' });
    hub.fromClient('a', m, anonymous);
    const server = kernel.last();
    kernel.status('busy', server);
    kernel.emitMessage('iopub', 'stream', { name: 'stdout', text: '1\n' }, server);
    kernel.emitMessage('shell', 'execute_reply', { status: 'ok' }, server);
    kernel.status('idle', server);
    expect(types(hub, 'a')).toEqual(['iopub:status', 'iopub:stream', 'shell:execute_reply', 'iopub:status']);
    expect(types(hub, 'b')).toEqual(['iopub:status', 'iopub:stream', 'iopub:status']);
    for (const v of seen(hub, 'a')) expect(v.parent_header).toEqual(m.header);
    for (const v of seen(hub, 'b')) expect((v.parent_header as Header).msg_id).toBe(server.msg_id);
  });

  it('drops replies to requests no client made (the manager’s own kernel_info)', () => {
    const { hub, kernel } = fakeHub();
    kernel.emitMessage('shell', 'kernel_info_reply', { status: 'ok' }, { msg_id: 'manager-request' });
    expect(hub.log.lastSeq).toBe(0);
  });
});

describe('hub: refusals and their synthetic replies', () => {
  it('refuses control messages with an error reply between busy and idle, for the sender only', () => {
    const { hub, kernel } = fakeHub();
    hub.session('b', anonymous.ipKey);
    const m = clientMsg('control', 'shutdown_request', { restart: false });
    hub.fromClient('a', m, anonymous);
    expect(kernel.sent).toEqual([]);
    const out = seen(hub, 'a');
    expect(out.map((o) => `${o.channel}:${(o.header as Header).msg_type}`)).toEqual([
      'iopub:status',
      'control:shutdown_reply',
      'iopub:status',
    ]);
    expect(out.map((o) => (o.content as { execution_state?: string }).execution_state)).toEqual([
      'busy',
      undefined,
      'idle',
    ]);
    expect(out[1]?.content).toMatchObject({ status: 'error', ename: 'RuncellError' });
    expect(String(out[1]?.content.evalue)).toMatch(/through the REST API/);
    for (const o of out) {
      expect(o.parent_header).toEqual(m.header);
      // Server-made messages carry the kernel's session, so clients take them as current.
      expect((o.header as Header).session).toBe(kernel.session);
    }
    expect(seen(hub, 'b')).toEqual([]);
  });

  it('adds an error output for a refused execute_request', () => {
    const { hub } = fakeHub({ config: { maxCodeBytes: 10 } });
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: 'x'.repeat(11) }), anonymous);
    expect(types(hub, 'a')).toEqual(['iopub:status', 'iopub:error', 'shell:execute_reply', 'iopub:status']);
    expect(seen(hub, 'a')[1]?.content).toMatchObject({ evalue: 'code is larger than 10 bytes' });
  });

  it.each([
    ['an unknown channel', clientMsg('nope', 'execute_request', { code: '1' }), /unknown channel "nope"/],
    [
      'a non-request on a channel that forbids it',
      clientMsg('stdin', 'comm_msg'),
      /not allowed on the stdin/,
    ],
    [
      'an inherited name as channel',
      clientMsg('toString', 'execute_request', { code: '1' }),
      /unknown channel/,
    ],
  ])('answers %s with a stderr notice', (_what, m, why) => {
    const { hub, kernel } = fakeHub();
    hub.fromClient('a', m, anonymous);
    expect(kernel.sent).toEqual([]);
    const [n, ...rest] = seen(hub, 'a');
    expect(rest).toEqual([]);
    expect(n?.header).toMatchObject({ msg_type: 'stream' });
    expect(n?.content).toMatchObject({ name: 'stderr' });
    expect(String(n?.content.text)).toMatch(why);
  });

  it('holds anonymous callers, not token holders, to the execution rate', () => {
    const executions = new RateLimiter(1, () => 0);
    const { hub, kernel } = fakeHub({ executions });
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: '1' }), anonymous);
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: '2' }), anonymous);
    hub.fromClient('t', clientMsg('shell', 'execute_request', { code: '3' }), tokenCaller);
    // Other requests cost nothing.
    hub.fromClient('a', clientMsg('shell', 'complete_request', { code: 'x', cursor_pos: 1 }), anonymous);
    expect(kernel.sent.map((s) => `${s.msg.header.msg_type} ${s.msg.content.code}`)).toEqual([
      'execute_request 1',
      'execute_request 3',
      'complete_request x',
    ]);
    expect(seen(hub, 'a', 0).some((o) => /too many executions/.test(String(o.content.evalue)))).toBe(true);
  });

  it('spends an execution token only on an execution the kernel takes (issue 18, point 9)', () => {
    // One token for the address, shared by every kernel as on the server. Each refusal below must leave
    // it unspent, so the last execution, on a live kernel, still runs.
    const executions = new RateLimiter(1, () => 0);
    const exec = (code: string) => clientMsg('shell', 'execute_request', { code });
    const dead = fakeHub({ executions });
    dead.kernel.die('out of memory');
    dead.hub.fromClient('a', exec('on a dead kernel'), anonymous);
    const full = fakeHub({ executions });
    full.kernel.restarting();
    for (let i = 0; i < MAX_QUEUED; i++)
      full.hub.fromClient('a', clientMsg('shell', 'kernel_info_request'), anonymous);
    full.hub.fromClient('a', exec('past a full restart queue'), anonymous);
    const dying = fakeHub({ executions });
    dying.kernel.restarting();
    dying.hub.fromClient('a', exec('queued, then the kernel died'), anonymous);
    dying.kernel.die('crashed');
    const gone = fakeHub({ executions });
    gone.kernel.failNextSend = new Error('socket closed');
    gone.hub.fromClient('a', exec('the send failed'), anonymous);
    const refusals = [dead, full, dying, gone].map(({ hub }) =>
      seen(hub, 'a')
        .filter((o) => o.channel === 'shell')
        .map((o) => o.content.evalue),
    );
    expect(refusals).toEqual([
      ['the kernel is dead: out of memory'],
      ['the kernel is restarting'],
      ['the kernel is dead: crashed'],
      ['the kernel is not running'],
    ]);
    const live = fakeHub({ executions });
    live.hub.fromClient('a', exec('runs'), anonymous);
    expect(live.kernel.sent.map((s) => s.msg.content.code)).toEqual(['runs']);
    live.hub.fromClient('a', exec('over the rate'), anonymous);
    expect(live.kernel.sent).toHaveLength(1);
  });

  it('refuses with the reason when the kernel cannot take the message', () => {
    const { hub, kernel } = fakeHub();
    kernel.failNextSend = new KernelManagerError('BUSY', 'the kernel is not reading its input');
    hub.fromClient('a', clientMsg('shell', 'kernel_info_request'), anonymous);
    kernel.failNextSend = new Error('socket closed');
    hub.fromClient('a', clientMsg('shell', 'kernel_info_request'), anonymous);
    const replies = seen(hub, 'a').filter((o) => o.channel === 'shell');
    expect(replies.map((o) => o.content.evalue)).toEqual([
      'the kernel is not reading its input',
      'the kernel is not running',
    ]);
  });
});

describe('hub: input_reply only while an input_request is pending', () => {
  it('lets only the asked session answer, once, with the input_request as parent', () => {
    const { hub, kernel } = fakeHub();
    hub.fromClient('a', clientMsg('stdin', 'input_reply', { value: 'early' }), anonymous);
    expect(kernel.sent).toEqual([]);
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: 'input()' }), anonymous);
    const request = kernel.emitMessage('stdin', 'input_request', { prompt: '? ' }, kernel.last());
    expect(types(hub, 'b')).toEqual([]);
    hub.fromClient('b', clientMsg('stdin', 'input_reply', { value: 'mallory' }), anonymous);
    hub.fromClient('a', clientMsg('stdin', 'input_reply', { value: 'alice' }), anonymous);
    hub.fromClient('a', clientMsg('stdin', 'input_reply', { value: 'again' }), anonymous);
    const replies = kernel.sent.filter((s) => s.channel === 'stdin');
    expect(replies.map((s) => s.msg.content.value)).toEqual(['alice']);
    expect(replies[0]?.msg.parent_header).toEqual(request.header);
    const refusals = (sid: string) =>
      seen(hub, sid).filter((o) => /input_reply without a pending/.test(String(o.content.text)));
    expect(refusals('a')).toHaveLength(2);
    expect(refusals('b')).toHaveLength(1);
  });
});

describe('hub: sessions and replay', () => {
  it('starts a new session at the head of the log and replays from a cursor on reconnect', () => {
    const { hub, kernel } = fakeHub();
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: '1' }), anonymous);
    const server = kernel.last();
    kernel.status('busy', server);
    const { session: late, created } = hub.session('late', anonymous.ipKey);
    expect(created).toBe(true);
    expect(late.acked).toBe(hub.log.lastSeq);
    expect(hub.session('late', anonymous.ipKey).created).toBe(false);

    const sink = new FakeSink();
    const a = hub.attach('a', anonymous.ipKey, sink);
    kernel.emitMessage('shell', 'execute_reply', { status: 'ok' }, server);
    kernel.status('idle', server);
    expect(sink.wakes).toBe(2);
    hub.detach(a, sink);
    // A reconnect from the second entry gets what followed, replies to others left out.
    hub.fromClient('other', clientMsg('shell', 'kernel_info_request'), anonymous);
    kernel.emitMessage('shell', 'kernel_info_reply', { status: 'ok' }, kernel.last());
    const r = hub.since('a', 1);
    expect(r.lost).toBe(0);
    expect(r.entries.map((e) => e.seq)).toEqual([2, 3]);
    expect(r.next).toBe(hub.log.lastSeq);
  });

  it('tells a session that fell behind the log how much it lost', () => {
    const { hub, kernel } = fakeHub({ config: { replayMessages: 3 } });
    for (let i = 0; i < 5; i++) kernel.status('busy', {});
    expect(hub.since('a', 0)).toMatchObject({ lost: 2, next: 5 });
    expect(hub.since('a', 0).entries.map((e) => e.seq)).toEqual([3, 4, 5]);
  });

  it('replaces a stale socket of the same session and counts connections', () => {
    const { hub } = fakeHub();
    const old = new FakeSink();
    const fresh = new FakeSink();
    const s = hub.attach('a', '198.51.100.7', old);
    hub.attach('a', '198.51.100.7', fresh);
    expect(old.replacedBy).toBe(1);
    expect(fresh.replacedBy).toBe(0);
    expect(hub.connections).toBe(1);
    expect(hub.visibleTo('198.51.100.7')).toBe(true);
    // The old socket's close does not detach the new one.
    hub.detach(s, old);
    expect(hub.connections).toBe(1);
    hub.detach(s, fresh);
    expect(hub.connections).toBe(0);
    expect(hub.visibleTo('198.51.100.7')).toBe(false);
    expect(hub.visibleTo(anonymous.ipKey)).toBe(true);
    const left = hub.pollerEntered();
    expect(hub.connections).toBe(1);
    left();
    left();
    expect(hub.connections).toBe(0);
  });

  it('wakes a waiting long-poll when an entry is appended', async () => {
    const { hub, kernel } = fakeHub();
    const waiting = hub.waitForEntries(60_000);
    kernel.status('busy', {});
    await waiting;
    expect(hub.log.lastSeq).toBe(1);
  });
});

describe('hub: output throttling', () => {
  it('drops a flood with notices, throttles the kernel, and lifts it at idle or after a while', () => {
    vi.useFakeTimers({ now: 1_000_000 });
    const onDrop = vi.fn();
    // 10 messages/s averaged over 3 s: 30 pass, then output is dropped.
    const { hub, kernel } = fakeHub({
      config: { iopubMsgRate: 10, iopubRateWindowMs: 3_000 },
      onDrop,
    });
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: 'flood()' }), anonymous);
    const server = kernel.last();
    kernel.status('busy', server);
    for (let i = 0; i < 100; i++)
      kernel.emitMessage('iopub', 'stream', { name: 'stdout', text: `${i}\n` }, server);
    const text = seen(hub, 'a').filter((o) => o.content.name === 'stdout');
    expect(text).toHaveLength(30);
    expect(onDrop).toHaveBeenCalledTimes(70);
    const notices = () =>
      seen(hub, 'a')
        .filter((o) => o.content.name === 'stderr')
        .map((o) => String(o.content.text));
    expect(notices()).toEqual([expect.stringMatching(/Output message rate \(10 messages\/s\) exceeded/)]);
    expect(kernel.throttled).toEqual([true]);
    vi.advanceTimersByTime(THROTTLE_MS);
    expect(kernel.throttled).toEqual([true, false]);
    // Output is received again; a flood that goes on is throttled again at once.
    kernel.emitMessage('iopub', 'stream', { name: 'stdout', text: 'more\n' }, server);
    expect(kernel.throttled).toEqual([true, false, true]);
    expect(onDrop).toHaveBeenCalledTimes(71);
    // Exempt types still pass while output is dropped.
    kernel.emitMessage('iopub', 'error', { ename: 'E', evalue: '', traceback: [] }, server);
    kernel.status('idle', server);
    expect(kernel.throttled).toEqual([true, false, true, false]);
    expect(notices()).toHaveLength(2);
    expect(notices()[1]).toMatch(/71 output message\(s\) were dropped in total/);
    expect(types(hub, 'a').slice(-3)).toEqual(['iopub:error', 'iopub:stream', 'iopub:status']);
  });
});

describe('hub: restarts', () => {
  it('queues client messages while restarting and sends them once it completes', () => {
    const { hub, kernel } = fakeHub();
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: 'before' }), anonymous);
    const before = kernel.last();
    kernel.restarting();
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: 'queued' }), anonymous);
    expect(kernel.sent).toHaveLength(1);
    kernel.restarted();
    expect(kernel.sent.map((s) => s.msg.content.code)).toEqual(['before', 'queued']);
    const restarting = seen(hub, 'a').find((o) => o.content.execution_state === 'restarting');
    expect(restarting?.header).toMatchObject({ session: kernel.session, msg_type: 'status' });
    // Replies to requests from before the restart reach no client.
    kernel.emitMessage('shell', 'execute_reply', { status: 'ok' }, before);
    expect(types(hub, 'a')).not.toContain('shell:execute_reply');
  });

  it(`refuses beyond ${MAX_QUEUED} queued messages`, () => {
    const { hub, kernel } = fakeHub();
    kernel.restarting();
    for (let i = 0; i <= MAX_QUEUED; i++)
      hub.fromClient('a', clientMsg('shell', 'kernel_info_request'), anonymous);
    const refused = seen(hub, 'a').filter((o) => o.content.evalue === 'the kernel is restarting');
    expect(refused).toHaveLength(1);
    kernel.restarted();
    expect(kernel.sent).toHaveLength(MAX_QUEUED);
  });
});

describe('hub: death', () => {
  it('tells every client, refuses what was queued and whatever comes after', async () => {
    const { hub, kernel } = fakeHub();
    const a = new FakeSink();
    const b = new FakeSink();
    hub.attach('a', anonymous.ipKey, a);
    hub.attach('b', anonymous.ipKey, b);
    const waiting = hub.waitForEntries(60_000);
    kernel.restarting();
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: 'queued' }), anonymous);
    kernel.die('out of memory');
    await waiting;
    expect(a.gone).toEqual([['kernel dead: out of memory', 1000]]);
    expect(b.gone).toEqual([['kernel dead: out of memory', 1000]]);
    expect(hub.dead?.reason).toBe('out of memory');
    expect(hub.model()).toMatchObject({ execution_state: 'dead', reason: 'out of memory', connections: 2 });
    const dead = seen(hub, 'b').at(-1);
    expect(dead?.content).toEqual({ execution_state: 'dead', reason: 'out of memory' });
    expect(seen(hub, 'a').some((o) => o.content.evalue === 'the kernel is dead: out of memory')).toBe(true);
    const seq = hub.log.lastSeq;
    hub.fromClient('b', clientMsg('shell', 'kernel_info_request'), anonymous);
    expect(kernel.sent).toEqual([]);
    expect(seen(hub, 'b', seq).find((o) => o.channel === 'shell')?.content.evalue).toBe(
      'the kernel is dead: out of memory',
    );
    // The hub no longer listens, and long-polls do not wait on a dead kernel.
    expect(kernel.listenerCount('message')).toBe(0);
    await hub.waitForEntries(60_000);
  });

  it('a kernel shut down for going unused tells its clients how long, so a run can start a new one', () => {
    const { hub, kernel } = fakeHub();
    hub.attach('a', anonymous.ipKey, new FakeSink());
    kernel.emit('limit', { kind: 'idle', message: 'kernel idle for 600 s, shut down', afterMs: 600_000 });
    kernel.die('kernel idle for 600 s, shut down');
    expect(seen(hub, 'a').at(-1)?.content).toEqual({
      execution_state: 'dead',
      reason: 'kernel idle for 600 s, shut down',
      idle_ms: 600_000,
    });
  });

  it('is dead from the start over a kernel that already died', () => {
    const kernel = new FakeKernel();
    kernel.die('crashed');
    const { hub } = fakeHub({}, kernel);
    expect(hub.dead?.reason).toBe('crashed');
    expect(seen(hub, 'a').map((o) => o.content)).toEqual([{ execution_state: 'dead', reason: 'crashed' }]);
    expect(kernel.listenerCount('message')).toBe(0);
  });

  it('on dispose tells every client with the given close code', () => {
    const { hub, kernel } = fakeHub();
    const a = new FakeSink();
    hub.attach('a', anonymous.ipKey, a);
    hub.dispose('the server is stopping', 1001);
    expect(a.gone).toEqual([['the server is stopping', 1001]]);
    expect(hub.connections).toBe(0);
    expect(kernel.listenerCount('dead')).toBe(0);
  });
});

describe('hub: per-client encoding', () => {
  it('encodes each client its own view, as JSON or the v1 binary framing, once per variant', () => {
    const { hub, kernel } = fakeHub();
    const m = clientMsg('shell', 'execute_request', { code: '1' });
    hub.fromClient('a', m, anonymous);
    const server = kernel.last();
    kernel.emitMessage('iopub', 'display_data', { data: {} }, server, [Buffer.from([1, 2, 3])]);
    kernel.status('idle', server);
    const [display, idle] = hub.since('a', 0).entries;
    if (!display || !idle) throw new Error('missing entries');
    const legacy = frameFor(idle.value, 'a', '');
    expect(typeof legacy).toBe('string');
    expect(JSON.parse(legacy as string)).toMatchObject({
      channel: 'iopub',
      parent_header: m.header,
      buffers: [],
    });
    const v1 = frameFor(idle.value, 'b', V1_PROTOCOL);
    expect(Buffer.isBuffer(v1)).toBe(true);
    const decoded = decodeV1(v1 as Buffer);
    expect(decoded.channel).toBe('iopub');
    expect(decoded.parent_header.msg_id).toBe(server.msg_id);
    // Binary buffers ride in the v1 frame; the legacy framing turns binary when there are buffers.
    expect(decodeV1(frameFor(display.value, 'a', V1_PROTOCOL) as Buffer).buffers).toEqual([
      Buffer.from([1, 2, 3]),
    ]);
    expect(Buffer.isBuffer(frameFor(display.value, 'a', ''))).toBe(true);
    // Cached: the same object for the same variant.
    expect(frameFor(idle.value, 'c', V1_PROTOCOL)).toBe(v1);
    const json = JSON.parse(jsonFor(display, 'a'));
    expect(json).toMatchObject({ seq: display.seq, parent_header: m.header, buffers: ['AQID'] });
    expect(JSON.parse(jsonFor(display, 'b')).parent_header.msg_id).toBe(server.msg_id);
  });
});

describe('hub: recording and the work-file hold', () => {
  it('records an execute_request from send to reply and idle', () => {
    const begun: ExecuteBegin[] = [];
    const finished: [string, ExecuteFinish][] = [];
    const recorder: Recorder = {
      begin: (e) => {
        begun.push(e);
        return `r${begun.length}`;
      },
      finish: (id, r) => {
        finished.push([id, r]);
      },
      flush: async () => undefined,
      stats: () => ({ pending: 0, written: 0, dropped: 0, failedFlushes: 0 }),
      close: async () => undefined,
    };
    const { hub, kernel } = fakeHub({ recorder });
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: 'print(2)' }), anonymous);
    hub.fromClient('a', clientMsg('shell', 'kernel_info_request'), anonymous);
    expect(begun).toHaveLength(1);
    expect(begun[0]).toMatchObject({
      kernelSpec: 'python3',
      transport: 'websocket',
      clientAddress: anonymous.ipKey,
    });
    const server = kernel.sent[0]?.header as Header;
    expect(begun[0]?.message.header.msg_id).toBe(server.msg_id);
    kernel.emitMessage('shell', 'execute_reply', { status: 'ok' }, server);
    expect(finished).toEqual([]);
    kernel.status('idle', server);
    expect(finished).toEqual([['r1', expect.objectContaining({ status: 'ok' })]]);
  });

  it('announces the files an execution wrote before its idle status, holding what follows in order', async () => {
    const put = vi.fn(async (f: { name: string; mediaType: string; data: Buffer }) => ({
      id: `id-${f.name}`,
      name: f.name,
      size: f.data.length,
      mediaType: f.mediaType,
    }));
    const { hub, kernel } = fakeHub({
      workFiles: { store: { files: { put } } as never, limits: { maxFiles: 10, maxFileBytes: 100 } },
    });
    kernel.dir.set('before.txt', { data: Buffer.from('old'), mtimeMs: 1 });
    hub.workFilesChanged();
    hub.fromClient('a', clientMsg('shell', 'execute_request', { code: 'write()' }), anonymous);
    const server = kernel.last();
    kernel.dir.set('out.csv', { data: Buffer.from('a,b\n'), mtimeMs: 2 });
    kernel.dir.set('big.bin', { data: Buffer.alloc(101), mtimeMs: 2 });
    kernel.status('idle', server);
    kernel.status('busy', { msg_id: 'next' });
    // Held until the files are stored.
    expect(types(hub, 'a')).toEqual([]);
    // Storing resolves in microtasks: they have all run by the next macrotask.
    await new Promise((r) => setImmediate(r));
    const out = seen(hub, 'a');
    expect(out.map((o) => (o.header as Header).msg_type)).toEqual(['display_data', 'status', 'status']);
    expect(out.map((o) => o.content.execution_state)).toEqual([undefined, 'idle', 'busy']);
    const data = out[0]?.content.data as Record<string, { files: { name: string }[]; skipped: unknown[] }>;
    const files = data[FILES_MIME];
    expect(files?.files.map((f) => f.name)).toEqual(['out.csv']);
    expect(files?.skipped).toEqual([{ name: 'big.bin', reason: 'larger than 100 bytes' }]);
    expect(put).toHaveBeenCalledTimes(1);
  });
});
