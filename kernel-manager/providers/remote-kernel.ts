// One kernel on a Jupyter Server / Kernel Gateway / Enterprise Gateway host: started and stopped over
// REST, messages over the kernel's channels websocket (Jupyter's JSON websocket protocol, serialized by
// @jupyterlab/services; the gateway signs and verifies the ZMQ side). Same API and limits as LocalKernel.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { deserialize, serialize } from '@jupyterlab/services/lib/kernel/serialize.js';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { KernelManagerError } from '../errors.js';
import { executeOn, messagesOf } from '../execute.js';
import {
  type ChannelMessage,
  type ExecutionState,
  type Header,
  isExecuteReply,
  isStatus,
  type JsonObject,
  PROTOCOL_VERSION,
  type SendChannel,
} from '../messages.js';
import type {
  ExecuteOptions,
  FileStat,
  Kernel,
  KernelFiles,
  KernelModelInfo,
  Limits,
  OutgoingMessage,
} from '../types.js';
import type { GatewayConfig } from './provider.js';
import { call, channelsUrl, GatewayHttpError, isHostFailure } from './rest.js';

const OUTPUT_TYPES = new Set(['stream', 'display_data', 'update_display_data', 'execute_result', 'error']);
const CHANNEL_NAMES = new Set(['shell', 'control', 'stdin', 'iopub']);

export interface RemoteKernelDeps {
  gateway: GatewayConfig;
  limits: Limits;
  log: Logger;
  /** Every REST call's outcome, for the provider's health accounting. */
  onCall(ok: boolean): void;
}

interface PendingExecution {
  msgId: string;
  outputBytes: number;
  timer?: NodeJS.Timeout;
  breached?: boolean;
}

/** A remote kernel's work dir is on the gateway's host: not reachable from here. */
class RemoteFiles implements KernelFiles {
  list(): FileStat[] {
    return [];
  }
  read(): Buffer {
    throw new KernelManagerError('FILE_REFUSED', 'not available for remote kernels');
  }
  async write(): Promise<number> {
    throw new KernelManagerError('FILE_REFUSED', 'not available for remote kernels');
  }
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class RemoteKernel extends EventEmitter implements Kernel {
  readonly id: string;
  readonly specName: string;
  readonly session = randomUUID();
  readonly files: KernelFiles = new RemoteFiles();
  readonly #deps: RemoteKernelDeps;
  readonly #log: Logger;
  #owner: string | undefined;
  /** The kernel's id on the gateway. */
  #remoteId: string | undefined;
  #ws: WebSocket | undefined;
  #generation = 0;
  #state: ExecutionState = 'starting';
  #reason: string | undefined;
  #lastActivity = new Date();
  #lastClientSend = Date.now();
  #info: JsonObject | undefined;
  #transition: 'restart' | 'shutdown' | undefined;
  readonly #executions: PendingExecution[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #readyWaiter: ((msg: ChannelMessage) => void) | undefined;

  constructor(id: string, specName: string, deps: RemoteKernelDeps) {
    super();
    this.id = id;
    this.specName = specName;
    this.#deps = deps;
    this.#log = deps.log.child({ kernel: id, gateway: deps.gateway.url });
  }

  get owner(): string | undefined {
    return this.#owner;
  }
  get state(): ExecutionState {
    return this.#state;
  }
  get reason(): string | undefined {
    return this.#reason;
  }
  get lastActivity(): Date {
    return this.#lastActivity;
  }
  get info(): JsonObject | undefined {
    return this.#info;
  }
  /** The gateway this kernel runs on. */
  get gateway(): string {
    return this.#deps.gateway.url;
  }
  /** The kernel's id on the gateway (diagnostics). */
  get remoteId(): string | undefined {
    return this.#remoteId;
  }

  model(): KernelModelInfo {
    const m: KernelModelInfo = {
      id: this.id,
      name: this.specName,
      last_activity: this.#lastActivity.toISOString(),
      execution_state: this.#state,
    };
    if (this.#reason !== undefined) m.reason = this.#reason;
    return m;
  }

  /** Hands the kernel to its one owner and starts its idle and lifetime clocks (as LocalKernel.assign). */
  assign(owner: string | undefined): void {
    this.#owner = owner;
    this.#lastClientSend = Date.now();
    const { idleTimeoutMs, maxLifetimeMs } = this.#deps.limits;
    if (maxLifetimeMs > 0) {
      this.#timer(maxLifetimeMs, () =>
        this.#limit('lifetime', `kernel lifetime limit of ${fmt(maxLifetimeMs)} reached`),
      );
    }
    if (idleTimeoutMs > 0) {
      const check = () => {
        const idle = Date.now() - this.#lastClientSend;
        if (idle >= idleTimeoutMs) this.#limit('idle', `kernel idle for ${fmt(idleTimeoutMs)}, shut down`);
        else this.#timer(idleTimeoutMs - idle, check);
      };
      this.#timer(idleTimeoutMs, check);
    }
  }

  #timer(ms: number, fn: () => void): void {
    const t = setTimeout(() => {
      this.#timers.delete(t);
      fn();
    }, ms);
    t.unref();
    this.#timers.add(t);
  }

  async #rest(method: string, path: string, body?: unknown): Promise<unknown> {
    try {
      const r = await call(this.#deps.gateway, method, path, body);
      this.#deps.onCall(true);
      return r;
    } catch (e) {
      this.#deps.onCall(!isHostFailure(e));
      throw e;
    }
  }

  #kernelPath(suffix = ''): string {
    return `api/kernels/${encodeURIComponent(this.#remoteId ?? '')}${suffix}`;
  }

  /** POST /api/kernels, then the channels websocket; resolves when the kernel answers kernel_info. */
  async launch(): Promise<void> {
    let model: unknown;
    try {
      model = await this.#rest('POST', 'api/kernels', { name: this.specName });
    } catch (e) {
      throw new KernelManagerError('START_FAILED', `the gateway ${this.gateway} did not start a kernel`, {
        cause: e,
      });
    }
    const rid = (model as { id?: unknown } | undefined)?.id;
    if (typeof rid !== 'string')
      throw new KernelManagerError('START_FAILED', 'the gateway sent no kernel id');
    this.#remoteId = rid;
    try {
      await this.#connectAndWait();
    } catch (e) {
      await this.#stopRemote();
      throw e;
    }
    this.#log.debug({ remoteId: rid }, 'remote kernel ready');
    void this.#monitor();
  }

  async #connectAndWait(): Promise<void> {
    const gen = ++this.#generation;
    const deadline = Date.now() + this.#deps.limits.startupTimeoutMs;
    const ws = await this.#open(gen, deadline);
    let reply = false;
    let iopub = false;
    this.#readyWaiter = (m) => {
      if (m.channel === 'iopub') iopub = true;
      if (m.channel === 'shell' && m.header.msg_type === 'kernel_info_reply') {
        reply = true;
        this.#info = m.content;
      }
    };
    let nextRequest = 0;
    try {
      // Spec (kernel_info): the request makes the kernel publish busy/idle on iopub; resend until one arrives.
      while (!(reply && iopub)) {
        if (gen !== this.#generation || this.#isDead() || ws.readyState !== WebSocket.OPEN) {
          throw new KernelManagerError('START_FAILED', 'the remote kernel went away during start-up');
        }
        if (Date.now() > deadline) {
          throw new KernelManagerError(
            'START_FAILED',
            `the remote kernel did not become ready within ${fmt(this.#deps.limits.startupTimeoutMs)}`,
          );
        }
        if (Date.now() >= nextRequest && !iopub) {
          this.#sendRaw('shell', { header: { msg_type: 'kernel_info_request' }, content: {} });
          nextRequest = Date.now() + 400;
        }
        await sleep(10);
      }
    } finally {
      this.#readyWaiter = undefined;
    }
    this.#setState('idle');
  }

  #open(gen: number, deadline: number): Promise<WebSocket> {
    const g = this.#deps.gateway;
    const ws = new WebSocket(channelsUrl(g, this.#remoteId ?? '', this.session), {
      headers: g.token ? { authorization: `token ${g.token}` } : {},
      maxPayload: this.#deps.limits.maxMessageBytes,
      handshakeTimeout: Math.max(1, deadline - Date.now()),
    });
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.on('message', (data: ArrayBuffer | Buffer, isBinary: boolean) =>
      this.#onData(gen, isBinary ? (data as ArrayBuffer) : data.toString()),
    );
    ws.on('close', (code) => this.#onClose(gen, code));
    // A later socket error is followed by 'close', which decides what it means; without a listener it would throw.
    ws.on('error', (e) => this.#log.debug({ err: e }, 'kernel websocket error'));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', (e) =>
        reject(new KernelManagerError('START_FAILED', 'the kernel websocket did not open', { cause: e })),
      );
    });
  }

  #onData(gen: number, data: ArrayBuffer | string): void {
    if (gen !== this.#generation) return;
    let raw: JsonObject;
    try {
      raw = deserialize(data as ArrayBuffer, '') as unknown as JsonObject;
    } catch {
      this.#log.warn('dropped an unreadable message from the gateway');
      return;
    }
    const channel = raw.channel;
    const header = raw.header as Header | undefined;
    if (typeof channel !== 'string' || !CHANNEL_NAMES.has(channel) || typeof header?.msg_type !== 'string') {
      return;
    }
    const buffers = Array.isArray(raw.buffers)
      ? (raw.buffers as (ArrayBuffer | ArrayBufferView)[]).map((b) =>
          ArrayBuffer.isView(b) ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.from(b),
        )
      : [];
    const msg: ChannelMessage = {
      channel: channel as ChannelMessage['channel'],
      header,
      parent_header: (raw.parent_header ?? {}) as Partial<Header>,
      metadata: (raw.metadata ?? {}) as JsonObject,
      content: (raw.content ?? {}) as JsonObject,
      buffers,
    };
    this.#lastActivity = new Date();
    this.#readyWaiter?.(msg);
    if (msg.channel === 'iopub')
      this.#trackIopub(msg, typeof data === 'string' ? data.length : data.byteLength);
    else if (msg.channel === 'shell' && isExecuteReply(msg)) this.#finishExecution(msg.parent_header.msg_id);
    this.emit('message', msg);
  }

  #trackIopub(msg: ChannelMessage, bytes: number): void {
    if (isStatus(msg)) {
      if (this.#state !== 'restarting' && this.#state !== 'dead' && !this.#readyWaiter) {
        this.#setState(msg.content.execution_state);
      }
      return;
    }
    const cap = this.#deps.limits.executionOutputBytes;
    if (cap > 0 && OUTPUT_TYPES.has(msg.header.msg_type)) {
      const ex = this.#executions.find((e) => e.msgId === msg.parent_header.msg_id);
      if (!ex) return;
      ex.outputBytes += bytes;
      if (ex.outputBytes > cap && !ex.breached) {
        this.#breach(ex, 'output', `output limit of ${Math.round(cap / 2 ** 20)} MiB per execution reached`);
      }
    }
  }

  /** The websocket closed under us: find out whether the kernel or the gateway is gone. */
  #onClose(gen: number, code: number): void {
    if (gen !== this.#generation || this.#transition || this.#isDead()) return;
    void (async () => {
      const why = await this.#probe();
      if (gen !== this.#generation || this.#transition || this.#isDead()) return;
      if (why) {
        this.#die(why);
        return;
      }
      // The kernel lives on: the connection alone dropped (a gateway restart of its proxy, say).
      try {
        this.#log.info({ code }, 'kernel websocket closed; reconnecting');
        await this.#open(++this.#generation, Date.now() + this.#deps.limits.startupTimeoutMs);
      } catch {
        this.#die("the websocket to the kernel's gateway closed and could not be reopened");
      }
    })();
  }

  /** GET the kernel's model: undefined while it lives, else why it is gone. */
  async #probe(): Promise<string | undefined> {
    try {
      const m = (await this.#rest('GET', this.#kernelPath())) as { execution_state?: unknown } | undefined;
      if (m?.execution_state === 'dead') return 'the kernel died on its gateway';
      return undefined;
    } catch (e) {
      if (e instanceof GatewayHttpError && e.status === 404) return 'the kernel is gone from its gateway';
      return "the kernel's gateway stopped answering";
    }
  }

  /** Heartbeat: the websocket plus a periodic GET of the kernel model; 3 failed checks in a row: dead. */
  async #monitor(): Promise<void> {
    const interval = Math.max(this.#deps.limits.heartbeatIntervalMs, 1_000);
    let failures = 0;
    while (!this.#isDead()) {
      await sleep(interval);
      if (this.#isDead()) return;
      if (this.#transition) continue;
      const why = await this.#probe();
      if (this.#isDead() || this.#transition) continue;
      if (!why) failures = 0;
      else if (why.includes('gone') || why.includes('died') || ++failures >= 3) {
        this.#die(why);
        return;
      }
    }
  }

  /** Marks the kernel dead from outside (its gateway was marked down). */
  lost(reason: string): void {
    if (this.#isDead()) return;
    this.#generation++;
    this.#ws?.terminate();
    this.#ws = undefined;
    this.#die(reason);
  }

  #isDead(): boolean {
    return this.#state === 'dead';
  }

  #setState(s: ExecutionState, reason?: string): void {
    if (this.#state === s && reason === undefined) return;
    this.#state = s;
    if (reason !== undefined) this.#reason = reason;
    this.emit('status', s, reason);
  }

  // Per-execution wall clock, as LocalKernel: a request's clock starts when it reaches the head of the queue.
  #startHeadClock(): void {
    const head = this.#executions[0];
    const wall = this.#deps.limits.executionWallMs;
    if (!head || head.timer || wall <= 0) return;
    head.timer = setTimeout(
      () => this.#breach(head, 'wall', `execution time limit of ${fmt(wall)} reached`),
      wall,
    );
    head.timer.unref();
  }

  #finishExecution(msgId: string | undefined): void {
    const i = this.#executions.findIndex((e) => e.msgId === msgId);
    if (i < 0) return;
    const [ex] = this.#executions.splice(i, 1);
    if (ex?.timer) clearTimeout(ex.timer);
    this.#startHeadClock();
  }

  #breach(ex: PendingExecution, kind: 'wall' | 'output', message: string): void {
    if (ex.breached || this.#isDead()) return;
    ex.breached = true;
    this.#log.info({ kind, parent: ex.msgId }, message);
    this.emit('limit', { kind, message, parentMsgId: ex.msgId });
    void this.interrupt().catch(() => undefined);
    this.#timer(this.#deps.limits.interruptGraceMs, () => {
      if (this.#executions.includes(ex)) void this.shutdown(`${message}; the kernel ignored the interrupt`);
    });
  }

  #limit(kind: 'idle' | 'lifetime', message: string): void {
    if (this.#isDead()) return;
    this.emit('limit', { kind, message });
    void this.shutdown(message);
  }

  #sendRaw(channel: SendChannel, msg: OutgoingMessage): Header {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN)
      throw new KernelManagerError('DEAD', 'the kernel is not connected');
    const header: Header = {
      msg_id: randomUUID(),
      session: this.session,
      username: 'runcell',
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
      ...msg.header,
    };
    const wire = {
      channel,
      header,
      parent_header: msg.parent_header ?? {},
      metadata: msg.metadata ?? {},
      content: msg.content,
      buffers: (msg.buffers ?? []).map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength)),
    };
    ws.send(serialize(wire as unknown as Parameters<typeof serialize>[0], ''));
    return header;
  }

  send(channel: SendChannel, msg: OutgoingMessage): Header {
    if (this.#isDead()) throw new KernelManagerError('DEAD', `the kernel is dead: ${this.#reason ?? ''}`);
    const header = this.#sendRaw(channel, msg);
    this.#lastClientSend = Date.now();
    this.#lastActivity = new Date();
    if (channel === 'shell' && header.msg_type === 'execute_request') {
      this.#executions.push({ msgId: header.msg_id, outputBytes: 0 });
      this.#startHeadClock();
    }
    return header;
  }

  messages(): AsyncIterableIterator<ChannelMessage> {
    return messagesOf(this);
  }

  execute(code: string, opts: ExecuteOptions = {}): AsyncIterableIterator<ChannelMessage> {
    return executeOn(this, code, opts);
  }

  /** REST interrupt: the gateway signals or messages the kernel as its spec says. */
  async interrupt(): Promise<void> {
    if (this.#isDead()) throw new KernelManagerError('DEAD', 'the kernel is dead');
    await this.#rest('POST', this.#kernelPath('/interrupt'));
  }

  async restart(): Promise<void> {
    if (this.#isDead()) throw new KernelManagerError('DEAD', 'the kernel is dead');
    if (this.#transition)
      throw new KernelManagerError('DEAD', `the kernel is already in ${this.#transition}`);
    this.#transition = 'restart';
    this.#setState('restarting');
    try {
      this.#generation++;
      this.#ws?.close();
      this.#clearExecutions();
      await this.#rest('POST', this.#kernelPath('/restart'));
      this.#state = 'starting';
      await this.#connectAndWait();
      this.emit('restarted');
    } catch (e) {
      this.#transition = undefined;
      await this.shutdown('the kernel could not be restarted');
      throw e;
    } finally {
      this.#transition = undefined;
    }
  }

  async shutdown(reason = 'shut down'): Promise<void> {
    if (this.#isDead()) return;
    this.#transition = 'shutdown';
    try {
      await this.#stopRemote();
    } finally {
      this.#die(reason);
    }
  }

  /** DELETE the kernel on the gateway (best effort: a gone gateway has nothing left to delete). */
  async #stopRemote(): Promise<void> {
    this.#generation++;
    this.#ws?.close();
    this.#ws = undefined;
    if (this.#remoteId === undefined) return;
    try {
      await this.#rest('DELETE', this.#kernelPath());
    } catch (e) {
      this.#log.debug({ err: e }, 'DELETE of the remote kernel failed');
    }
  }

  #clearExecutions(): void {
    for (const ex of this.#executions) if (ex.timer) clearTimeout(ex.timer);
    this.#executions.length = 0;
  }

  #die(reason: string): void {
    if (this.#isDead()) return;
    this.#generation++;
    this.#ws?.terminate();
    this.#ws = undefined;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#clearExecutions();
    this.#transition = undefined;
    // Reasons reach browsers: they never name the gateway's (internal) address; the log does.
    this.#log.info({ reason }, 'remote kernel dead');
    this.#setState('dead', reason);
    this.emit('dead', reason);
  }
}

function fmt(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
