// kernel-manager's public API: sandboxed Jupyter kernels from installed kernelspecs, a warm pool,
// lifecycle and limits. No HTTP here; server/ builds on this module only.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import { dirname } from 'node:path';
import { type Logger, pino } from 'pino';
import type { EnvironmentSummary } from '../shared/environments.js';
import { type DeepPartial, resolveConfig } from './config.js';
import { probeEnvironment } from './env-probe.js';
import { KernelManagerError } from './errors.js';
import { LocalKernel } from './kernel.js';
import { type HandOut, Pool } from './pool.js';
import { preludeCode, REHEARSAL_YIELD_SIGNAL, rehearsalCode } from './prelude.js';
import { GatewayProvider, type GatewayStatus } from './providers/gateway.js';
import { createForkSandbox, createSandbox, type ForkSandbox } from './sandbox/index.js';
import { startOutput } from './sandbox/tail.js';
import type { Sandbox } from './sandbox/types.js';
import { discoverSpecs } from './specs.js';
import type { Kernel, KernelManagerConfig, KernelSpecInfo, StartOptions, UnavailableSpec } from './types.js';

/** runcell's own directory (the checkout, or dist/ of an install): never shown to a client. */
const INSTALL_DIR = dirname(import.meta.dirname);

export { type DeepPartial, defaultConfig } from './config.js';
export { KernelManagerError, type KernelManagerErrorCode, KernelStartError } from './errors.js';
export type { LocalKernel } from './kernel.js';
export * from './messages.js';
export type { GatewayStatus } from './providers/gateway.js';
export type { RemoteKernel } from './providers/remote-kernel.js';
export type { SandboxConfig } from './sandbox/types.js';
export type * from './types.js';
export { plainName } from './workdir.js';

/** One kernel start, in ms: sandbox set-up, the kernel's own start to ready, the prelude. */
export interface StartTiming {
  spec: string;
  sandboxMs: number;
  readyMs: number;
  preludeMs: number;
}

export interface ManagerStats {
  live: number;
  pooled: number;
  starting: number;
  /** A pool refill put off after a hand-out is due (starts that have not begun yet). */
  refillPending: boolean;
  queued: number;
  maxKernels: number;
  /** Warm kernels the default spec's pool aims for now (sized from demand). */
  poolTarget: number;
  /** The default spec's measured start time, launch to ready with its prelude (ms). */
  startMs: number | undefined;
  /** Requests served so far: from the pool, by a start in progress, by a start of their own, queued. */
  served: Readonly<Record<HandOut, number>>;
  /** Warm kernels rehearsing a first cell now, or about to once requests pause (idle time only; 0 or 1). */
  rehearsing: number;
  /** Requests served so far with a warm kernel that had rehearsed its first cell. */
  servedRehearsed: number;
  /** Rehearsals stopped so far because a request arrived (the CPU went to the visitor). */
  rehearsalsStopped: number;
}

/**
 * Events: 'kernel' (k: Kernel) when one is handed out; 'dead' (k: Kernel, reason) when one dies.
 */
export class KernelManager extends EventEmitter {
  readonly config: KernelManagerConfig;
  readonly #log: Logger;
  readonly #sandbox: Sandbox;
  /** Fork-server sandboxes by spec name; other specs start plain in #sandbox. */
  readonly #forks = new Map<string, ForkSandbox>();
  /** Aborted by close(): environment probes stop rather than hold up the stop. */
  readonly #closing = new AbortController();
  readonly #specs: Map<string, KernelSpecInfo>;
  readonly #unavailable: UnavailableSpec[];
  /** Every live kernel: starting, pooled, or handed out. */
  readonly #kernels = new Map<string, LocalKernel>();
  readonly #pool: Pool<LocalKernel>;
  /** Kernels handed out to an owner; pooled ones stay invisible to get() and list(). */
  readonly #assigned = new WeakSet<LocalKernel>();
  /** Kernels on gateways (always handed out: remote kernels are not pooled). */
  readonly #remote = new Map<string, Kernel>();
  readonly #gateways: GatewayProvider | undefined;
  /** Launches in progress (pool refills and cold starts). */
  readonly #launching = new Set<Promise<void>>();
  /** The kernels of the launches in progress, oldest first. */
  readonly #launchingKernels = new Set<LocalKernel>();
  /** The latest local starts' timings, newest last (startTimings()). */
  readonly #starts: StartTiming[] = [];
  /** Each spec's prelude, as the code run silently before hand-out (for a plain kernel, for a fork), and its idle-time rehearsal (pool.ts). */
  readonly #preludes: Map<string, { plain: string; forked: string; rehearsal: string | undefined }>;
  /** Each spec's environment summary, probed once (env-probe.ts). */
  readonly #environments = new Map<string, Promise<EnvironmentSummary>>();
  #probing: Promise<void> | undefined;
  #closed = false;

  private constructor(config: KernelManagerConfig, sandbox: Sandbox, log: Logger) {
    super();
    this.config = config;
    this.#log = log;
    this.#sandbox = sandbox;
    const scan = discoverSpecs(
      config.specDirs,
      config.sandbox.mode === 'none'
        ? undefined
        : {
            uidRange: config.sandbox.uidRange,
            // runcell's own trees: a spec path that holds or sits in one is refused.
            protect: [config.sandbox.runtimeRoot, INSTALL_DIR, ...config.hidePaths],
          },
    );
    this.#specs = scan.specs;
    this.#unavailable = scan.unavailable;
    for (const u of scan.unavailable) log.warn({ spec: u.name, reason: u.reason }, 'kernelspec not offered');
    if (!this.#specs.has(config.defaultSpec)) {
      throw new KernelManagerError(
        'NO_SUCH_SPEC',
        `the default kernelspec "${config.defaultSpec}" is not available`,
      );
    }
    const pooled = (config.pool.specs.length > 0 ? config.pool.specs : [config.defaultSpec]).filter((s) =>
      this.#specs.has(s),
    );
    this.#gateways =
      config.gateways.length > 0 && config.placement !== 'local'
        ? new GatewayProvider({
            gateways: config.gateways,
            limits: config.limits,
            healthIntervalMs: config.gatewayHealthIntervalMs,
            readmitMs: config.gatewayReadmitMs,
            idPrefix: config.idPrefix,
            knownSpec: (name) => this.#specs.has(name),
            log,
          })
        : undefined;
    this.#pool = new Pool(config.pool.size > 0 ? pooled : [], {
      config: config.pool,
      maxKernels: config.maxKernels,
      live: () => this.#kernels.size,
      launch: (spec) => this.#launch(spec),
      promote: (spec, n) => this.#promote(spec, n),
      rehearse: (spec, k) => {
        const code = this.#preludes.get(spec)?.rehearsal;
        if (code === undefined) return undefined;
        return { done: k.warmUp(code), stop: () => k.signal(REHEARSAL_YIELD_SIGNAL) };
      },
      log,
    });
    this.#preludes = new Map(
      [...this.#specs.values()].map((s) => [
        s.name,
        {
          plain: preludeCode(s, config.prelude),
          forked: preludeCode(s, config.prelude, { figureDrawn: true }),
          rehearsal: rehearsalCode(s, config.prelude),
        },
      ]),
    );
  }

  /** Detects the sandbox, scans kernelspecs and starts filling the warm pool. */
  static async create(
    partial: DeepPartial<KernelManagerConfig> = {},
    logger?: Logger,
  ): Promise<KernelManager> {
    const config = resolveConfig(partial);
    const log = (logger ?? pino({ level: 'warn' })).child({ component: 'kernel-manager' });
    // The sandbox logs its own start-up report (and each fork-server its own), once.
    const sandbox = await createSandbox(config.sandbox, log);
    const m = new KernelManager(config, sandbox, log);
    try {
      await m.#startForkServers();
    } catch (e) {
      await m.close();
      throw e;
    }
    m.#pool.pump();
    // One spec after another, in the background: the summaries are ready soon after start-up.
    m.#probing = (async () => {
      for (const s of m.#specs.keys()) {
        if (m.#closed) break;
        await m.environment(s);
      }
    })();
    return m;
  }

  /**
   * What the spec's environment holds: probed once in its own sandbox, then cached. Resolves with a
   * summary whose `error` says why when the probe failed; rejects only for an unknown spec.
   */
  environment(name: string): Promise<EnvironmentSummary> {
    if (this.#closed)
      return Promise.reject(new KernelManagerError('CLOSED', 'the kernel manager is shutting down'));
    const spec = this.#specs.get(name);
    if (!spec) return Promise.reject(new KernelManagerError('NO_SUCH_SPEC', `no kernelspec named "${name}"`));
    let p = this.#environments.get(name);
    if (!p) {
      p = probeEnvironment(this.#sandbox, spec, {
        signal: this.#closing.signal,
        timeoutMs: this.config.limits.startupTimeoutMs,
        hide: (text) => startOutput(text, this.#hidePaths()),
      });
      this.#environments.set(name, p);
    }
    return p;
  }

  #hidePaths(): string[] {
    return [this.config.sandbox.runtimeRoot, process.cwd(), INSTALL_DIR, ...this.config.hidePaths];
  }

  /** One fork-server per configured spec; fails closed for explicitly listed specs. */
  async #startForkServers(): Promise<void> {
    const { specs, preload } = this.config.fork;
    const auto = specs === 'auto';
    const names = auto ? (this.config.sandbox.mode === 'bwrap' ? [this.config.defaultSpec] : []) : specs;
    for (const name of names) {
      const info = this.#specs.get(name);
      if (!info) {
        if (auto) continue;
        throw new KernelManagerError('NO_SUCH_SPEC', `fork.specs names "${name}", which is not available`);
      }
      try {
        this.#forks.set(name, await createForkSandbox(this.#sandbox, info, { preload }, this.#log));
      } catch (e) {
        if (!auto) throw e;
        this.#log.warn({ err: e, spec: name }, 'fork-server not available here: kernels start plain');
      }
    }
  }

  get defaultSpec(): string {
    return this.config.defaultSpec;
  }
  get sandboxReport(): string[] {
    return [...this.#sandbox.report, ...[...this.#forks.values()].flatMap((f) => f.report)];
  }
  /** Spec names whose kernels are forked from a zygote. */
  get forkedSpecs(): string[] {
    return [...this.#forks.keys()];
  }
  specs(): KernelSpecInfo[] {
    return [...this.#specs.values()];
  }
  unavailableSpecs(): UnavailableSpec[] {
    return [...this.#unavailable];
  }

  /** A kernel for one owner: from the warm pool when possible, else a cold start, else a wait. */
  async start(specName?: string, opts: StartOptions = {}): Promise<Kernel> {
    if (this.#closed) throw new KernelManagerError('CLOSED', 'the kernel manager is shutting down');
    const name = specName ?? this.config.defaultSpec;
    if (this.#gateways) {
      try {
        return this.#handOut(await this.#gateways.start(name, opts));
      } catch (e) {
        if (this.config.placement === 'remote' || this.#closed) throw e;
        this.#log.warn({ err: e }, 'no remote kernel: starting a local one');
      }
    }
    if (!this.#specs.has(name)) throw new KernelManagerError('NO_SUCH_SPEC', `no kernelspec named "${name}"`);
    const k = await this.#pool.acquire(name);
    // Not awaited: the move to the kernels' cpu parent takes 5-15 ms of waiting in the kernel (cgroup
    // v1) and is done, off the event loop, before the visitor's first message reaches the kernel.
    void k.foreground();
    k.assign(opts.owner);
    this.#assigned.add(k);
    this.emit('kernel', k);
    return k;
  }

  #handOut(k: Kernel): Kernel {
    this.#remote.set(k.id, k);
    k.once('dead', (reason: string) => {
      this.#remote.delete(k.id);
      this.emit('dead', k, reason);
    });
    this.emit('kernel', k);
    return k;
  }

  /** The gateways' placement and health (empty when remote kernels are off). */
  gateways(): GatewayStatus[] {
    return this.#gateways?.status() ?? [];
  }

  async #launch(spec: string): Promise<LocalKernel> {
    const info = this.#specs.get(spec);
    if (!info) throw new KernelManagerError('NO_SUCH_SPEC', `no kernelspec named "${spec}"`);
    const id = `${this.config.idPrefix}${randomUUID()}`;
    const k = new LocalKernel(id, info, {
      sandbox: this.#forks.get(spec) ?? this.#sandbox,
      sandboxed: this.config.sandbox.mode !== 'none',
      nice: this.config.sandbox.nice,
      limits: this.config.limits,
      log: this.#log,
      // What a failed start shows its client leaves out where runcell lives and runs.
      hidePaths: this.#hidePaths(),
    });
    this.#kernels.set(id, k);
    k.once('dead', (reason: string) => {
      this.#kernels.delete(id);
      this.emit('dead', k, reason);
      if (!this.#closed) this.#pool.pump();
    });
    // Launch, then the spec's prelude as one silent execute: a fresh ipykernel's first execute is
    // 30-90 ms slower than the rest (lazy imports), and a first plot pays for matplotlib's imports and
    // first draw; that belongs to the pool's refill, not to a visitor's first Run.
    const launching = k.launch().then(async () => {
      const t0 = Date.now();
      const prelude = this.#preludes.get(spec);
      await k.warmUp((k.figureDrawn ? prelude?.forked : prelude?.plain) ?? 'pass');
      const t = k.startTimings;
      if (t) this.#recordStart({ spec, ...t, preludeMs: Date.now() - t0 });
    });
    this.#launching.add(launching);
    this.#launchingKernels.add(k);
    try {
      await launching;
    } catch (e) {
      this.#kernels.delete(id);
      if (!this.#closed) queueMicrotask(() => this.#pool.pump());
      throw e;
    } finally {
      this.#launching.delete(launching);
      this.#launchingKernels.delete(k);
    }
    return k;
  }

  /** Requests wait on `n` starts of `spec`: the oldest `n` run at a kernel's full CPU weight. */
  #promote(spec: string, n: number): void {
    for (const k of this.#launchingKernels) {
      if (n <= 0) return;
      if (k.specName !== spec) continue;
      n--;
      if (!k.isForeground) void k.foreground();
    }
  }

  #recordStart(t: StartTiming): void {
    this.#starts.push(t);
    if (this.#starts.length > 200) this.#starts.shift();
  }

  /** Where the latest local kernel starts' time went (diagnostics and bench/arrival.ts). */
  startTimings(): StartTiming[] {
    return [...this.#starts];
  }

  /** A kernel that has been handed out (pooled kernels are not visible). */
  get(id: string): Kernel | undefined {
    const r = this.#remote.get(id);
    if (r) return r;
    const k = this.#kernels.get(id);
    return k && k.state !== 'starting' && this.#isAssigned(k) ? k : undefined;
  }

  list(): Kernel[] {
    return [...[...this.#kernels.values()].filter((k) => this.#isAssigned(k)), ...this.#remote.values()];
  }

  #isAssigned(k: LocalKernel): boolean {
    return this.#assigned.has(k);
  }

  stats(): ManagerStats {
    return {
      live: this.#kernels.size,
      pooled: this.#pool.pooled,
      starting: this.#pool.starting,
      refillPending: this.#pool.refillPending,
      queued: this.#pool.queued,
      maxKernels: this.config.maxKernels,
      poolTarget: this.#pool.target(this.config.defaultSpec),
      startMs: this.#pool.startMs(this.config.defaultSpec),
      served: this.#pool.served,
      rehearsing: this.#pool.rehearsing,
      servedRehearsed: this.#pool.servedRehearsed,
      rehearsalsStopped: this.#pool.rehearsalsStopped,
    };
  }

  /** True when a request for the default spec can be served now or by a start. */
  ready(): boolean {
    if (this.#closed) return false;
    // Kernels can be placed nowhere: every gateway is purged and there is no local fallback.
    if (this.#gateways && this.config.placement === 'remote') return this.#gateways.available();
    if (this.#pool.failures > 0) return false;
    return this.#pool.readyCount(this.config.defaultSpec) > 0 || this.#kernels.size < this.config.maxKernels;
  }

  /** Shuts every kernel down (pooled and handed out) and stops refilling. */
  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    this.#closing.abort();
    this.#pool.close();
    await this.#gateways?.close();
    await Promise.allSettled(
      [...this.#kernels.values()].map((k) => k.shutdown('the server is shutting down')),
    );
    // A kernel shut down while it was starting cleans up when its launch returns: wait for that too,
    // so nothing of it runs once close() resolves.
    await Promise.allSettled([...this.#launching, this.#probing, ...this.#environments.values()]);
    await Promise.allSettled([...this.#forks.values()].map((f) => f.close()));
    // Nothing of this instance's uid range may outlive it (checked, and reclaimed, when configured).
    await this.#sandbox.close?.().catch((err: unknown) => this.#log.error({ err }, 'sandbox close failed'));
  }
}
