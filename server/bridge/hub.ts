// One hub per kernel: the only place where messages between clients and a kernel are routed. It wires
// the bridge's parts together and keeps none of their rules:
//  - sessions.ts   client sessions, their websockets (sinks) and the long-polls waiting for entries;
//  - refusals.ts   what a client may send, and the synthetic replies that answer what it may not;
//  - headers.ts    the server owns headers; requests are remembered to route the kernel's answers;
//  - lifecycle.ts  client messages queued across a restart, refused once the kernel is dead;
//  - throttle.ts   output rate limits per execution, and throttling a kernel that floods;
//  - recording.ts  every execute_request recorded in the store;
//  - hold.ts       files an execution wrote (workfiles.ts) announced before its idle status;
//  - replay.ts     the sequence-numbered log every client reads from (entries: outgoing.ts), encoded
//                  per client by framing.ts.
// Kernel -> clients: iopub is visible to every client; shell/stdin/control replies only to the client
// that asked, with its own header restored as parent_header.
import type { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { ChannelMessage, Header, JsonObject, Kernel } from '../../kernel-manager/index.js';
import { KernelManagerError } from '../../kernel-manager/index.js';
import type { DeadStatus } from '../../shared/jupyter.js';
import type { Caller } from '../auth.js';
import type { ServerConfig } from '../config.js';
import { OutputRateLimiter, type TieredRate, visitorKey } from '../limits.js';
import type { Recorder, Transport } from '../store/records.js';
import type { WireMessage } from './framing.js';
import { MAX_REQUESTS, PendingInput, Requests, serverHeader } from './headers.js';
import { WorkFileHold } from './hold.js';
import { type Death, Lifecycle } from './lifecycle.js';
import { fromKernel, logBytes, notice, type Outgoing, synthetic } from './outgoing.js';
import { Recordings } from './recording.js';
import { refusal, refusalReplies } from './refusals.js';
import { ReplayLog, type Since } from './replay.js';
import { type ClientSession, Sessions, type Sink } from './sessions.js';
import { OutputThrottle } from './throttle.js';
import {
  type Capture,
  type FileStore,
  filesDisplay,
  type WorkFileLimits,
  WorkFileWatcher,
} from './workfiles.js';

/**
 * What a hub uses of a kernel (a fake implementing just this drives the hub in unit tests). Its events
 * are Kernel's: 'message', 'restarted', 'dead', 'limit'.
 */
export type HubKernel = Pick<
  Kernel,
  | 'id'
  | 'specName'
  | 'session'
  | 'state'
  | 'reason'
  | 'lastActivity'
  | 'model'
  | 'send'
  | 'deprioritize'
  | 'files'
> &
  Pick<EventEmitter, 'on' | 'off'>;

/** The settings a hub reads. */
export type HubConfig = Pick<
  ServerConfig,
  | 'replayMessages'
  | 'replayBytes'
  | 'iopubMsgRate'
  | 'iopubDataRate'
  | 'iopubRateWindowMs'
  | 'sessionTtlMs'
  | 'maxCodeBytes'
>;

export interface HubDeps {
  config: HubConfig;
  log: Logger;
  /** Executions per anonymous address: a token is taken when the kernel can take the execution, and
   *  given back when it is refused after all (the send failed, or the kernel died with it queued). */
  executions: Pick<TieredRate, 'take' | 'refund'>;
  /** Where execute_requests are recorded (the store); none in tests that do not need it. */
  recorder?: Recorder;
  /** Where files the code writes are kept, and how many/how large. */
  workFiles?: { store: FileStore; limits: WorkFileLimits };
  /** Counters for /metrics. */
  onDrop?(n: number): void;
  onMessage?(direction: 'in' | 'out'): void;
  /** execute_request sent -> execute_reply received (seconds). */
  onExecuteReply?(seconds: number, transport: Transport): void;
}

/** Whom a kernel's executions count for: its page (or its starter's address), and the page it ends with. */
export interface HubOwner {
  visitor?: string;
  page?: string | undefined;
}

export class Hub<K extends HubKernel = Kernel> {
  readonly kernel: K;
  readonly ownerIpKey: string;
  /** The limits key executions on this kernel count for (visitorKey()). */
  readonly visitor: string;
  /** The page whose connections keep this kernel alive, if it was started for one. */
  readonly page: string | undefined;
  readonly log: ReplayLog<Outgoing>;
  readonly #deps: HubDeps;
  readonly #logger: Logger;
  readonly #sessions: Sessions;
  readonly #requests = new Requests(MAX_REQUESTS);
  readonly #pendingInput = new PendingInput();
  readonly #life = new Lifecycle();
  readonly #throttle: OutputThrottle;
  readonly #records: Recordings;
  readonly #hold: WorkFileHold;
  /** The session of the kernel's own messages: server-made messages carry it too. */
  #kernelSession: string;
  #lastActivity: string;
  /** The idle timeout that is ending the kernel, once its idle limit fired. */
  #idleStopMs: number | undefined;
  readonly #detach: () => void;

  constructor(kernel: K, ownerIpKey: string, deps: HubDeps, owner: HubOwner = {}) {
    this.kernel = kernel;
    this.ownerIpKey = ownerIpKey;
    this.visitor = owner.visitor ?? visitorKey(ownerIpKey);
    this.page = owner.page;
    this.#deps = deps;
    this.#logger = deps.log.child({ kernel: kernel.id });
    const c = deps.config;
    this.log = new ReplayLog(c.replayMessages, c.replayBytes);
    this.#sessions = new Sessions(c.sessionTtlMs);
    this.#throttle = new OutputThrottle(
      new OutputRateLimiter(c.iopubMsgRate, c.iopubDataRate, c.iopubRateWindowMs),
      (on) => kernel.deprioritize?.(on),
    );
    this.#records = new Recordings(deps.recorder, MAX_REQUESTS);
    this.#kernelSession = kernel.session;
    this.#lastActivity = kernel.lastActivity.toISOString();
    const onMessage = (m: ChannelMessage) => this.#hold.receive(m);
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
      this.#throttle.dispose();
    };
    const watcher = deps.workFiles
      ? new WorkFileWatcher(kernel, deps.workFiles.store, deps.workFiles.limits)
      : undefined;
    this.#hold = new WorkFileHold(watcher, {
      isClientRequest: (msgId) => this.#requests.has(msgId),
      deliver: (m) => this.#deliver(m),
      announce: (idle, capture) => this.#announceFiles(idle, capture),
    });
    if (kernel.state === 'dead') this.#onDead(kernel.reason ?? 'dead');
  }

  /** Files placed in the work dir by the server (uploads) are not announced as written by the code. */
  workFilesChanged(): void {
    this.#hold.baseline();
  }

  get id(): string {
    return this.kernel.id;
  }
  get dead(): Death | undefined {
    return this.#life.dead;
  }
  get connections(): number {
    return this.#sessions.connections;
  }

  /** Jupyter Server's kernel model, plus connections. */
  model(): Record<string, unknown> {
    const dead = this.#life.dead;
    if (dead) {
      return {
        id: this.kernel.id,
        name: this.kernel.specName,
        last_activity: this.#lastActivity,
        execution_state: 'dead',
        connections: this.connections,
        reason: dead.reason,
      };
    }
    const m = this.kernel.model();
    this.#lastActivity = m.last_activity;
    return { ...m, connections: this.connections };
  }

  /** True when a client at this address started or is connected to the kernel. */
  visibleTo(ipKey: string): boolean {
    return ipKey === this.ownerIpKey || this.#sessions.connectedFrom(ipKey);
  }

  // ---- client sessions ---------------------------------------------------------------------------

  /** The session for this client id, created (at the head of the log) when new. */
  session(sid: string, ipKey: string): { session: ClientSession; created: boolean } {
    return this.#sessions.get(sid, ipKey, this.log.lastSeq);
  }

  /** Attaches a websocket to a session; a previous socket of the same session is replaced. */
  attach(sid: string, ipKey: string, sink: Sink): ClientSession {
    const { session } = this.session(sid, ipKey);
    if (this.#sessions.attach(session, sink))
      this.#logger.info({ session: sid }, 'replacing stale connection');
    return session;
  }

  detach(session: ClientSession, sink: Sink): void {
    this.#sessions.detach(session, sink);
  }

  /** Entries after `cursor` visible to this session. */
  since(sid: string, cursor: number, max?: number): Since<Outgoing> {
    return this.log.since(cursor, (o) => o.target === undefined || o.target === sid, max);
  }

  pollerEntered(): () => void {
    return this.#sessions.pollerEntered();
  }

  /** Resolves when a new entry is appended (or the kernel dies), or after `ms`. */
  waitForEntries(ms: number, signal?: AbortSignal): Promise<void> {
    if (this.#life.dead) return Promise.resolve();
    return this.#sessions.wait(ms, signal);
  }

  /** A notice for one connection only, outside the log (e.g. "N messages were lost"). */
  notice(text: string): Outgoing {
    return notice(this.#kernelSession, text);
  }

  // ---- client -> kernel --------------------------------------------------------------------------

  /**
   * Routes one message from a client. Refusals are answered in the log (an error reply the client's
   * future resolves with), never by silence.
   */
  fromClient(sid: string, msg: WireMessage, caller: Caller, transport: Transport = 'websocket'): void {
    const { session } = this.session(sid, caller.ipKey);
    const why = refusal(msg, caller, {
      maxCodeBytes: this.#deps.config.maxCodeBytes,
      executions: { take: (ipKey) => this.#deps.executions.take(ipKey, this.visitor) },
      unavailable: this.#life.refusal(this.kernel.state),
    });
    if (why !== undefined) {
      this.#refuse(sid, msg, why);
      return;
    }
    let parent: Partial<Header> = {};
    if (msg.header.msg_type === 'input_reply') {
      const request = this.#pendingInput.take(sid);
      if (!request) {
        this.#refuse(sid, msg, 'input_reply without a pending input_request');
        return;
      }
      parent = request;
    }
    const a = this.#life.admit(this.kernel.state, { sid, msg, caller, transport });
    if ('refuse' in a) this.#refuse(sid, msg, a.refuse);
    else if ('send' in a) this.#send(session, msg, caller, parent, transport);
  }

  #send(
    session: ClientSession,
    msg: WireMessage,
    caller: Caller,
    parent: Partial<Header>,
    transport: Transport,
  ): void {
    try {
      const sent = this.kernel.send(msg.channel as 'shell' | 'stdin', {
        header: serverHeader(msg.header, session.serverSession, caller),
        parent_header: parent,
        metadata: msg.metadata as JsonObject,
        content: msg.content as JsonObject,
        buffers: msg.buffers,
      });
      this.#requests.add({
        sid: session.sid,
        header: msg.header,
        server: sent,
        at: performance.now(),
        transport,
      });
      if (msg.header.msg_type === 'execute_request') {
        this.#records.begin({
          header: sent,
          code: String(msg.content.code),
          content: msg.content,
          kernel: this.kernel,
          transport,
          caller,
        });
      }
      this.#deps.onMessage?.('in');
    } catch (e) {
      this.#logger.debug({ err: e }, 'send to kernel failed');
      this.#refund(msg, caller);
      const busy = e instanceof KernelManagerError && e.code === 'BUSY';
      this.#refuse(session.sid, msg, busy ? e.message : 'the kernel is not running');
    }
  }

  /** An anonymous execution that took a token and was then refused gets it back. */
  #refund(msg: WireMessage, caller: Caller): void {
    if (caller.kind === 'anonymous' && msg.header.msg_type === 'execute_request')
      this.#deps.executions.refund(caller.ipKey, this.visitor);
  }

  #refuse(sid: string, msg: WireMessage, reason: string): void {
    this.#logger.info(
      { session: sid, msg_type: String(msg.header.msg_type).slice(0, 64), reason },
      'refused a client message',
    );
    for (const o of refusalReplies(this.#kernelSession, sid, msg, reason)) this.#append(o);
  }

  // ---- kernel -> clients -------------------------------------------------------------------------

  /** A kernel message past the work-file hold. */
  #deliver(m: ChannelMessage): void {
    if (typeof m.header.session === 'string' && m.channel === 'iopub') this.#kernelSession = m.header.session;
    this.#records.add(m);
    const parentId = m.parent_header.msg_id;
    const req = this.#requests.get(parentId);
    if (req && m.channel === 'shell' && m.header.msg_type === 'execute_reply')
      this.#deps.onExecuteReply?.((performance.now() - req.at) / 1000, req.transport);
    const origin = this.#requests.origin(parentId);
    const out = fromKernel(m, origin);
    if (m.channel !== 'iopub') {
      // Replies to requests the manager made itself (start-up kernel_info) belong to no client.
      if (!req) return;
      out.target = req.sid;
      if (m.channel === 'stdin' && m.header.msg_type === 'input_request')
        this.#pendingInput.asked(req.sid, m.header);
      this.#append(out);
      return;
    }
    const parent = m.parent_header as Record<string, unknown>;
    const v = this.#throttle.output(m);
    if (v.notice) this.#append(notice(this.#kernelSession, v.notice, { origin, parent }));
    if (!v.pass) {
      this.#deps.onDrop?.(1);
      return;
    }
    if (m.header.msg_type === 'status' && parentId && m.content.execution_state === 'idle') {
      const last = this.#throttle.idle(parentId);
      if (last) this.#append(notice(this.#kernelSession, last, { origin, parent }));
    }
    this.#append(out);
  }

  /** Announces the files an execution wrote (the hold keeps its idle status back meanwhile). */
  async #announceFiles(idle: ChannelMessage, capture: Promise<Capture>): Promise<void> {
    const parent = idle.parent_header as Record<string, unknown>;
    const origin = this.#requests.origin(idle.parent_header.msg_id);
    try {
      const c = await capture;
      if (c.files.length > 0 || c.skipped.length > 0)
        this.#append(
          synthetic(this.#kernelSession, 'iopub', 'display_data', filesDisplay(c), { origin, parent }),
        );
    } catch (e) {
      this.#logger.warn({ err: e }, 'files written by the code could not be stored');
      const text = '[runcell] the files this cell wrote could not be stored right now\n';
      this.#append(notice(this.#kernelSession, text, { origin, parent }));
    }
  }

  #append(o: Outgoing): void {
    this.log.append(o, logBytes(o));
    this.#deps.onMessage?.('out');
    this.#sessions.wake(o.target);
  }

  #onRestarted(): void {
    this.#hold.baseline();
    this.#records.endAll('restarted');
    this.#requests.clear();
    this.#pendingInput.clear();
    // Jupyter Server tells clients with a server-made status message; clients then reconnect.
    this.#append(synthetic(this.#kernelSession, 'iopub', 'status', { execution_state: 'restarting' }));
    for (const q of this.#life.restarted()) {
      const s = this.#sessions.find(q.sid);
      if (s) this.#send(s, q.msg, q.caller, {}, q.transport);
    }
  }

  #onLimit(info: { kind: string; message: string; parentMsgId?: string; afterMs?: number }): void {
    if (info.kind === 'idle' && info.afterMs !== undefined) this.#idleStopMs = info.afterMs;
    const req = this.#requests.get(info.parentMsgId);
    const origin = this.#requests.origin(info.parentMsgId);
    const parent = req ? (req.server as Record<string, unknown>) : {};
    this.#append(notice(this.#kernelSession, `[runcell] ${info.message}\n`, { origin, parent }));
  }

  #onDead(reason: string): void {
    const died = this.#life.died(reason);
    if (!died) return;
    this.#lastActivity = new Date().toISOString();
    this.#logger.info({ reason }, 'kernel dead');
    this.#records.endAll('dead');
    this.#hold.flush();
    for (const q of died.queued) {
      this.#refund(q.msg, q.caller);
      if (this.#sessions.find(q.sid)) this.#refuse(q.sid, q.msg, died.refusal);
    }
    const idle = this.#idleStopMs === undefined ? {} : { idle_ms: this.#idleStopMs };
    const content: DeadStatus = { execution_state: 'dead', reason, ...idle };
    this.#append(synthetic(this.#kernelSession, 'iopub', 'status', content));
    this.#detach();
    this.#sessions.gone(`kernel dead: ${reason}`, 1000);
  }

  /** Drops everything (the tombstone expired, the kernel was shut down, or the server stops: 1001). */
  dispose(reason: string, code = 1000): void {
    this.#records.endAll('lost');
    this.#detach();
    this.#sessions.gone(reason, code);
    this.#sessions.clear();
  }
}
