// The contract between kernel-manager and its sandbox. kernel.ts only sees this file.

export interface RLimits {
  /** RLIMIT_CPU, seconds of CPU time for each process. */
  cpuSeconds: number;
  /** RLIMIT_AS, bytes of address space. */
  addressSpaceBytes: number;
  /** RLIMIT_NPROC for the kernel's own uid. */
  processes: number;
  /** RLIMIT_FSIZE, bytes. */
  fileSizeBytes: number;
  /** RLIMIT_NOFILE. */
  openFiles: number;
}

export interface SandboxConfig {
  /**
   * 'bwrap': the full sandbox (per-kernel uid, bubblewrap, rlimits, cgroups, seccomp); needs root.
   * 'none': no sandbox at all. Development only: it must be chosen explicitly and is logged loudly.
   */
  mode: 'bwrap' | 'none';
  /** Inclusive range of host uids handed out one per live kernel. */
  uidRange: [number, number];
  tmpBytes: number;
  homeBytes: number;
  shmBytes: number;
  rlimits: RLimits;
  /** cgroup limits, applied where the host lets us write cgroups. */
  memoryBytes: number;
  pids: number;
  /** Niceness of every kernel process (0-19): above the server's, so it stays responsive under load. */
  nice: number;
  /** Install a seccomp filter; when true and seccomp cannot be set up, kernels do not start. */
  seccomp: boolean;
  /** Host directory under which each kernel gets its runtime dir (keep short: ipc paths <= 107 bytes). */
  runtimeRoot: string;
  /**
   * This instance owns runtimeRoot and uidRange alone: at creation, reclaim what a previous run left
   * there (processes of the range, its kernel cgroups, mounts and dirs under the root), and check
   * again at close (reclaim.ts). The server turns it on; tests sharing a range leave it off.
   */
  reclaim?: boolean;
}

export interface LaunchRequest {
  kernelId: string;
  /** argv from the kernelspec; `{connection_file}` is substituted by the sandbox. */
  argv: string[];
  /** The complete environment of the kernel: nothing of the server's env is added. */
  env: Record<string, string>;
  /** Host paths shown read-only at the same place inside (the kernelspec's, already checked). */
  binds?: readonly string[];
  /** How much of the kernel's stdout and stderr to keep (default 16 KiB). */
  outputBytes?: number;
  /** Builds the connection file given the ipc path prefix as the kernel will see it. */
  connectionFile(ipcPrefixInside: string): Buffer;
  /** When (epoch ms) the kernel's whole start-up budget ends; the sandbox's own set-up counts against
   * it (on a loaded machine bubblewrap alone can take seconds). Default: 30 s from the call. */
  deadline?: number;
  /** A program that runs to its end (an environment probe): exiting before set-up was seen is its end, not a failure to log. */
  runsToExit?: boolean;
  /**
   * A pool kernel nobody holds yet: it starts at a quarter of a kernel's CPU weight, so starts that
   * refill the pool yield to the kernels visitors use, until foreground().
   */
  background?: boolean;
}

export interface ExitInfo {
  code: number | null;
  signal: NodeJS.Signals | null;
  /** Set when a sandbox limit explains the exit (e.g. 'memory limit of 512 MiB reached'). */
  reason?: string;
}

export interface SandboxedProcess {
  readonly kernelId: string;
  /** Host pid of the kernel process itself (not bubblewrap), when known. */
  readonly pid: number | undefined;
  /** The uid the kernel runs as (undefined in mode 'none'). */
  readonly uid: number | undefined;
  /** Host path prefix of the kernel's ipc sockets: `${prefix}-${port}`. */
  readonly ipcPrefix: string;
  /** Resolves once when the process tree's top process exits. */
  readonly exited: Promise<ExitInfo>;
  /**
   * A fork of a zygote that drew a matplotlib figure: the renderer's first use is paid, so the
   * prelude need not draw a whole figure again (prelude.ts).
   */
  readonly figureDrawn?: boolean;
  /** Sends a signal to the kernel process (interrupt_mode 'signal'). */
  signal(sig: NodeJS.Signals): void;
  /** A limit the sandbox saw breached so far (cgroup OOM, pids), if any. */
  limitHit(): string | undefined;
  /** Gives a kernel launched `background` a kernel's full CPU weight (it was handed out). */
  foreground?(): Promise<void>;
  /** The last few KiB the kernel wrote to stdout/stderr (bounded), e.g. to explain a start-up failure. */
  output?(): string;
  /**
   * Kills everything of this kernel (cgroup kill and a sweep of its uid), checks that no process is
   * left, removes its cgroups and runtime dir (never following links) and releases its uid.
   * Idempotent. Rejects only if processes survive.
   */
  destroy(): Promise<void>;
}

export interface Sandbox {
  /** Human-readable lines saying which protections and limits are in force on this host. */
  readonly report: string[];
  launch(req: LaunchRequest): Promise<SandboxedProcess>;
  /** Stops helper processes the sandbox runs (the fork-server's zygote); kernels are not affected. */
  close?(): Promise<void>;
}
