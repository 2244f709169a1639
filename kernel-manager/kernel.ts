// One running kernel: launch in the sandbox, wire protocol over its channels, lifecycle and limits.
import { randomBytes, randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { Channels } from './channels.js';
import { KernelManagerError } from './errors.js';
import { executeOn, messagesOf } from './execute.js';
import {
  type ChannelMessage,
  type ExecutionState,
  type Header,
  isExecuteReply,
  isStatus,
  type JsonObject,
  PROTOCOL_VERSION,
  type SendChannel,
} from './messages.js';
import type { ExitInfo, Sandbox, SandboxedProcess } from './sandbox/types.js';
import type {
  ExecuteOptions,
  Kernel,
  KernelModelInfo,
  KernelSpecInfo,
  Limits,
  OutgoingMessage,
} from './types.js';
import { Signer, WireError } from './wire.js';
import { pidOwnedBy, WorkDir } from './workdir.js';

/** The work dir inside the sandbox (bwrap.ts binds a sized tmpfs there and starts the kernel in it). */
const SANDBOX_HOME = '/home/kernel';

const OUTPUT_TYPES = new Set(['stream', 'display_data', 'update_display_data', 'execute_result', 'error']);

export interface KernelDeps {
  sandbox: Sandbox;
  sandboxed: boolean;
  /** The niceness kernels normally run at (the sandbox's `nice`), restored after deprioritize(false). */
  nice: number;
  limits: Limits;
  log: Logger;
}

interface PendingExecution {
  msgId: string;
  outputBytes: number;
  timer?: NodeJS.Timeout;
  breached?: boolean;
}

/** How long after an execute_reply a missing idle status is waited for before it is supplied. */
const IDLE_GRACE_MS = 3_000;
/** The niceness of a deprioritized kernel: it runs only when nothing else wants the CPU. */
const LOWEST_PRIORITY = 19;
/** The topic frame of ipykernel's stream messages starts with this. */
const STREAM_TOPIC = Buffer.from('stream.');

function newHeaderFields(msgType: string, session: string): Header {
  return {
    msg_id: '',
    session,
    username: 'runcell',
    date: new Date().toISOString(),
    msg_type: msgType,
    version: PROTOCOL_VERSION,
  };
}

const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export class LocalKernel extends EventEmitter implements Kernel {
  readonly id: string;
  readonly specName: string;
  readonly session = randomUUID();
  #owner: string | undefined;
  readonly #spec: KernelSpecInfo;
  readonly #deps: KernelDeps;
  readonly #log: Logger;
  #proc: SandboxedProcess | undefined;
  #channels: Channels | undefined;
  #signer: Signer | undefined;
  #generation = 0;
  #state: ExecutionState = 'starting';
  #reason: string | undefined;
  #lastActivity = new Date();
  #dropStreams = false;
  #lastClientSend = Date.now();
  #info: JsonObject | undefined;
  #transition: 'restart' | 'shutdown' | undefined;
  /** execute_requests sent and not yet replied to, in the order the kernel runs them. */
  readonly #executions: PendingExecution[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #readyWaiter: ((msg: ChannelMessage) => void) | undefined;
  /** Executions replied to whose idle status has not arrived yet (see #expectIdle). */
  readonly #idleTimers = new Map<string, NodeJS.Timeout>();
  readonly #idleSeen = new Set<string>();
  /** The kernel's work dir: files the code writes, and uploads placed for it. */
  readonly files: WorkDir;

  constructor(id: string, spec: KernelSpecInfo, deps: KernelDeps) {
    super();
    this.id = id;
    this.specName = spec.name;
    this.#spec = spec;
    this.#deps = deps;
    this.#log = deps.log.child({ kernel: id });
    this.files = new WorkDir(
      () => this.#workDir(),
      () => this.#proc?.uid,
      deps.sandboxed,
    );
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
  /** Host pid of the kernel process (tests and diagnostics). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }
  /** Host uid the kernel runs as. */
  get uid(): number | undefined {
    return this.#proc?.uid;
  }
  deprioritize(on: boolean): void {
    // Stream output stops at the kernel's own socket; what was already on its way is dropped unparsed.
    this.#channels?.streams(!on);
    this.#dropStreams = on;
    // Every thread of the kernel process yields the CPU (no child process is spawned for this: a
    // spawn would stall the event loop). Only a sandboxed kernel's own process is ever reniced.
    const pid = this.pid;
    if (!this.#deps.sandboxed || pid === undefined || this.uid === undefined || this.uid < 1000) return;
    const nice = on ? LOWEST_PRIORITY : this.#deps.nice;
    let tids: string[] = [];
    try {
      tids = readdirSync(`/proc/${pid}/task`);
    } catch {
      return; // gone
    }
    for (const tid of tids) {
      try {
        setPriority(Number(tid), nice);
      } catch {
        // The thread ended meanwhile.
      }
    }
    this.#log.info({ nice }, on ? 'kernel throttled (output flood)' : 'kernel throttle lifted');
  }

  /** Messages from the kernel dropped for bad or replayed signatures. */
  get rejectedMessages(): number {
    return this.#signer?.rejected ?? 0;
  }

  #workDir(): string | undefined {
    const proc = this.#proc;
    if (!proc || this.#state === 'dead' || this.#state === 'restarting') return undefined;
    if (!this.#deps.sandboxed) return dirname(proc.ipcPrefix);
    // Through the kernel's own root; only while the pid is still the kernel's (never a recycled one).
    if (proc.pid === undefined || proc.uid === undefined || !pidOwnedBy(proc.pid, proc.uid)) return undefined;
    return `/proc/${proc.pid}/root${SANDBOX_HOME}`;
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

  /** Hands a pooled kernel to its one owner and starts its idle and lifetime clocks. */
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

  /** Starts the kernel process and resolves when it answers kernel_info and publishes on iopub. */
  async launch(): Promise<void> {
    const gen = ++this.#generation;
    const key = randomBytes(32).toString('hex');
    this.#signer = new Signer(key);
    const spec = this.#spec;
    const started = Date.now();
    try {
      this.#proc = await this.#deps.sandbox.launch({
        kernelId: this.id,
        argv: spec.argv,
        env: { ...spec.env, JPY_PARENT_PID: '1' },
        connectionFile: (ip) =>
          Buffer.from(
            JSON.stringify({
              transport: 'ipc',
              ip,
              shell_port: 1,
              iopub_port: 2,
              stdin_port: 3,
              control_port: 4,
              hb_port: 5,
              key,
              signature_scheme: 'hmac-sha256',
              kernel_name: spec.name,
            }),
          ),
      });
    } catch (e) {
      throw new KernelManagerError('START_FAILED', 'the kernel sandbox could not be set up', { cause: e });
    }
    const proc = this.#proc;
    if (this.#isDead()) {
      // Shut down while the sandbox was being set up: do not leave the new process behind.
      await this.#teardown();
      throw new KernelManagerError('START_FAILED', 'the kernel was shut down during start-up');
    }
    let exited: ExitInfo | undefined;
    void proc.exited.then((info) => {
      exited = info;
      this.#onExit(gen, info);
    });
    this.#channels = new Channels(proc.ipcPrefix, this.#deps.limits.maxMessageBytes, {
      onFrames: (ch, frames) => this.#onFrames(gen, ch, frames),
      // A dying kernel drops iopub too: only a disconnect while the process lives means an
      // oversized message (ZMQ's maxMessageSize cuts the connection).
      onIopubDisconnect: () =>
        setTimeout(() => {
          if (gen === this.#generation && !exited && this.#state !== 'dead' && !this.#transition) {
            const mib = Math.round(this.#deps.limits.maxMessageBytes / 2 ** 20);
            void this.#kill(`a single output message exceeded the ${mib} MiB limit`, 'output');
          }
        }, 500).unref(),
    });
    try {
      await this.#waitReady(gen, () => exited);
    } catch (e) {
      await this.#teardown();
      throw e;
    }
    this.#log.debug({ ms: Date.now() - started, pid: proc.pid, uid: proc.uid }, 'kernel ready');
    void this.#heartbeat(gen);
  }

  async #waitReady(gen: number, exited: () => ExitInfo | undefined): Promise<void> {
    let reply = false;
    let iopub = false;
    this.#readyWaiter = (m) => {
      if (m.channel === 'iopub') iopub = true;
      if (m.channel === 'shell' && m.header.msg_type === 'kernel_info_reply') {
        reply = true;
        this.#info = m.content;
      }
    };
    const deadline = Date.now() + this.#deps.limits.startupTimeoutMs;
    let nextRequest = 0;
    try {
      // Spec: a kernel_info_request makes the kernel publish busy/idle on iopub; resending it until
      // one arrives covers the PUB/SUB slow joiner (messages published before SUB connects are lost).
      while (!(reply && iopub && this.#channels?.connected)) {
        const gone = exited();
        if (gone || gen !== this.#generation || this.#isDead()) {
          throw new KernelManagerError(
            'START_FAILED',
            `the kernel exited during start-up${gone?.reason ? `: ${gone.reason}` : ''}`,
          );
        }
        if (Date.now() > deadline) {
          throw new KernelManagerError(
            'START_FAILED',
            `the kernel did not become ready within ${fmt(this.#deps.limits.startupTimeoutMs)}`,
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

  async #heartbeat(gen: number): Promise<void> {
    const interval = this.#deps.limits.heartbeatIntervalMs;
    let lastBeat = Date.now();
    while (gen === this.#generation && this.#state !== 'dead') {
      const t0 = Date.now();
      const ok = await this.#channels?.ping(interval);
      if (gen !== this.#generation || this.#isDead() || this.#transition) return;
      if (ok) lastBeat = Date.now();
      else if (Date.now() - lastBeat >= 3 * interval) {
        await this.#kill('the kernel stopped answering its heartbeat (frozen or dead)', undefined);
        return;
      }
      await sleep(Math.max(0, interval - (Date.now() - t0)));
    }
  }

  #onFrames(gen: number, channel: ChannelMessage['channel'], frames: Buffer[]): void {
    if (gen !== this.#generation || !this.#signer) return;
    // A throttled kernel's stream output still queued here: dropped before it is verified or parsed
    // (ipykernel's topic frame, first, says what it is; nothing else is looked at).
    if (this.#dropStreams && channel === 'iopub' && frames[0]?.subarray(0, 7).equals(STREAM_TOPIC)) return;
    let msg: ChannelMessage;
    try {
      msg = { ...this.#signer.parse(frames).message, channel };
    } catch (e) {
      if (e instanceof WireError) {
        this.#log.warn({ channel, kind: e.kind }, 'dropped a message from the kernel');
        return;
      }
      throw e;
    }
    // A kernel reports busy, idle or starting. Only the manager announces a death or a restart: a
    // kernel's own status 'dead' or 'restarting' (ipykernel never sends one) is a forgery aimed at
    // its clients, dropped here.
    if (channel === 'iopub' && msg.header.msg_type === 'status' && !isStatus(msg)) {
      this.#log.warn(
        { state: String(msg.content.execution_state).slice(0, 40) },
        'dropped a status from the kernel',
      );
      return;
    }
    this.#lastActivity = new Date();
    this.#readyWaiter?.(msg);
    if (channel === 'iopub') this.#trackIopub(msg, frames);
    else if (channel === 'shell' && isExecuteReply(msg)) {
      this.#finishExecution(msg.parent_header.msg_id);
      this.#expectIdle(msg.parent_header);
    }
    this.emit('message', msg);
  }

  // Spec: every request's iopub output ends with status idle. A kernel's PUB socket drops messages when
  // we cannot keep up (its high-water mark), and that idle may be among them: clients would wait forever.
  // Once the execute_reply is in, a missing idle is supplied after IDLE_GRACE_MS.
  #expectIdle(parent: Partial<Header>): void {
    const id = parent.msg_id;
    if (!id || this.#idleSeen.delete(id)) return;
    const t = setTimeout(() => {
      this.#idleTimers.delete(id);
      if (this.#isDead()) return;
      this.#log.warn({ parent: id }, 'status idle lost (output flood): supplying it');
      const idle: ChannelMessage = {
        channel: 'iopub',
        header: { ...newHeaderFields('status', this.session), msg_id: randomUUID() },
        parent_header: parent,
        metadata: {},
        content: { execution_state: 'idle', runcell_synthetic: true },
        buffers: [],
      };
      this.#trackIopub(idle, []);
      this.emit('message', idle);
    }, IDLE_GRACE_MS);
    t.unref();
    this.#idleTimers.set(id, t);
  }

  #idleArrived(parentId: string | undefined): void {
    if (!parentId) return;
    const t = this.#idleTimers.get(parentId);
    if (t) {
      clearTimeout(t);
      this.#idleTimers.delete(parentId);
    } else {
      // Idle can arrive before the reply (separate sockets): remember it briefly, bounded.
      this.#idleSeen.add(parentId);
      if (this.#idleSeen.size > 1_000) this.#idleSeen.delete(this.#idleSeen.values().next().value as string);
    }
  }

  #trackIopub(msg: ChannelMessage, frames: Buffer[]): void {
    const parent = msg.parent_header.msg_id;
    if (isStatus(msg)) {
      if (msg.content.execution_state === 'idle' && frames.length > 0) this.#idleArrived(parent);
      if (this.#state !== 'restarting' && this.#state !== 'dead' && !this.#readyWaiter) {
        this.#setState(msg.content.execution_state);
      }
      return;
    }
    const cap = this.#deps.limits.executionOutputBytes;
    if (cap > 0 && OUTPUT_TYPES.has(msg.header.msg_type)) {
      const ex = this.#executions.find((e) => e.msgId === parent);
      if (!ex) return;
      for (const f of frames) ex.outputBytes += f.length;
      if (ex.outputBytes > cap && !ex.breached) {
        this.#breach(ex, 'output', `output limit of ${Math.round(cap / 2 ** 20)} MiB per execution reached`);
      }
    }
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

  // Per-execution wall clock: the clock of a request starts when it reaches the head of the queue
  // (the kernel runs execute_requests one at a time), so queued requests are not charged.
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
    if (ex.breached || this.#state === 'dead') return;
    ex.breached = true;
    this.#log.info({ kind, parent: ex.msgId }, message);
    this.emit('limit', { kind, message, parentMsgId: ex.msgId });
    void this.interrupt().catch(() => undefined);
    this.#timer(this.#deps.limits.interruptGraceMs, () => {
      if (this.#executions.includes(ex))
        void this.#kill(`${message}; the kernel ignored the interrupt`, kind);
    });
  }

  #limit(kind: 'idle' | 'lifetime', message: string): void {
    if (this.#state === 'dead') return;
    this.emit('limit', { kind, message });
    void this.shutdown(message);
  }

  #sendRaw(channel: SendChannel, msg: OutgoingMessage): Header {
    if (!this.#channels || !this.#signer) throw new KernelManagerError('DEAD', 'the kernel is not running');
    const header: Header = {
      msg_id: randomUUID(),
      session: this.session,
      username: 'runcell',
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
      ...msg.header,
    };
    const frames = this.#signer.serialize({
      header,
      parent_header: msg.parent_header ?? {},
      metadata: msg.metadata ?? {},
      content: msg.content,
      buffers: msg.buffers ?? [],
    });
    this.#channels.send(channel, frames).catch((e: unknown) => this.#log.debug({ err: e }, 'send failed'));
    return header;
  }

  send(channel: SendChannel, msg: OutgoingMessage): Header {
    if (this.#state === 'dead')
      throw new KernelManagerError('DEAD', `the kernel is dead: ${this.#reason ?? ''}`);
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

  /** Runs one silent, history-less execute so the kernel's first real one is as fast as the rest. */
  async warmUp(): Promise<void> {
    for await (const _ of this.execute('pass', { silent: true, storeHistory: false })) void _;
  }

  async interrupt(): Promise<void> {
    if (this.#state === 'dead') throw new KernelManagerError('DEAD', 'the kernel is dead');
    // Sandboxed kernels are interrupted by message (the kernel signals itself); a spec that asks for
    // signal mode gets SIGINT when the kernel runs unsandboxed.
    if (this.#spec.interrupt_mode === 'signal' && !this.#deps.sandboxed && this.#proc?.pid) {
      this.#proc.signal('SIGINT');
    } else {
      this.#sendRaw('control', { header: { msg_type: 'interrupt_request' }, content: {} });
    }
  }

  async restart(): Promise<void> {
    if (this.#state === 'dead') throw new KernelManagerError('DEAD', 'the kernel is dead');
    if (this.#transition)
      throw new KernelManagerError('DEAD', `the kernel is already in ${this.#transition}`);
    this.#transition = 'restart';
    this.#setState('restarting');
    try {
      await this.#stopProcess(true);
      this.#clearExecutions();
      this.#state = 'starting';
      await this.launch();
      this.emit('restarted');
    } catch (e) {
      this.#transition = undefined;
      await this.#kill('the kernel could not be restarted', undefined);
      throw e;
    } finally {
      this.#transition = undefined;
    }
  }

  async shutdown(reason = 'shut down'): Promise<void> {
    if (this.#state === 'dead') return;
    this.#transition = 'shutdown';
    try {
      await this.#stopProcess(false);
    } finally {
      this.#die(reason);
    }
  }

  /** shutdown_request on control, then kill the whole sandbox after the grace period. */
  async #stopProcess(restart: boolean): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    try {
      this.#sendRaw('control', { header: { msg_type: 'shutdown_request' }, content: { restart } });
      await Promise.race([proc.exited, sleep(this.#deps.limits.shutdownGraceMs)]);
    } catch {
      // Channels already gone: fall through to the kill.
    }
    await this.#teardown();
  }

  async #teardown(): Promise<void> {
    this.#generation++;
    for (const t of this.#idleTimers.values()) clearTimeout(t);
    this.#idleTimers.clear();
    this.#idleSeen.clear();
    this.#channels?.close();
    this.#channels = undefined;
    const proc = this.#proc;
    this.#proc = undefined;
    if (proc) {
      try {
        await proc.destroy();
      } catch (e) {
        this.#log.error({ err: e }, 'kernel processes survived destroy');
      }
    }
  }

  #clearExecutions(): void {
    for (const ex of this.#executions) if (ex.timer) clearTimeout(ex.timer);
    this.#executions.length = 0;
  }

  #onExit(gen: number, info: ExitInfo): void {
    if (gen !== this.#generation || this.#transition || this.#state === 'dead') return;
    const how = info.signal ? `killed by ${info.signal}` : `exited with code ${info.code}`;
    void this.#kill(info.reason ?? `the kernel process ${how}`, info.reason ? 'memory' : undefined);
  }

  /** Kills the kernel for good with a reason every client is told. */
  async #kill(reason: string, kind: 'wall' | 'output' | 'memory' | undefined): Promise<void> {
    if (this.#state === 'dead') return;
    if (kind === 'memory') this.emit('limit', { kind, message: reason });
    this.#log.info({ reason }, 'kernel killed');
    await this.#teardown();
    this.#die(reason);
  }

  #die(reason: string): void {
    if (this.#state === 'dead') return;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const t of this.#idleTimers.values()) clearTimeout(t);
    this.#idleTimers.clear();
    this.#clearExecutions();
    this.#transition = undefined;
    this.#setState('dead', reason);
    this.emit('dead', reason);
  }
}

function fmt(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}
