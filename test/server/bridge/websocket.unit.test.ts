// The websocket transport without a socket: SocketSink delivering a session's share of the replay log
// to a fake socket (replay from the session's cursor, lost-message notices, back-pressure, closing),
// and receiveFrame routing what a client sends. The real-socket suite is websocket.test.ts.
import pino from 'pino';
import { describe, expect, it } from 'vitest';
import { decodeV1, encodeV1, V1_PROTOCOL } from '../../../server/bridge/framing.js';
import type { Outgoing } from '../../../server/bridge/outgoing.js';
import {
  onSocketError,
  receiveFrame,
  type SinkSocket,
  SocketSink,
  selectProtocol,
} from '../../../server/bridge/websocket.js';
import { anonymous, clientMsg, fakeHub } from './fake-kernel.js';

class FakeSocket implements SinkSocket {
  readonly OPEN = 1;
  readyState = 1;
  readonly frames: (string | Buffer)[] = [];
  /** Send callbacks not yet called: the bytes still in flight. */
  readonly inFlight: (() => void)[] = [];
  closed: [number | undefined, string | undefined] | undefined;

  send(data: string | Buffer, _options: { binary: boolean }, cb?: (err?: Error) => void): void {
    this.frames.push(data);
    this.inFlight.push(() => cb?.());
  }
  close(code?: number, reason?: string): void {
    this.closed = [code, reason];
  }
  /** The socket drains `n` frames (all by default). */
  drain(n = this.inFlight.length): void {
    for (const cb of this.inFlight.splice(0, n)) cb();
  }
  json(): { header: { msg_type: string }; content: Record<string, unknown> }[] {
    return this.frames.map((f) => JSON.parse(String(f)));
  }
}

function setup(opts: { cap?: number; replayMessages?: number; protocol?: '' | typeof V1_PROTOCOL } = {}) {
  const { hub, kernel } = fakeHub({ config: { replayMessages: opts.replayMessages ?? 1_000 } });
  const ws = new FakeSocket();
  const { session } = hub.session('a', anonymous.ipKey);
  const lost: number[] = [];
  const sink = new SocketSink(ws, hub, session, opts.protocol ?? '', opts.cap ?? 1 << 20, (n) =>
    lost.push(n),
  );
  return { hub, kernel, ws, session, sink, lost };
}

describe('SocketSink', () => {
  it('sends what the session may see, in order, and counts it delivered once written', () => {
    const { hub, kernel, ws, session, sink } = setup();
    hub.attach('a', anonymous.ipKey, sink);
    hub.fromClient('a', clientMsg('shell', 'kernel_info_request'), anonymous);
    kernel.emitMessage('shell', 'kernel_info_reply', { status: 'ok' }, kernel.last());
    hub.fromClient('b', clientMsg('shell', 'kernel_info_request'), anonymous);
    kernel.emitMessage('shell', 'kernel_info_reply', { status: 'ok' }, kernel.last());
    kernel.status('idle', {});
    expect(ws.json().map((m) => m.header.msg_type)).toEqual(['kernel_info_reply', 'status']);
    expect(session.acked).toBe(0);
    ws.drain();
    expect(session.acked).toBe(3);
  });

  it('replays to a reconnecting session from where its last socket stopped', () => {
    const { hub, kernel, ws, session, sink } = setup();
    hub.attach('a', anonymous.ipKey, sink);
    kernel.status('busy', {});
    ws.drain();
    hub.detach(session, sink);
    kernel.status('idle', {});
    kernel.status('busy', {});
    const again = new FakeSocket();
    const next = new SocketSink(again, hub, session, '', 1 << 20, () => undefined);
    hub.attach('a', anonymous.ipKey, next);
    next.wake();
    expect(again.json().map((m) => m.content.execution_state)).toEqual(['idle', 'busy']);
  });

  it('tells a session that fell behind the log how much it lost, on this connection only', () => {
    const { hub, kernel, ws, sink, lost } = setup({ replayMessages: 2 });
    for (let i = 0; i < 5; i++) kernel.status('busy', {});
    const seq = hub.log.lastSeq;
    sink.wake();
    expect(lost).toEqual([3]);
    const [notice, ...rest] = ws.json();
    expect(notice?.content.text).toMatch(/^\[runcell\] 3 message\(s\) from the kernel were lost/);
    expect(rest).toHaveLength(2);
    expect(hub.log.lastSeq).toBe(seq);
  });

  it('pauses past its cap of bytes in flight and resumes when the socket drains', () => {
    const { hub, kernel, ws, sink } = setup({ cap: 300 });
    hub.attach('a', anonymous.ipKey, sink);
    for (let i = 0; i < 10; i++)
      kernel.emitMessage('iopub', 'stream', { name: 'stdout', text: 'x'.repeat(100) }, {});
    const first = ws.frames.length;
    expect(first).toBe(1);
    ws.drain();
    expect(ws.frames.length).toBeGreaterThan(first);
    while (ws.inFlight.length > 0) ws.drain();
    expect(ws.json().map((m) => m.content.text)).toEqual(Array(10).fill('x'.repeat(100)));
  });

  it('encodes for its protocol', () => {
    const { hub, kernel, ws, sink } = setup({ protocol: V1_PROTOCOL });
    hub.attach('a', anonymous.ipKey, sink);
    kernel.status('idle', {});
    const [frame] = ws.frames;
    expect(Buffer.isBuffer(frame)).toBe(true);
    expect(decodeV1(frame as Buffer).content).toEqual({ execution_state: 'idle' });
  });

  it('closes once what is queued is written when the kernel is gone, with a short reason', () => {
    const { hub, kernel, ws, sink } = setup();
    hub.attach('a', anonymous.ipKey, sink);
    kernel.die('é'.repeat(100));
    expect(ws.closed).toBeUndefined();
    ws.drain();
    expect(ws.closed?.[0]).toBe(1000);
    const reason = ws.closed?.[1] ?? '';
    expect(Buffer.byteLength(reason)).toBeLessThanOrEqual(123);
    expect(reason).toMatch(/^kernel dead: é+$/);
    expect(ws.json().at(-1)?.content.execution_state).toBe('dead');
  });

  it('closes at once when replaced by a newer connection', () => {
    const { hub, ws, sink } = setup();
    hub.attach('a', anonymous.ipKey, sink);
    hub.attach(
      'a',
      anonymous.ipKey,
      new SocketSink(new FakeSocket(), hub, sink.session, '', 1, () => undefined),
    );
    expect(ws.closed).toEqual([1000, 'replaced by a newer connection with the same session id']);
  });
});

describe('receiveFrame', () => {
  const log = pino({ level: 'silent' });

  function connect(protocol: '' | typeof V1_PROTOCOL = '') {
    const { hub, kernel } = fakeHub();
    const direct: Outgoing[] = [];
    const conn = { sid: 'a', caller: anonymous, protocol, log };
    return { hub, kernel, direct, sink: { direct: (o: Outgoing) => direct.push(o) }, conn };
  }

  it('routes a decoded message through the hub', () => {
    const { hub, kernel, sink, conn } = connect(V1_PROTOCOL);
    const m = clientMsg('shell', 'execute_request', { code: '1' });
    receiveFrame(hub, sink, conn, encodeV1(m), true);
    expect(kernel.sent.map((s) => s.msg.content)).toEqual([{ code: '1' }]);
  });

  it('answers what cannot be read with a notice on this connection, and keeps going', () => {
    const { hub, kernel, direct, sink, conn } = connect();
    receiveFrame(hub, sink, conn, Buffer.from('{not json'), false);
    receiveFrame(hub, sink, conn, Buffer.from(JSON.stringify({ channel: 'shell' })), false);
    expect(direct.map((o) => o.content.text)).toEqual([
      '[runcell] message refused: the message is not valid JSON\n',
      expect.stringMatching(/^\[runcell\] message refused: invalid message/),
    ]);
    expect(hub.log.lastSeq).toBe(0);
    receiveFrame(
      hub,
      sink,
      conn,
      Buffer.from(JSON.stringify(clientMsg('shell', 'kernel_info_request'))),
      false,
    );
    expect(kernel.sent).toHaveLength(1);
  });

  it('refuses text frames on the v1 protocol', () => {
    const { hub, direct, sink, conn } = connect(V1_PROTOCOL);
    receiveFrame(
      hub,
      sink,
      conn,
      Buffer.from(JSON.stringify(clientMsg('shell', 'kernel_info_request'))),
      false,
    );
    expect(String(direct[0]?.content.text)).toMatch(/takes binary frames only/);
  });
});

describe('framing choice and socket errors', () => {
  it('RUNCELL_KERNEL_WS_PROTOCOL: any picks v1 when offered, legacy never does', () => {
    const both = new Set([V1_PROTOCOL, 'other']);
    expect(selectProtocol(both, 'any')).toBe(V1_PROTOCOL);
    expect(selectProtocol(new Set(['other']), 'any')).toBe(false);
    expect(selectProtocol(both, 'legacy')).toBe(false);
    expect(selectProtocol(both, 'v1')).toBe(V1_PROTOCOL);
  });

  it("a client's protocol error (invalid UTF-8 in a text frame) is a warning; ws closes it with its code", () => {
    const logged: [string, unknown][] = [];
    const log = {
      warn: (o: unknown) => logged.push(['warn', o]),
      error: (o: unknown) => logged.push(['error', o]),
    };
    let terminated = 0;
    const socket = { terminate: () => terminated++ };
    const utf8 = Object.assign(new Error('invalid UTF-8 sequence'), { code: 'WS_ERR_INVALID_UTF8' });
    onSocketError(utf8, socket, log as never);
    expect(logged.map(([level]) => level)).toEqual(['warn']);
    expect(terminated).toBe(0);
    onSocketError(new Error('something of ours'), socket, log as never);
    expect(logged.map(([level]) => level)).toEqual(['warn', 'error']);
    expect(terminated).toBe(1);
  });
});
