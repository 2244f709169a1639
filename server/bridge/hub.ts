// One hub per kernel: the only place where messages between clients and a kernel are routed.
//  - Client -> kernel: the server owns headers (fresh msg_id, per-client session, username, date), so
//    it keeps a bounded map from its msg_id back to the client and the client's own header.
//  - Kernel -> clients: every message becomes a sequence-numbered entry of the replay log; iopub is
//    visible to every client, shell/stdin/control replies only to the client that asked. Delivering to
//    the asking client restores its own header as parent_header (clients match replies by it).
//  - Output rate limits per execution, with a visible notice; status 'restarting' and 'dead' as
//    Jupyter Server sends them; a limit breach explained to the user on stderr.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import type { ChannelMessage, Header, JsonObject, Kernel } from '../../kernel-manager/index.js';
import { KernelManagerError, PROTOCOL_VERSION } from '../../kernel-manager/index.js';
import type { Caller } from '../auth.js';
import type { ServerConfig } from '../config.js';
import { OutputRateLimiter, type RateLimiter } from '../limits.js';
import type { Store } from '../store/db.js';
import type { Recorder, Transport } from '../store/records.js';
import { encodeFrame, type OutMessage, type Protocol, V1_PROTOCOL, type WireMessage } from './framing.js';
import { ExecutionRecord } from './recording.js';
import { type LogEntry, ReplayLog, type Since } from './replay.js';
import { filesDisplay, type WorkFileLimits, WorkFileWatcher } from './workfiles.js';

/** A message on its way to clients: logged once, encoded lazily per variant and framing. */
export interface Outgoing {
  channel: string;
  header: Header | Record<string, unknown>;
  parent_header: Record<string, unknown>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers: Buffer[];
  /** Only this client session sees it (replies); undefined: every client (iopub). */
  target?: string;
  /** The client whose request this answers, and its own header (restored as parent_header for it). */
  origin?: { sid: string; header: Record<string, unknown> };
  cache?: Map<string, string | Buffer>;
}

/** Message types a client may send, per channel (DESIGN.md "Messages from browsers"). */
export const ALLOWED: Record<string, ReadonlySet<string>> = {
  shell: new Set([
    'execute_request',
    'complete_request',
    'inspect_request',
    'is_complete_request',
    'kernel_info_request',
    'history_request',
    'comm_info_request',
    'comm_open',
    'comm_msg',
    'comm_close',
  ]),
  stdin: new Set(['input_reply']),
  control: new Set(),
};

/** iopub types that never count against the output rate (Jupyter Server exempts the same kind). */
/** How long a kernel over its output rate is throttled before its output is received again. */
const THROTTLE_MS = 1_000;
const RATE_EXEMPT = new Set([
  'status',
  'execute_input',
  'comm_open',
  'comm_close',
  'execute_result',
  'error',
]);

const MAX_REQUESTS = 4_096;
const MAX_SESSIONS = 1_000;
const MAX_QUEUED = 100;

/** Where a client's messages are delivered (a websocket); long-poll clients pull instead. */
export interface Sink {
  /** New entries may be visible to this session: pull them from the log. */
  wake(): void;
  /** A newer connection took over this session id. */
  replaced(): void;
  /** The kernel (or the server) is gone: flush what is queued, then close with this code. */
  kernelGone(reason: string, code: number): void;
  /** Sends one message outside the log (notices meant for this connection only). */
  direct(o: Outgoing): void;
}

export interface ClientSession {
  readonly sid: string;
  /** The session id the kernel sees in this client's headers (never the client's own). */
  readonly serverSession: string;
  ipKey: string;
  /** Highest sequence number known delivered. */
  acked: number;
  sink: Sink | undefined;
  lastSeen: number;
}

export interface HubDeps {
  config: ServerConfig;
  log: Logger;
  executions: RateLimiter;
  /** Where execute_requests are recorded (the store); none in tests that do not need it. */
  recorder?: Recorder;
  /** Where files the code writes are kept, and how many/how large. */
  workFiles?: { store: Store; limits: WorkFileLimits };
  /** Counters for /metrics. */
  onDrop?(n: number): void;
  onMessage?(direction: 'in' | 'out'): void;
  /** execute_request sent -> execute_reply received (seconds). */
  onExecuteReply?(seconds: number, transport: Transport): void;
}

interface Route {
  origin?: Outgoing['origin'];
  target?: string;
  parent?: Record<string, unknown>;
}

export class Hub {
  readonly kernel: Kernel;
  readonly ownerIpKey: string;
  readonly log: ReplayLog<Outgoing>;
  readonly #deps: HubDeps;
  readonly #logger: Logger;
  readonly #sessions = new Map<string, ClientSession>();
  readonly #requests = new Map<
    string,
    { sid: string; header: Record<string, unknown>; server: Header; at: number; transport: Transport }
  >();
  /** input_request headers waiting for the one client allowed to answer. */
  readonly #pendingInput = new Map<string, Header>();
  readonly #limiter: OutputRateLimiter;
  readonly #waiters = new Set<() => void>();
  /** Client messages held while the kernel restarts. */
  #queued: { sid: string; msg: WireMessage; caller: Caller; transport: Transport }[] = [];
  /** Records of executions in flight, by the server's msg_id. */
  readonly #records = new Map<string, ExecutionRecord>();
  readonly #watcher: WorkFileWatcher | undefined;
  /** Kernel messages held (in order) while the files an execution wrote are being stored. */
  #held: ChannelMessage[] | undefined;
  #kernelSession = '';
  #dead: { reason: string; at: number } | undefined;
  /** The kernel was reniced for flooding its output (OutputRateLimiter), until its execution ends. */
  #deprioritized = false;
  #throttleTimer: NodeJS.Timeout | undefined;
  #pollers = 0;
  #lastActivity: string;
  readonly #detach: () => void;

  constructor(kernel: Kernel, ownerIpKey: string, deps: HubDeps) {
    this.kernel = kernel;
    this.ownerIpKey = ownerIpKey;
    this.#deps = deps;
    this.#logger = deps.log.child({ kernel: kernel.id });
    const c = deps.config;
    this.log = new ReplayLog(c.replayMessages, c.replayBytes);
    this.#limiter = new OutputRateLimiter(c.iopubMsgRate, c.iopubDataRate, c.iopubRateWindowMs);
    this.#kernelSession = kernel.session;
    this.#lastActivity = kernel.lastActivity.toISOString();
    const onMessage = (m: ChannelMessage) => this.#onKernelMessage(m);
    const onRestarted = () => this.#onRestarted();
    const onDead = (reason: string) => this.#onDead(reason);
    const onLimit = (info: { kind: string; message: string; parentMsgId?: string }) => this.#onLimit(info);
    kernel.on('message', onMessage);
    kernel.on('restarted', onRestarted);
    kernel.on('dead', onDead);
    kernel.on('limit', onLimit);
    this.#detach = () => {
      kernel.off('message', onMessage);
      kernel.off('restarted', onRestarted);
      kernel.off('dead', onDead);
      kernel.off('limit', onLimit);
      clearTimeout(this.#throttleTimer);
    };
    this.#watcher = deps.workFiles
      ? new WorkFileWatcher(kernel, deps.workFiles.store, deps.workFiles.limits)
      : undefined;
    if (kernel.state === 'dead') this.#onDead(kernel.reason ?? 'dead');
  }

  /** Files placed in the work dir by the server (uploads) are not announced as written by the code. */
  workFilesChanged(): void {
    this.#watcher?.baseline();
  }

  get id(): string {
    return this.kernel.id;
  }
  get dead(): { reason: string; at: number } | undefined {
    return this.#dead;
  }
  get connections(): number {
    let n = this.#pollers;
    for (const s of this.#sessions.values()) if (s.sink) n++;
    return n;
  }

  /** Jupyter Server's kernel model, plus connections. */
  model(): Record<string, unknown> {
    if (this.#dead) {
      return {
        id: this.kernel.id,
        name: this.kernel.specName,
        last_activity: this.#lastActivity,
        execution_state: 'dead',
        connections: this.connections,
        reason: this.#dead.reason,
      };
    }
    const m = this.kernel.model();
    this.#lastActivity = m.last_activity;
    return { ...m, connections: this.connections };
  }

  /** True when a client at this address started or is connected to the kernel. */
  visibleTo(ipKey: string): boolean {
    if (ipKey === this.ownerIpKey) return true;
    for (const s of this.#sessions.values())
      if (s.ipKey === ipKey && (s.sink || this.#pollers > 0)) return true;
    return false;
  }

  // ---- client sessions ---------------------------------------------------------------------------

  /** The session for this client id, created (at the head of the log) when new. */
  session(sid: string, ipKey: string): { session: ClientSession; created: boolean } {
    let s = this.#sessions.get(sid);
    const created = !s;
    if (!s) {
      s = {
        sid,
        serverSession: randomUUID(),
        ipKey,
        acked: this.log.lastSeq,
        sink: undefined,
        lastSeen: Date.now(),
      };
      this.#sessions.set(sid, s);
      this.#sweep();
    }
    s.ipKey = ipKey;
    s.lastSeen = Date.now();
    return { session: s, created };
  }

  /** Attaches a websocket to a session; a previous socket of the same session is replaced. */
  attach(sid: string, ipKey: string, sink: Sink): ClientSession {
    const { session } = this.session(sid, ipKey);
    const old = session.sink;
    session.sink = sink;
    if (old && old !== sink) {
      this.#logger.info({ session: sid }, 'replacing stale connection');
      old.replaced();
    }
    return session;
  }

  detach(session: ClientSession, sink: Sink): void {
    if (session.sink === sink) session.sink = undefined;
    session.lastSeen = Date.now();
  }

  /** Entries after `cursor` visible to this session. */
  since(sid: string, cursor: number, max?: number): Since<Outgoing> {
    return this.log.since(cursor, (o) => o.target === undefined || o.target === sid, max);
  }

  pollerEntered(): () => void {
    this.#pollers++;
    let done = false;
    return () => {
      if (!done) this.#pollers--;
      done = true;
    };
  }

  /** Resolves when a new entry is appended (or the kernel dies), or after `ms`. */
  waitForEntries(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#dead) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  #sweep(): void {
    const ttl = this.#deps.config.sessionTtlMs;
    const now = Date.now();
    for (const [sid, s] of this.#sessions) {
      if (!s.sink && (now - s.lastSeen > ttl || this.#sessions.size > MAX_SESSIONS))
        this.#sessions.delete(sid);
    }
  }

  // ---- client -> kernel --------------------------------------------------------------------------

  /**
   * Routes one message from a client. Refusals are answered in the log (an error reply the client's
   * future resolves with), never by silence.
   */
  fromClient(sid: string, msg: WireMessage, caller: Caller, transport: Transport = 'websocket'): void {
    const { session } = this.session(sid, caller.ipKey);
    const type = String(msg.header.msg_type);
    const allowed = ALLOWED[msg.channel];
    if (!allowed) {
      this.#refuse(
        session,
        msg,
        `unknown channel "${msg.channel.slice(0, 32)}" (use shell, stdin or control)`,
      );
      return;
    }
    if (!allowed.has(type)) {
      const why =
        msg.channel === 'control' || type === 'shutdown_request' || type === 'interrupt_request'
          ? `${type} is not accepted over this connection: interrupt, restart and shut down through the REST API (/api/kernels/:id/interrupt, /restart, DELETE)`
          : `message type ${type} is not allowed on the ${msg.channel} channel`;
      this.#refuse(session, msg, why);
      return;
    }
    if (type === 'execute_request') {
      const code = msg.content.code;
      if (typeof code !== 'string') {
        this.#refuse(session, msg, 'execute_request needs content.code');
        return;
      }
      const max = this.#deps.config.maxCodeBytes;
      if (Buffer.byteLength(code) > max) {
        this.#refuse(session, msg, `code is larger than ${max} bytes`);
        return;
      }
      if (caller.kind === 'anonymous') {
        const t = this.#deps.executions.take(caller.ipKey);
        if (!t.ok) {
          this.#refuse(session, msg, `too many executions from your address; retry in ${t.retryAfterS} s`);
          return;
        }
      }
    }
    let parent: Partial<Header> = {};
    if (type === 'input_reply') {
      const req = this.#pendingInput.get(session.sid);
      if (!req) {
        this.#refuse(session, msg, 'input_reply without a pending input_request');
        return;
      }
      this.#pendingInput.delete(session.sid);
      parent = req;
    }
    if (this.#dead) {
      this.#refuse(session, msg, `the kernel is dead: ${this.#dead.reason}`);
      return;
    }
    const state = this.kernel.state;
    if (state === 'restarting' || state === 'starting') {
      if (this.#queued.length >= MAX_QUEUED) {
        this.#refuse(session, msg, 'the kernel is restarting');
        return;
      }
      this.#queued.push({ sid, msg, caller, transport });
      return;
    }
    this.#send(session, msg, caller, parent, transport);
  }

  #send(
    session: ClientSession,
    msg: WireMessage,
    caller: Caller,
    parent: Partial<Header>,
    transport: Transport,
  ): void {
    const type = String(msg.header.msg_type);
    const header = {
      msg_id: randomUUID(),
      session: session.serverSession,
      username: caller.kind === 'token' ? 'runcell-token' : 'anonymous',
      date: new Date().toISOString(),
      msg_type: type,
      version: typeof msg.header.version === 'string' ? msg.header.version : PROTOCOL_VERSION,
    };
    const clientHeader = msg.header;
    try {
      const sent = this.kernel.send(msg.channel as 'shell' | 'stdin', {
        header,
        parent_header: parent,
        metadata: msg.metadata as JsonObject,
        content: msg.content as JsonObject,
        buffers: msg.buffers,
      });
      this.#requests.set(sent.msg_id, {
        sid: session.sid,
        header: clientHeader,
        server: sent,
        at: performance.now(),
        transport,
      });
      const recorder = this.#deps.recorder;
      if (recorder && type === 'execute_request' && this.#records.size < MAX_REQUESTS) {
        const content = msg.content as Record<string, unknown>;
        this.#records.set(
          sent.msg_id,
          new ExecutionRecord(recorder, {
            header: sent,
            code: String(content.code),
            content,
            kernel: this.kernel,
            transport,
            caller,
          }),
        );
      }
      if (this.#requests.size > MAX_REQUESTS) {
        const oldest = this.#requests.keys().next().value;
        if (oldest !== undefined) this.#requests.delete(oldest);
      }
      this.#deps.onMessage?.('in');
    } catch (e) {
      this.#logger.debug({ err: e }, 'send to kernel failed');
      const busy = e instanceof KernelManagerError && e.code === 'BUSY';
      this.#refuse(session, msg, busy ? e.message : 'the kernel is not running');
    }
  }

  /**
   * Answers a refused message so the client's future completes: for a request, an error reply (and,
   * for execute_request, an error output) between busy and idle status; otherwise a stderr notice.
   */
  #refuse(session: ClientSession, msg: WireMessage, reason: string): void {
    const type = String(msg.header.msg_type);
    const channel = msg.channel === 'control' ? 'control' : 'shell';
    this.#logger.info(
      { session: session.sid, msg_type: type.slice(0, 64), reason },
      'refused a client message',
    );
    const origin = { sid: session.sid, header: msg.header };
    const target = session.sid;
    if (!type.endsWith('_request') || !ALLOWED[msg.channel]) {
      this.#append(this.#notice(`[runcell] message refused: ${reason}\n`, origin, target));
      return;
    }
    const status = (execution_state: string) =>
      this.#synthetic('iopub', 'status', { execution_state }, { origin, target });
    this.#append(status('busy'));
    const error = { ename: 'RuncellError', evalue: reason, traceback: [`RuncellError: ${reason}`] };
    if (type === 'execute_request')
      this.#append(this.#synthetic('iopub', 'error', error, { origin, target }));
    const reply = type.replace(/_request$/, '_reply');
    this.#append(this.#synthetic(channel, reply, { status: 'error', ...error }, { origin, target }));
    this.#append(status('idle'));
  }

  /** A message the server makes up; it carries the kernel's session so clients accept it as current. */
  #synthetic(
    channel: string,
    msgType: string,
    content: Record<string, unknown>,
    route: Route = {},
  ): Outgoing {
    const o: Outgoing = {
      channel,
      header: {
        msg_id: randomUUID(),
        msg_type: msgType,
        session: this.#kernelSession,
        username: 'runcell',
        date: new Date().toISOString(),
        version: PROTOCOL_VERSION,
      },
      parent_header: route.parent ?? route.origin?.header ?? {},
      metadata: {},
      content,
      buffers: [],
    };
    if (route.origin) o.origin = route.origin;
    if (route.target !== undefined) o.target = route.target;
    return o;
  }

  /** A stderr stream message: how the user is told about dropped output, lost messages and limits. */
  #notice(
    text: string,
    origin?: Outgoing['origin'],
    target?: string,
    parent?: Record<string, unknown>,
  ): Outgoing {
    const route: Route = {};
    if (origin) route.origin = origin;
    if (target !== undefined) route.target = target;
    if (parent) route.parent = parent;
    return this.#synthetic('iopub', 'stream', { name: 'stderr', text }, route);
  }

  /** A notice for one connection only, outside the log (e.g. "N messages were lost"). */
  notice(text: string): Outgoing {
    return this.#notice(text);
  }

  // ---- kernel -> clients -------------------------------------------------------------------------

  #onKernelMessage(m: ChannelMessage): void {
    if (this.#held) {
      this.#held.push(m);
      return;
    }
    // An execution from a client is over: announce the files it wrote before its idle status, so
    // clients that stop listening at idle still see them.
    const parentType = m.parent_header.msg_type;
    if (
      this.#watcher &&
      m.channel === 'iopub' &&
      m.header.msg_type === 'status' &&
      m.content.execution_state === 'idle' &&
      parentType === 'execute_request' &&
      m.parent_header.msg_id &&
      this.#requests.has(m.parent_header.msg_id)
    ) {
      const changed = this.#watcher.changed();
      if (changed.length > 0) {
        this.#held = [m];
        void this.#announceFiles(m, changed);
        return;
      }
    }
    this.#deliver(m);
  }

  async #announceFiles(
    idle: ChannelMessage,
    changed: Parameters<WorkFileWatcher['capture']>[0],
  ): Promise<void> {
    const parentId = idle.parent_header.msg_id as string;
    const req = this.#requests.get(parentId);
    const origin = req ? { sid: req.sid, header: req.header } : undefined;
    const route: Route = { parent: idle.parent_header as Record<string, unknown> };
    if (origin) route.origin = origin;
    try {
      const capture = await (this.#watcher as WorkFileWatcher).capture(changed);
      if (capture.files.length > 0 || capture.skipped.length > 0)
        this.#append(this.#synthetic('iopub', 'display_data', filesDisplay(capture), route));
    } catch (e) {
      this.#logger.warn({ err: e }, 'files written by the code could not be stored');
      this.#append(
        this.#notice(
          '[runcell] the files this cell wrote could not be stored right now\n',
          origin,
          undefined,
          route.parent,
        ),
      );
    }
    this.#releaseHeld();
  }

  #releaseHeld(): void {
    const [idle, ...rest] = this.#held ?? [];
    this.#held = undefined;
    if (idle) this.#deliver(idle);
    // The rest go through the same path again, in order (another execution's idle may hold again).
    for (const x of rest) this.#onKernelMessage(x);
  }

  #deliver(m: ChannelMessage): void {
    if (typeof m.header.session === 'string' && m.channel === 'iopub') this.#kernelSession = m.header.session;
    const parentId = m.parent_header.msg_id;
    if (parentId) {
      const rec = this.#records.get(parentId);
      if (rec?.add(m)) this.#records.delete(parentId);
    }
    const req = parentId ? this.#requests.get(parentId) : undefined;
    if (req && m.channel === 'shell' && m.header.msg_type === 'execute_reply')
      this.#deps.onExecuteReply?.((performance.now() - req.at) / 1000, req.transport);
    const origin = req ? { sid: req.sid, header: req.header } : undefined;
    const base: Outgoing = {
      channel: m.channel,
      header: m.header,
      parent_header: m.parent_header as Record<string, unknown>,
      metadata: m.metadata,
      content: m.content,
      buffers: m.buffers,
    };
    if (origin) base.origin = origin;
    if (m.channel !== 'iopub') {
      // Replies to requests the manager made itself (start-up kernel_info) belong to no client.
      if (!req) return;
      base.target = req.sid;
      if (m.channel === 'stdin' && m.header.msg_type === 'input_request')
        this.#pendingInput.set(req.sid, m.header);
      this.#append(base);
      return;
    }
    const type = m.header.msg_type;
    if (parentId && !RATE_EXEMPT.has(type) && this.#limiter.enabled) {
      let bytes = 0;
      for (const b of m.buffers) bytes += b.length;
      const text = (m.content as { text?: unknown }).text;
      bytes += typeof text === 'string' ? text.length : JSON.stringify(m.content).length;
      const v = this.#limiter.check(parentId, bytes);
      if (v.notice)
        this.#append(this.#notice(v.notice, origin, undefined, m.parent_header as Record<string, unknown>));
      // A kernel over its output rate is throttled for a while: its stream output is dropped by its
      // own socket and it yields the CPU, so the flood costs the server and other users little. Then
      // output is received again; a flood that goes on is throttled again at once.
      if (!v.pass && !this.#deprioritized) this.#throttle(true);
      if (!v.pass) {
        this.#deps.onDrop?.(1);
        return;
      }
    }
    if (
      type === 'status' &&
      parentId &&
      (m.content as { execution_state?: unknown }).execution_state === 'idle'
    ) {
      const last = this.#limiter.end(parentId);
      if (this.#deprioritized) this.#throttle(false);
      if (last)
        this.#append(this.#notice(last, origin, undefined, m.parent_header as Record<string, unknown>));
    }
    this.#append(base);
  }

  #throttle(on: boolean): void {
    clearTimeout(this.#throttleTimer);
    this.#deprioritized = on;
    this.kernel.deprioritize?.(on);
    if (on) this.#throttleTimer = setTimeout(() => this.#throttle(false), THROTTLE_MS).unref();
  }

  #append(o: Outgoing): LogEntry<Outgoing> {
    let bytes = 512;
    for (const b of o.buffers) bytes += b.length;
    const text = (o.content as { text?: unknown }).text;
    bytes += typeof text === 'string' ? text.length : 0;
    const data = (o.content as { data?: unknown }).data;
    if (data && typeof data === 'object')
      for (const v of Object.values(data)) if (typeof v === 'string') bytes += v.length;
    const e = this.log.append(o, bytes);
    this.#deps.onMessage?.('out');
    for (const s of this.#sessions.values()) {
      if (s.sink && (o.target === undefined || o.target === s.sid)) s.sink.wake();
    }
    for (const w of [...this.#waiters]) w();
    return e;
  }

  #endRecords(status: string): void {
    for (const r of this.#records.values()) r.end(status);
    this.#records.clear();
  }

  #onRestarted(): void {
    this.#watcher?.baseline();
    this.#endRecords('restarted');
    this.#requests.clear();
    this.#pendingInput.clear();
    // Jupyter Server tells clients with a server-made status message; clients then reconnect.
    this.#append(this.#synthetic('iopub', 'status', { execution_state: 'restarting' }));
    const queued = this.#queued;
    this.#queued = [];
    for (const q of queued) {
      const s = this.#sessions.get(q.sid);
      if (s) this.#send(s, q.msg, q.caller, {}, q.transport);
    }
  }

  #onLimit(info: { kind: string; message: string; parentMsgId?: string }): void {
    const req = info.parentMsgId ? this.#requests.get(info.parentMsgId) : undefined;
    const origin = req ? { sid: req.sid, header: req.header } : undefined;
    const parent = req ? (req.server as Record<string, unknown>) : {};
    this.#append(this.#notice(`[runcell] ${info.message}\n`, origin, undefined, parent));
  }

  #onDead(reason: string): void {
    if (this.#dead) return;
    this.#dead = { reason, at: Date.now() };
    this.#lastActivity = new Date().toISOString();
    this.#logger.info({ reason }, 'kernel dead');
    this.#endRecords('dead');
    if (this.#held) {
      const held = this.#held;
      this.#held = undefined;
      for (const x of held) this.#deliver(x);
    }
    for (const q of this.#queued) {
      const s = this.#sessions.get(q.sid);
      if (s) this.#refuse(s, q.msg, `the kernel is dead: ${reason}`);
    }
    this.#queued = [];
    const dead = this.#synthetic('iopub', 'status', { execution_state: 'dead', reason });
    this.#append(dead);
    this.#detach();
    for (const s of this.#sessions.values()) s.sink?.kernelGone(`kernel dead: ${reason}`, 1000);
    for (const w of [...this.#waiters]) w();
  }

  /** Drops everything (the tombstone expired, the kernel was shut down, or the server stops: 1001). */
  dispose(reason: string, code = 1000): void {
    this.#endRecords('lost');
    this.#detach();
    for (const s of this.#sessions.values()) s.sink?.kernelGone(reason, code);
    this.#sessions.clear();
    for (const w of [...this.#waiters]) w();
  }
}

// ---- encoding for a given client ------------------------------------------------------------------

/** The message as `sid` sees it: its own header restored as parent when it asked. */
export function view(o: Outgoing, sid: string): OutMessage {
  const own = o.origin?.sid === sid;
  return {
    channel: o.channel,
    header: o.header,
    parent_header: own && o.origin ? o.origin.header : o.parent_header,
    metadata: o.metadata,
    content: o.content,
    buffers: o.buffers,
  };
}

/** Websocket frame for this client, cached per (own parent or not, framing). */
export function frameFor(o: Outgoing, sid: string, protocol: Protocol): string | Buffer {
  const own = o.origin?.sid === sid;
  const key = `${own ? 1 : 0}${protocol === V1_PROTOCOL ? 'v1' : ''}`;
  o.cache ??= new Map();
  let f = o.cache.get(key);
  if (f === undefined) {
    f = encodeFrame(view(o, sid), protocol);
    o.cache.set(key, f);
  }
  return f;
}

/** Long-poll JSON for this client (buffers base64), cached per variant. */
export function jsonFor(e: LogEntry<Outgoing>, sid: string): string {
  const o = e.value;
  const own = o.origin?.sid === sid;
  const key = own ? 'j1' : 'j0';
  o.cache ??= new Map();
  let f = o.cache.get(key);
  if (typeof f !== 'string') {
    const v = view(o, sid);
    f = JSON.stringify({ seq: e.seq, ...v, buffers: v.buffers.map((b) => b.toString('base64')) });
    o.cache.set(key, f);
  }
  return f;
}
