// What every kernel does whatever carries its messages: lifecycle state and events, readiness, execution
// tracking with the wall-clock and output limits, the idle and lifetime clocks, a lost idle status
// supplied, send/execute, restart and shutdown sequencing, and death. A subclass adds only its
// transport: LocalKernel (kernel.ts: a sandboxed process over ZMQ) and RemoteKernel
// (providers/remote-kernel.ts: a gateway's REST API and channels websocket).
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import { KernelManagerError } from './errors.js';
import { executeOn, messagesOf } from './execute.js';
import {
  type ChannelMessage,
  type ExecutionState,
  type Header,
  isExecuteReply,
  isStatus,
  type JsonObject,
  type Message,
  PROTOCOL_VERSION,
  type SendChannel,
} from './messages.js';
import type {
  ExecuteOptions,
  Kernel,
  KernelFiles,
  KernelModelInfo,
  LimitInfo,
  Limits,
  OutgoingMessage,
} from './types.js';

const OUTPUT_TYPES = new Set(['stream', 'display_data', 'update_display_data', 'execute_result', 'error']);

export interface CoreOptions {
  limits: Limits;
  log: Logger;
  /** How long after an execute_reply a missing idle status is waited for before it is supplied; 0: never. */
  idleGraceMs: number;
}

interface PendingExecution {
  msgId: string;
  /** The request's header: the parent of a reply supplied for it (#expectReply). */
  header: Header;
  outputBytes: number;
  timer?: NodeJS.Timeout;
  breached?: boolean;
  /** `silent` in the request: the kernel publishes no execute_input for it. */
  silent: boolean;
  /** The kernel has said busy for it. */
  busy?: boolean;
  /**
   * The kernel runs it with interrupts armed: execute_input has come (ipykernel publishes it after
   * arming SIGINT; busy comes before, while SIGINT is still ignored), or busy for a silent request.
   */
  running?: boolean;
  /** An interrupt was sent while it was at the head of the queue. */
  interrupted?: boolean;
  /** The kernel went idle for it without a reply yet (see #expectReply). */
  replyTimer?: NodeJS.Timeout;
}

/**
 * How long an interrupt asked for before the head execution runs waits for it to: past this it is sent
 * anyway (a kernel that never says busy must not swallow interrupts). After busy, a kernel that
 * publishes no execute_input gets it INTERRUPT_AFTER_BUSY_MS later.
 */
export const INTERRUPT_START_WAIT_MS = 5_000;
export const INTERRUPT_AFTER_BUSY_MS = 500;

/**
 * How long after a kernel's idle for an execution its reply may still come (it travels on another
 * socket) before one is supplied (#expectReply). Off with the idle grace (idleGraceMs 0).
 */
export const MISSING_REPLY_GRACE_MS = 1_000;

export const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms).unref());

export function fmt(ms: number): string {
  return ms % 1000 === 0 ? `${ms / 1000} s` : `${ms} ms`;
}

export abstract class KernelCore extends EventEmitter implements Kernel {
  readonly id: string;
  readonly specName: string;
  readonly session = randomUUID();
  abstract readonly files: KernelFiles;
  protected readonly limits: Limits;
  protected readonly log: Logger;
  readonly #idleGraceMs: number;
  #owner: string | undefined;
  #state: ExecutionState = 'starting';
  #reason: string | undefined;
  #lastActivity = new Date();
  /** When a client last sent something, or an execution last ended: the idle clock runs from here. */
  #lastUse = Date.now();
  #info: JsonObject | undefined;
  #transition: 'restart' | 'shutdown' | undefined;
  /** The restart under way: a restart() asked for meanwhile joins it. */
  #restarting: Promise<void> | undefined;
  /** The shutdown or kill under way: a second one joins it, so no caller sees the kernel gone before
   * its sandbox is (manager.close() after a job's own shutdown must wait for that teardown). */
  #ending: Promise<void> | undefined;
  /** execute_requests sent and not yet replied to, in the order the kernel runs them. */
  readonly #executions: PendingExecution[] = [];
  readonly #timers = new Set<NodeJS.Timeout>();
  #readyWaiter: ((msg: ChannelMessage) => void) | undefined;
  /** Executions replied to whose idle status has not arrived yet (see #expectIdle). */
  readonly #idleTimers = new Map<string, NodeJS.Timeout>();
  readonly #idleSeen = new Set<string>();
  /**
   * An interrupt asked for while the head execution was sent but is not running yet: a kernel
   * interrupted between the two (ipykernel ignores SIGINT while idle) would lose it and run the cell
   * to the end. It is sent once the execution runs (see PendingExecution.running).
   */
  #interruptAtStart:
    | { msgId: string; send: Promise<void>; fire(): void; drop(): void; soon(ms: number): void }
    | undefined;

  constructor(id: string, specName: string, opts: CoreOptions) {
    super();
    this.id = id;
    this.specName = specName;
    this.limits = opts.limits;
    this.log = opts.log;
    this.#idleGraceMs = opts.idleGraceMs;
  }

  // What a transport provides.
  /** Puts one complete message on the wire; throws KernelManagerError DEAD while there is no connection. */
  protected abstract transmit(channel: SendChannel, msg: Message): void;
  /** Interrupts the kernel's current execution. */
  protected abstract interruptKernel(): Promise<void>;
  /** Replaces the kernel by a fresh one (same id); resolves once it is ready (see awaitReady). */
  protected abstract restartKernel(): Promise<void>;
  /** Asks the kernel to stop, then removes it (shutdown). */
  protected abstract stopKernel(): Promise<void>;
  /** Removes the kernel at once (a limit, a failed restart): nothing of it is left running. */
  protected abstract destroyKernel(): Promise<void>;

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
  protected isDead(): boolean {
    return this.#state === 'dead';
  }
  /** A restart or shutdown is in progress: the transport's own losses are expected, not deaths. */
  protected get transitioning(): boolean {
    return this.#transition !== undefined;
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

  /** Hands the kernel to its one owner and starts its idle and lifetime clocks. */
  assign(owner: string | undefined): void {
    this.#owner = owner;
    this.#lastUse = Date.now();
    const { idleTimeoutMs, maxLifetimeMs } = this.limits;
    if (maxLifetimeMs > 0) {
      this.#timer(maxLifetimeMs, () =>
        this.#limit('lifetime', `kernel lifetime limit of ${fmt(maxLifetimeMs)} reached`),
      );
    }
    if (idleTimeoutMs > 0) {
      // A kernel running code is in use however long it runs (the execution limits bound that).
      const check = () => {
        if (this.#executions.length > 0) this.#lastUse = Date.now();
        const idle = Date.now() - this.#lastUse;
        if (idle >= idleTimeoutMs)
          this.#limit('idle', `kernel idle for ${fmt(idleTimeoutMs)}, shut down`, idleTimeoutMs);
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

  /**
   * Resolves once the kernel has answered kernel_info on shell and published on iopub (and `connected()`
   * holds); rejects with START_FAILED once `failed()` names a reason or `deadline` passes.
   */
  protected async awaitReady(o: {
    deadline: number;
    /** Who did not become ready, for the time-out message. */
    what: string;
    failed(): string | undefined;
    connected?(): boolean;
  }): Promise<void> {
    // After a restart's stop, the new kernel is starting (silently: clients were told 'restarting').
    if (this.#state !== 'dead') this.#state = 'starting';
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
      // Spec: a kernel_info_request makes the kernel publish busy/idle on iopub; resending it until
      // one arrives covers the PUB/SUB slow joiner (messages published before SUB connects are lost).
      while (!(reply && iopub && (o.connected?.() ?? true))) {
        const why = o.failed();
        if (why) throw new KernelManagerError('START_FAILED', why);
        if (Date.now() > o.deadline) {
          throw new KernelManagerError(
            'START_FAILED',
            `${o.what} did not become ready within ${fmt(this.limits.startupTimeoutMs)}`,
          );
        }
        if (Date.now() >= nextRequest && !iopub) {
          this.sendRaw('shell', { header: { msg_type: 'kernel_info_request' }, content: {} });
          nextRequest = Date.now() + 400;
        }
        await sleep(10);
      }
    } finally {
      this.#readyWaiter = undefined;
    }
    this.#setState('idle');
  }

  /** A verified message from the kernel; `bytes` is its size on the wire (counted against the output cap). */
  protected receive(msg: ChannelMessage, bytes: number): void {
    this.#lastActivity = new Date();
    this.#readyWaiter?.(msg);
    if (msg.channel === 'iopub') this.#trackIopub(msg, bytes, true);
    else if (msg.channel === 'shell' && isExecuteReply(msg)) {
      this.#finishExecution(msg.parent_header.msg_id);
      this.#expectIdle(msg.parent_header);
    }
    this.emit('message', msg);
  }

  // Spec: every request's iopub output ends with status idle. A kernel's PUB socket drops messages when
  // we cannot keep up (its high-water mark), and that idle may be among them: clients would wait forever.
  // Once the execute_reply is in, a missing idle is supplied after the grace period.
  #expectIdle(parent: Partial<Header>): void {
    const id = parent.msg_id;
    if (this.#idleGraceMs <= 0 || !id || this.#idleSeen.delete(id)) return;
    const t = setTimeout(() => {
      this.#idleTimers.delete(id);
      if (this.#state === 'dead') return;
      this.log.warn({ parent: id }, 'status idle lost (output flood): supplying it');
      const idle: ChannelMessage = {
        channel: 'iopub',
        header: {
          msg_id: randomUUID(),
          session: this.session,
          username: 'runcell',
          date: new Date().toISOString(),
          msg_type: 'status',
          version: PROTOCOL_VERSION,
        },
        parent_header: parent,
        metadata: {},
        content: { execution_state: 'idle', runcell_synthetic: true },
        buffers: [],
      };
      this.#trackIopub(idle, 0, false);
      this.emit('message', idle);
    }, this.#idleGraceMs);
    t.unref();
    this.#idleTimers.set(id, t);
  }

  // A kernel can end a request without a reply: ipykernel catches a KeyboardInterrupt (or an
  // exception) that lands in its own code around the cell, logs it and goes idle. Clients would wait
  // for the reply forever; MISSING_REPLY_GRACE_MS after the idle, one is supplied.
  #expectReply(parentId: string | undefined): void {
    const ex = this.#executions.find((e) => e.msgId === parentId);
    if (!ex || ex.replyTimer || this.#idleGraceMs <= 0) return;
    ex.replyTimer = setTimeout(() => {
      ex.replyTimer = undefined;
      if (this.#state === 'dead' || !this.#executions.includes(ex)) return;
      const [ename, evalue] = ex.interrupted
        ? ['KeyboardInterrupt', 'interrupted before the cell ran']
        : ['KernelError', 'the kernel ended this request without a reply'];
      this.log.warn({ parent: ex.msgId, ename }, 'execute_reply missing after status idle: supplying it');
      const reply: ChannelMessage = {
        channel: 'shell',
        header: {
          msg_id: randomUUID(),
          session: this.session,
          username: 'runcell',
          date: new Date().toISOString(),
          msg_type: 'execute_reply',
          version: PROTOCOL_VERSION,
        },
        parent_header: ex.header,
        metadata: {},
        content: {
          status: 'error',
          execution_count: null,
          ename,
          evalue,
          traceback: [],
          runcell_synthetic: true,
        },
        buffers: [],
      };
      this.#finishExecution(ex.msgId);
      this.emit('message', reply);
    }, MISSING_REPLY_GRACE_MS);
    ex.replyTimer.unref();
  }

  #idleArrived(parentId: string | undefined): void {
    if (!parentId || this.#idleGraceMs <= 0) return;
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

  #clearIdle(): void {
    for (const t of this.#idleTimers.values()) clearTimeout(t);
    this.#idleTimers.clear();
    this.#idleSeen.clear();
  }

  #trackIopub(msg: ChannelMessage, bytes: number, fromKernel: boolean): void {
    const parent = msg.parent_header.msg_id;
    if (isStatus(msg)) {
      if (msg.content.execution_state === 'idle' && fromKernel) {
        this.#idleArrived(parent);
        this.#expectReply(parent);
      }
      if (msg.content.execution_state === 'busy' && fromKernel) this.#executionBusy(parent);
      if (this.#state !== 'restarting' && this.#state !== 'dead' && !this.#readyWaiter) {
        this.#setState(msg.content.execution_state);
      }
      return;
    }
    if (msg.header.msg_type === 'execute_input' && fromKernel) this.#executionRunning(parent);
    const cap = this.limits.executionOutputBytes;
    if (cap > 0 && OUTPUT_TYPES.has(msg.header.msg_type)) {
      const ex = this.#executions.find((e) => e.msgId === parent);
      if (!ex) return;
      ex.outputBytes += bytes;
      if (ex.outputBytes > cap && !ex.breached) {
        this.#breach(ex, 'output', `output limit of ${Math.round(cap / 2 ** 20)} MiB per execution reached`);
      }
    }
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
    const wall = this.limits.executionWallMs;
    if (!head || head.timer || wall <= 0) return;
    head.timer = setTimeout(
      () => this.#breach(head, 'wall', `execution time limit of ${fmt(wall)} reached`),
      wall,
    );
    head.timer.unref();
  }

  #executionBusy(msgId: string | undefined): void {
    const ex = this.#executions.find((e) => e.msgId === msgId);
    if (!ex) return;
    ex.busy = true;
    if (ex.silent) this.#executionRunning(msgId);
    else {
      const pending = this.#interruptAtStart;
      if (pending && pending.msgId === msgId) pending.soon(INTERRUPT_AFTER_BUSY_MS);
    }
  }

  #executionRunning(msgId: string | undefined): void {
    const ex = this.#executions.find((e) => e.msgId === msgId);
    if (!ex) return;
    ex.running = true;
    const pending = this.#interruptAtStart;
    if (pending && pending.msgId === msgId) pending.fire();
  }

  #finishExecution(msgId: string | undefined): void {
    // Replied to before it was seen running (no execute_input: lost in a flood, or a kernel that
    // publishes none): nothing of it is left to interrupt.
    const pending = this.#interruptAtStart;
    if (pending && pending.msgId === msgId) pending.drop();
    const i = this.#executions.findIndex((e) => e.msgId === msgId);
    if (i < 0) return;
    const [ex] = this.#executions.splice(i, 1);
    if (ex?.timer) clearTimeout(ex.timer);
    if (ex?.replyTimer) clearTimeout(ex.replyTimer);
    this.#lastUse = Date.now();
    this.#startHeadClock();
  }

  #clearExecutions(): void {
    this.#interruptAtStart?.drop();
    for (const ex of this.#executions) {
      if (ex.timer) clearTimeout(ex.timer);
      if (ex.replyTimer) clearTimeout(ex.replyTimer);
    }
    this.#executions.length = 0;
  }

  /** An execution over a limit: interrupt it; kill the kernel if it is still running after the grace. */
  #breach(ex: PendingExecution, kind: 'wall' | 'output', message: string): void {
    if (ex.breached || this.#state === 'dead') return;
    ex.breached = true;
    this.log.info({ kind, parent: ex.msgId }, message);
    this.#emitLimit({ kind, message, parentMsgId: ex.msgId });
    // At once, running or not: the kill after the grace follows either way.
    void this.#interruptNow(ex).catch(() => undefined);
    this.#timer(this.limits.interruptGraceMs, () => {
      if (this.#executions.includes(ex)) void this.kill(`${message}; the kernel ignored the interrupt`);
    });
  }

  #limit(kind: 'idle' | 'lifetime', message: string, afterMs?: number): void {
    if (this.#state === 'dead') return;
    this.#emitLimit(afterMs === undefined ? { kind, message } : { kind, message, afterMs });
    void this.shutdown(message);
  }

  #emitLimit(info: LimitInfo): void {
    this.emit('limit', info);
  }

  /** Fills in the header fields the caller left out and transmits the message. */
  protected sendRaw(channel: SendChannel, msg: OutgoingMessage): Header {
    const header: Header = {
      msg_id: randomUUID(),
      session: this.session,
      username: 'runcell',
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
      ...msg.header,
    };
    this.transmit(channel, {
      header,
      parent_header: msg.parent_header ?? {},
      metadata: msg.metadata ?? {},
      content: msg.content,
      buffers: msg.buffers ?? [],
    });
    return header;
  }

  send(channel: SendChannel, msg: OutgoingMessage): Header {
    if (this.#state === 'dead')
      throw new KernelManagerError('DEAD', `the kernel is dead: ${this.#reason ?? ''}`);
    const header = this.sendRaw(channel, msg);
    this.#lastUse = Date.now();
    this.#lastActivity = new Date();
    if (channel === 'shell' && header.msg_type === 'execute_request') {
      this.#executions.push({
        msgId: header.msg_id,
        header,
        silent: msg.content.silent === true,
        outputBytes: 0,
      });
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

  /**
   * Interrupts the execution running now, or, when the one at the head of the queue was sent but is
   * not running yet, that one as soon as it runs (at most INTERRUPT_START_WAIT_MS later). Resolves
   * once the interrupt is sent, or is moot (the execution ended first, the kernel restarted or died).
   */
  async interrupt(): Promise<void> {
    if (this.#state === 'dead') throw new KernelManagerError('DEAD', 'the kernel is dead');
    const head = this.#executions[0];
    if (!head || head.running) return this.#interruptNow(head);
    if (this.#interruptAtStart?.msgId === head.msgId) return this.#interruptAtStart.send;
    this.#interruptAtStart?.drop();
    let resolve = () => {};
    let reject: (e: unknown) => void = () => {};
    const send = new Promise<void>((res, rej) => {
      resolve = res;
      reject = rej;
    });
    let timer: NodeJS.Timeout | undefined;
    const settle = () => {
      clearTimeout(timer);
      if (this.#interruptAtStart?.msgId === head.msgId) this.#interruptAtStart = undefined;
    };
    const fire = () => {
      settle();
      this.#interruptNow(head).then(resolve, reject);
    };
    const soon = (ms: number) => {
      clearTimeout(timer);
      timer = setTimeout(() => {
        this.log.warn(
          { parent: head.msgId },
          'the execution to interrupt is not running yet: interrupting now',
        );
        fire();
      }, ms);
      timer.unref();
    };
    this.#interruptAtStart = {
      msgId: head.msgId,
      send,
      fire,
      soon,
      drop: () => {
        settle();
        resolve();
      },
    };
    soon(head.busy ? INTERRUPT_AFTER_BUSY_MS : INTERRUPT_START_WAIT_MS);
    return send;
  }

  /** Sends the interrupt; `target` (the head execution) is marked interrupted. */
  #interruptNow(target: PendingExecution | undefined): Promise<void> {
    if (target) target.interrupted = true;
    return this.interruptKernel();
  }

  async restart(): Promise<void> {
    if (this.#state === 'dead') throw new KernelManagerError('DEAD', 'the kernel is dead');
    // A second request (another client, a retry) wants the same fresh kernel: it waits for the restart
    // under way and shares its outcome rather than failing or restarting twice.
    if (this.#restarting) return this.#restarting;
    if (this.#transition)
      throw new KernelManagerError('DEAD', `the kernel is already in ${this.#transition}`);
    const restarting = this.#restart();
    this.#restarting = restarting;
    try {
      await restarting;
    } finally {
      if (this.#restarting === restarting) this.#restarting = undefined;
    }
  }

  async #restart(): Promise<void> {
    this.#transition = 'restart';
    this.#setState('restarting');
    try {
      this.#clearExecutions();
      this.#clearIdle();
      await this.restartKernel();
      this.emit('restarted');
    } catch (e) {
      this.#transition = undefined;
      await this.kill('the kernel could not be restarted');
      throw e;
    } finally {
      this.#transition = undefined;
    }
  }

  shutdown(reason = 'shut down'): Promise<void> {
    if (this.#ending) return this.#ending;
    if (this.#state === 'dead') return Promise.resolve();
    this.#transition = 'shutdown';
    this.#ending = (async () => {
      try {
        await this.stopKernel();
      } finally {
        this.die(reason);
      }
    })();
    return this.#ending;
  }

  /** Ends the kernel at once, with a reason every client is told (and the limit, when one caused it). */
  protected kill(reason: string, limit?: 'memory' | 'cpu'): Promise<void> {
    if (this.#ending) return this.#ending;
    if (this.#state === 'dead') return Promise.resolve();
    if (limit) this.#emitLimit({ kind: limit, message: reason });
    this.log.info({ reason }, 'kernel killed');
    // Losses of the transport from here on are this kill's doing, not deaths of their own.
    this.#transition = 'shutdown';
    this.#ending = (async () => {
      try {
        await this.destroyKernel();
      } finally {
        this.die(reason);
      }
    })();
    return this.#ending;
  }

  /** The kernel is gone for good: stop every clock and tell the listeners why. */
  protected die(reason: string): void {
    if (this.#state === 'dead') return;
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.#clearIdle();
    this.#clearExecutions();
    this.#transition = undefined;
    this.#setState('dead', reason);
    this.emit('dead', reason);
  }
}
