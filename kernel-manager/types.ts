// Public types of kernel-manager. server/ builds on these only (import from 'kernel-manager/index.js').
import type { EventEmitter } from 'node:events';
import type { ChannelMessage, ExecutionState, Header, JsonObject, Message, SendChannel } from './messages.js';
import type { SandboxConfig } from './sandbox/types.js';
import type { KernelFiles } from './workdir.js';

export interface KernelSpecInfo {
  /** Directory name: the id clients use. */
  name: string;
  display_name: string;
  language: string;
  argv: string[];
  env: Record<string, string>;
  interrupt_mode: 'signal' | 'message';
  metadata: JsonObject;
  /** Logo and other resource files: name -> absolute path. */
  resources: Record<string, string>;
  /** Directory the spec came from. */
  dir: string;
  /**
   * Host paths the sandbox shows this spec's kernels read-only, besides its minimal /usr: the
   * interpreter's prefix, the spec's directory, `metadata.runcell.paths` (checked: env-paths.ts).
   */
  binds: string[];
  /**
   * Whether the kernel answers its heartbeat while it computes (ipykernel: a thread of its own). When
   * false (IRkernel, or `metadata.runcell.heartbeat: "idle"`), only an idle kernel's silence is a death.
   */
  heartbeatWhileBusy: boolean;
}

export interface UnavailableSpec {
  name: string;
  dir: string;
  reason: string;
}

export interface Limits {
  /** A kernel that is not ready within this time fails to start. */
  startupTimeoutMs: number;
  /** A kernel with no activity for this long is shut down (0: never). */
  idleTimeoutMs: number;
  /** A kernel is shut down after this long whatever it does (0: never). */
  maxLifetimeMs: number;
  /** Wall-clock limit of one execution: interrupt, then kill after the grace period. 0: none. */
  executionWallMs: number;
  /** Time between an interrupt for a limit breach and killing the kernel. */
  interruptGraceMs: number;
  /** Heartbeat ping interval; a kernel silent for 3 intervals is dead. */
  heartbeatIntervalMs: number;
  /** Largest single ZMQ message accepted from a kernel. */
  maxMessageBytes: number;
  /** Hard cap on output bytes (iopub) per execution: interrupt, then kill. 0: none. */
  executionOutputBytes: number;
  /** Time between shutdown_request and killing the sandbox. */
  shutdownGraceMs: number;
}

export interface PoolConfig {
  /** Warm kernels kept ready per pooled spec at least (the floor; 0 turns the pool off). */
  size: number;
  /**
   * Warm kernels per pooled spec at most (the ceiling). Between the two, the pool keeps the most
   * requests seen within one start time (over the last `memoryMs`) times `headroom`.
   */
  max: number;
  headroom: number;
  /** How long a peak in demand keeps the pool grown. */
  memoryMs: number;
  /**
   * Kernel starts in progress at once (refills and requests together); 0: two per core (a start
   * spends much of its time waiting for processes to be set up, not computing).
   */
  parallel: number;
  /** Specs to keep warm (default: the default spec). */
  specs: string[];
  /** Requests waiting for a kernel when none is free, at most. */
  queueMax: number;
  /** How long a request waits in the queue before it fails. */
  queueTimeoutMs: number;
  /**
   * After a hand-out that leaves warm kernels in the pool, refills wait this long: a visitor's first
   * moments (websocket, kernel_info, first cell) do not share the server and the CPU with a start's
   * set-up. An empty pool refills at once.
   */
  refillDelayMs: number;
}

export interface ForkConfig {
  /**
   * Kernelspecs whose kernels are forks of a preloaded zygote (the fork-server) instead of plain starts.
   * 'auto': the default spec, if the fork-server works on this host (else plain starts, with a warning).
   * A list: exactly these specs, and the manager refuses to start if one of them cannot be forked.
   * []: off.
   */
  specs: 'auto' | string[];
  /** Modules each zygote imports besides ipykernel. */
  preload: string[];
}

/**
 * What a pooled kernel has done before it is handed out: modules imported (and, for matplotlib.pyplot,
 * one figure drawn and encoded and closed), silently, leaving nothing in the user's namespace or
 * history. Per spec `metadata.runcell.prelude` (a list of module names) overrides it; [] for none.
 */
export interface PreludeConfig {
  /** For Python specs without their own: modules to import where installed. */
  python: string[];
}

/** One Jupyter Server / Kernel Gateway / Enterprise Gateway host. */
export interface GatewayConfig {
  /** Base URL, e.g. http://eg.runcell.svc:8888 (no trailing /api). */
  url: string;
  /** Sent as `Authorization: token <token>`; empty for none. */
  token: string;
  /** Kernels runcell places there at most. */
  capacity: number;
  /** Kernelspecs it offers (default: any name is tried). */
  specs?: string[];
}

export interface KernelManagerConfig {
  /** Extra kernelspec directories searched before the standard Jupyter paths. */
  specDirs: string[];
  /** Used when start() names no spec. */
  defaultSpec: string;
  /** Global cap on live kernels (pooled included). */
  maxKernels: number;
  pool: PoolConfig;
  limits: Limits;
  sandbox: SandboxConfig;
  fork: ForkConfig;
  prelude: PreludeConfig;
  /** Prefix every kernel id starts with (lets a load balancer route by id). Empty by default. */
  idPrefix: string;
  /** Jupyter Server / Kernel Gateway / Enterprise Gateway hosts for remote kernels. [] by default. */
  gateways: GatewayConfig[];
  /**
   * Where start() puts kernels: 'local' (the sandbox here; the default), 'remote' (gateways only),
   * 'remote-first' (gateways, else a local kernel). Without gateways it is always local.
   */
  placement: 'local' | 'remote' | 'remote-first';
  /** Time between health checks of each gateway. */
  gatewayHealthIntervalMs: number;
  /**
   * A gateway purged after failing three times in a row is placed on again only after it has
   * answered every health check for this long.
   */
  gatewayReadmitMs: number;
  /**
   * Host paths removed from what a kernel wrote before it is shown (a start failure's explanation),
   * besides the runtime root and the working directory. [] by default; the server adds its data dir.
   */
  hidePaths: string[];
}

export interface StartOptions {
  /** Opaque owner tag; a kernel serves one owner and is never reused. */
  owner?: string;
}

export interface KernelModelInfo {
  id: string;
  name: string;
  last_activity: string;
  execution_state: ExecutionState;
  reason?: string;
}

/** A message to send: header fields the caller leaves out are filled in; the manager signs it. */
export interface OutgoingMessage {
  header: Partial<Header> & { msg_type: string };
  parent_header?: Partial<Header>;
  metadata?: JsonObject;
  content: JsonObject;
  buffers?: Buffer[];
}

export interface ExecuteOptions {
  /** Answer input_request with this (string or function). Without it, stdin is not allowed. */
  input?: string | ((prompt: string) => string | Promise<string>);
  silent?: boolean;
  storeHistory?: boolean;
  /** Abort the kernel's queued requests if this one fails (Jupyter's stop_on_error). Default false. */
  stopOnError?: boolean;
  /** Called with the execute_request exactly as it was sent (e.g. to record it). */
  onRequest?(header: Header, content: JsonObject): void;
}

/** Which limit ended an execution or a kernel. */
export type LimitKind = 'wall' | 'output' | 'memory' | 'cpu' | 'idle' | 'lifetime';

/** What a kernel's 'limit' event carries; `parentMsgId` names the execution a per-execution limit stopped. */
export interface LimitInfo {
  kind: LimitKind;
  message: string;
  parentMsgId?: string;
  /** idle: the kernel went unused this long (the configured idle timeout). */
  afterMs?: number;
}

/**
 * One running kernel. Events:
 *  - 'message' (msg: ChannelMessage): every verified message from the kernel (iopub, shell, control, stdin)
 *  - 'status' (state: ExecutionState, reason?: string): lifecycle and execution state changes
 *  - 'restarted' (): a restart completed (same id, new process)
 *  - 'dead' (reason: string): the kernel is gone for good; no more events follow
 *  - 'limit' (info: LimitInfo): a limit stopped an execution or is ending the kernel
 */
export interface Kernel extends EventEmitter {
  readonly id: string;
  readonly specName: string;
  readonly owner: string | undefined;
  readonly state: ExecutionState;
  readonly reason: string | undefined;
  readonly lastActivity: Date;
  /** The session id the manager uses for messages it originates. */
  readonly session: string;
  model(): KernelModelInfo;
  /** Signs and sends a message; returns its header (msg_id filled in). Throws if the kernel is dead. */
  send(channel: SendChannel, msg: OutgoingMessage): Header;
  /** Every message from now on, until the kernel dies (then the iterator ends). */
  messages(): AsyncIterableIterator<ChannelMessage>;
  /** Runs code; yields the iopub messages (and the execute_reply) of this request until idle. */
  execute(code: string, opts?: ExecuteOptions): AsyncIterableIterator<ChannelMessage>;
  interrupt(): Promise<void>;
  /**
   * Throttles (true) or restores (false) a kernel that floods its output: its stream output is no
   * longer received (the kernel's own socket drops it) and its processes yield the CPU to everyone
   * else's kernels. Where the kernel is not the manager's to throttle (remote) it does nothing.
   */
  deprioritize?(on: boolean): void;
  restart(): Promise<void>;
  shutdown(reason?: string): Promise<void>;
  /** Latest kernel_info_reply content. */
  readonly info: JsonObject | undefined;
  /** The kernel's work dir (top-level regular files only; links are never followed). */
  readonly files: KernelFiles;
}

export type { FileStat, KernelFiles } from './workdir.js';
export type { ChannelMessage, ExecutionState, Header, JsonObject, Message, SendChannel };
