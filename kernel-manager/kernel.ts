// One local kernel: a process in the sandbox, the wire protocol over its ZMQ channels, its heartbeat and
// exit. Lifecycle, limits and execution tracking are the kernel core's (kernel-core.ts).
import { randomBytes } from 'node:crypto';
import { readdirSync } from 'node:fs';
import { setPriority } from 'node:os';
import { dirname } from 'node:path';
import type { Logger } from 'pino';
import { Channels } from './channels.js';
import { KernelManagerError, KernelStartError } from './errors.js';
import { KernelCore, sleep } from './kernel-core.js';
import { type ChannelMessage, isStatus, type Message, type SendChannel } from './messages.js';
import { startOutput } from './sandbox/tail.js';
import type { ExitInfo, Sandbox, SandboxedProcess } from './sandbox/types.js';
import type { KernelSpecInfo, Limits } from './types.js';
import { Signer, WireError } from './wire.js';
import { pidOwnedBy, WorkDir } from './workdir.js';

/** The work dir inside the sandbox (bwrap.ts binds a sized tmpfs there and starts the kernel in it). */
const SANDBOX_HOME = '/home/kernel';

export interface KernelDeps {
  sandbox: Sandbox;
  sandboxed: boolean;
  /** The niceness kernels normally run at (the sandbox's `nice`), restored after deprioritize(false). */
  nice: number;
  limits: Limits;
  log: Logger;
  /** Host paths to remove from a failed start's output (startOutput). */
  hidePaths: readonly string[];
}

/** How long after an execute_reply a missing idle status is waited for before it is supplied. */
const IDLE_GRACE_MS = 3_000;
/** The niceness of a deprioritized kernel: it runs only when nothing else wants the CPU. */
const LOWEST_PRIORITY = 19;
/** The topic frame of ipykernel's stream messages starts with this. */
const STREAM_TOPIC = Buffer.from('stream.');

export class LocalKernel extends KernelCore {
  readonly #spec: KernelSpecInfo;
  readonly #deps: KernelDeps;
  #proc: SandboxedProcess | undefined;
  #channels: Channels | undefined;
  #signer: Signer | undefined;
  #generation = 0;
  #dropStreams = false;
  /** Handed out: its starts (the first one done, restarts) have a kernel's full CPU weight. */
  #foreground = false;
  /** The kernel's work dir: files the code writes, and uploads placed for it. */
  readonly files: WorkDir;

  constructor(id: string, spec: KernelSpecInfo, deps: KernelDeps) {
    super(id, spec.name, {
      limits: deps.limits,
      log: deps.log.child({ kernel: id }),
      idleGraceMs: IDLE_GRACE_MS,
    });
    this.#spec = spec;
    this.#deps = deps;
    this.files = new WorkDir(
      () => this.#workDir(),
      () => this.#proc?.uid,
      deps.sandboxed,
      () => this.#proc?.pid,
    );
  }

  /**
   * Handed out of the pool: from now on it weighs on the CPU as a kernel in use, not as a start
   * refilling the pool (which yields to kernels in use). Never fails a hand-out.
   */
  async foreground(): Promise<void> {
    this.#foreground = true;
    try {
      await this.#proc?.foreground?.();
    } catch (e) {
      this.log.warn({ err: e }, 'could not raise the CPU weight of a handed-out kernel');
    }
  }

  /** Handed out, or a request waits on its start: it has a kernel's full CPU weight. */
  get isForeground(): boolean {
    return this.#foreground;
  }

  /** Host pid of the kernel process (tests and diagnostics). */
  get pid(): number | undefined {
    return this.#proc?.pid;
  }
  /** Forked from a zygote that drew a matplotlib figure (the prelude draws less). */
  get figureDrawn(): boolean {
    return this.#proc?.figureDrawn === true;
  }
  /** Host uid the kernel runs as. */
  get uid(): number | undefined {
    return this.#proc?.uid;
  }
  /**
   * Sends a signal to the kernel process, only while it runs and the pid is still its own (the pool
   * stops a rehearsal this way; interrupts go through interrupt()).
   */
  signal(sig: NodeJS.Signals): void {
    this.#proc?.signal(sig);
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
    this.log.info({ nice }, on ? 'kernel throttled (output flood)' : 'kernel throttle lifted');
  }

  /**
   * Where the last launch's time went (ms): the sandbox's set-up (uid, runtime dir, cgroups, bubblewrap
   * or the fork, until the process runs) and the kernel's own start (interpreter and ipykernel imports,
   * then the kernel_info handshake on shell and iopub).
   */
  startTimings: { sandboxMs: number; readyMs: number } | undefined;

  /** Messages from the kernel dropped for bad or replayed signatures. */
  get rejectedMessages(): number {
    return this.#signer?.rejected ?? 0;
  }

  #workDir(): string | undefined {
    const proc = this.#proc;
    if (!proc || this.isDead() || this.state === 'restarting') return undefined;
    if (!this.#deps.sandboxed) return dirname(proc.ipcPrefix);
    // Through the kernel's own root; only while the pid is still the kernel's (never a recycled one).
    if (proc.pid === undefined || proc.uid === undefined || !pidOwnedBy(proc.pid, proc.uid)) return undefined;
    return `/proc/${proc.pid}/root${SANDBOX_HOME}`;
  }

  /** Starts the kernel process and resolves when it answers kernel_info and publishes on iopub. */
  async launch(): Promise<void> {
    const gen = ++this.#generation;
    const key = randomBytes(32).toString('hex');
    this.#signer = new Signer(key);
    const spec = this.#spec;
    const started = Date.now();
    // One start-up budget for the sandbox's set-up and the kernel's readiness together.
    const deadline = started + this.limits.startupTimeoutMs;
    const background = !this.#foreground;
    try {
      this.#proc = await this.#deps.sandbox.launch({
        kernelId: this.id,
        deadline,
        background,
        argv: spec.argv,
        env: { ...spec.env, JPY_PARENT_PID: '1' },
        binds: spec.binds,
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
    // Promoted (foreground()) while its sandbox was being set up in the background.
    if (this.#foreground && background) void this.foreground();
    const spawned = Date.now();
    if (this.isDead()) {
      // Shut down while the sandbox was being set up: do not leave the new process behind.
      await this.#teardown();
      throw new KernelManagerError('START_FAILED', 'the kernel was shut down during start-up');
    }
    let exited: ExitInfo | undefined;
    void proc.exited.then((info) => {
      exited = info;
      this.#onExit(gen, info);
    });
    this.#channels = new Channels(proc.ipcPrefix, this.limits.maxMessageBytes, {
      onFrames: (ch, frames) => this.#onFrames(gen, ch, frames),
      // A dying kernel drops iopub too: only a disconnect while the process lives means an
      // oversized message (ZMQ's maxMessageSize cuts the connection).
      onIopubDisconnect: () =>
        setTimeout(() => {
          if (gen === this.#generation && !exited && !this.isDead() && !this.transitioning) {
            const mib = Math.round(this.limits.maxMessageBytes / 2 ** 20);
            void this.kill(`a single output message exceeded the ${mib} MiB limit`);
          }
        }, 500).unref(),
    });
    try {
      await this.awaitReady({
        deadline,
        what: 'the kernel',
        connected: () => this.#channels?.connected ?? false,
        failed: () =>
          exited || gen !== this.#generation || this.isDead()
            ? `the kernel exited during start-up${exited?.reason ? `: ${exited.reason}` : ''}`
            : undefined,
      });
    } catch (e) {
      await this.#teardown();
      throw await this.#explain(e, proc);
    }
    this.startTimings = { sandboxMs: spawned - started, readyMs: Date.now() - spawned };
    // `pid` is the server's own on every line: the kernel's has its own key.
    this.log.debug({ ms: Date.now() - started, kernelPid: proc.pid, uid: proc.uid }, 'kernel ready');
    void this.#heartbeat(gen);
  }

  /**
   * A start-up failure with the end of what the kernel wrote (a ModuleNotFoundError, a bad argv): logged
   * for the operator and carried to the client that asked, without the server's host paths.
   */
  async #explain(e: unknown, proc: SandboxedProcess): Promise<unknown> {
    if (!(e instanceof KernelManagerError) || e.code !== 'START_FAILED') return e;
    // An exit is seen once the kernel's pipes are read to their end (sandbox/tail.ts ended()).
    const output = startOutput(proc.output?.() ?? '', this.#deps.hidePaths);
    if (!output) return e;
    this.log.warn({ spec: this.#spec.name, output }, `kernel failed to start: ${e.message}`);
    return new KernelStartError(e.message, output, e);
  }

  async #heartbeat(gen: number): Promise<void> {
    const interval = this.limits.heartbeatIntervalMs;
    let lastBeat = Date.now();
    while (gen === this.#generation && !this.isDead()) {
      const t0 = Date.now();
      const ok = await this.#channels?.ping(interval);
      if (gen !== this.#generation || this.isDead() || this.transitioning) return;
      // IRkernel answers its heartbeat from R's only thread: silent while it computes, which is no
      // death (the execution's wall limit bounds it); ipykernel's beats from a thread of its own.
      if (ok || (this.state === 'busy' && !this.#spec.heartbeatWhileBusy)) lastBeat = Date.now();
      else if (Date.now() - lastBeat >= 3 * interval) {
        await this.kill('the kernel stopped answering its heartbeat (frozen or dead)');
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
        this.log.warn({ channel, kind: e.kind }, 'dropped a message from the kernel');
        return;
      }
      throw e;
    }
    // A kernel reports busy, idle or starting. Only the manager announces a death or a restart: a
    // kernel's own status 'dead' or 'restarting' (ipykernel never sends one) is a forgery aimed at
    // its clients, dropped here.
    if (channel === 'iopub' && msg.header.msg_type === 'status' && !isStatus(msg)) {
      this.log.warn(
        { state: String(msg.content.execution_state).slice(0, 40) },
        'dropped a status from the kernel',
      );
      return;
    }
    // IRkernel answers an interrupted execution with status 'abort': the spec's word is 'aborted'
    // (messaging spec, "Request-Reply"); clients and the execution's bookkeeping expect that.
    if (channel === 'shell' && msg.header.msg_type === 'execute_reply' && msg.content.status === 'abort') {
      msg.content.status = 'aborted';
    }
    let bytes = 0;
    for (const f of frames) bytes += f.length;
    this.receive(msg, bytes);
  }

  /**
   * Runs one silent, history-less execute (the spec's prelude, or `pass`) so the kernel's first real
   * one is as fast as the rest.
   */
  async warmUp(code = 'pass'): Promise<void> {
    for await (const _ of this.execute(code, { silent: true, storeHistory: false })) void _;
  }

  protected transmit(channel: SendChannel, msg: Message): void {
    if (!this.#channels || !this.#signer) throw new KernelManagerError('DEAD', 'the kernel is not running');
    const frames = this.#signer.serialize(msg);
    this.#channels.send(channel, frames).catch((e: unknown) => this.log.debug({ err: e }, 'send failed'));
  }

  protected async interruptKernel(): Promise<void> {
    // ipykernel in the sandbox is interrupted by message (it signals itself); another kernel whose spec
    // asks for signal mode (IRkernel knows no interrupt_request) gets SIGINT, as it does unsandboxed.
    const ipykernel = this.info?.implementation === 'ipython';
    if (this.#spec.interrupt_mode === 'signal' && (!this.#deps.sandboxed || !ipykernel) && this.#proc?.pid) {
      this.#proc.signal('SIGINT');
    } else {
      this.sendRaw('control', { header: { msg_type: 'interrupt_request' }, content: {} });
    }
  }

  protected async restartKernel(): Promise<void> {
    await this.#stopProcess(true);
    await this.launch();
  }

  protected stopKernel(): Promise<void> {
    return this.#stopProcess(false);
  }

  protected destroyKernel(): Promise<void> {
    return this.#teardown();
  }

  /** shutdown_request on control, then kill the whole sandbox after the grace period. */
  async #stopProcess(restart: boolean): Promise<void> {
    const proc = this.#proc;
    if (!proc) return;
    try {
      this.sendRaw('control', { header: { msg_type: 'shutdown_request' }, content: { restart } });
      await Promise.race([proc.exited, sleep(this.limits.shutdownGraceMs)]);
    } catch {
      // Channels already gone: fall through to the kill.
    }
    await this.#teardown();
  }

  async #teardown(): Promise<void> {
    this.#generation++;
    this.#channels?.close();
    this.#channels = undefined;
    const proc = this.#proc;
    this.#proc = undefined;
    if (proc) {
      try {
        await proc.destroy();
      } catch (e) {
        this.log.error({ err: e }, 'kernel processes survived destroy');
      }
    }
  }

  #onExit(gen: number, info: ExitInfo): void {
    if (gen !== this.#generation || this.transitioning || this.isDead()) return;
    const how = info.signal ? `killed by ${info.signal}` : `exited with code ${info.code}`;
    void this.kill(info.reason ?? `the kernel process ${how}`, limitOf(info));
  }
}

/**
 * The sandbox limit that ended a kernel, as the sandbox observed its exit (sandbox/kernel-process.ts,
 * zygote.ts): a memory cgroup's OOM kill is named first, whatever the signal; RLIMIT_CPU's soft limit
 * delivers SIGXCPU. Any other exit is no limit: its reason names the signal or exit code.
 */
function limitOf(info: ExitInfo): 'memory' | 'cpu' | undefined {
  if (info.reason === undefined) return undefined;
  if (info.reason.startsWith('memory')) return 'memory';
  return info.signal === 'SIGXCPU' ? 'cpu' : undefined;
}
