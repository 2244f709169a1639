// The server's view of kernels: one Hub per kernel handed out by kernel-manager, dead kernels kept as
// tombstones for a while (so clients learn why a kernel died), and the per-IP live-kernel limit.
import type { Logger } from 'pino';
import type { Kernel, KernelManager } from '../../kernel-manager/index.js';
import type { Caller } from '../auth.js';
import type { ServerConfig } from '../config.js';
import { fromKernelManager, RateLimited, withRetryAfter } from '../errors.js';
import { ConcurrencyLimiter } from '../limits.js';
import { Hub, type HubDeps } from './hub.js';

/** The hubs' dependencies, plus how long clients waited for a kernel (for /metrics). */
export type RegistryDeps = HubDeps & { config: ServerConfig; onHandOut?(seconds: number, ok: boolean): void };

export class KernelRegistry {
  readonly manager: KernelManager;
  readonly #hubs = new Map<string, Hub>();
  readonly #deps: RegistryDeps;
  readonly #config: ServerConfig;
  readonly #log: Logger;
  readonly #perIp: ConcurrencyLimiter;
  readonly #timers = new Set<NodeJS.Timeout>();

  constructor(manager: KernelManager, deps: RegistryDeps) {
    this.manager = manager;
    this.#deps = deps;
    this.#config = deps.config;
    this.#log = deps.log;
    this.#perIp = new ConcurrencyLimiter(deps.config.ipMaxKernels);
  }

  /**
   * A kernel for this caller (from the warm pool when possible). Anonymous callers are held to the
   * per-IP live-kernel limit; the slot is released when the kernel dies.
   */
  async startKernel(specName: string | undefined, caller: Caller): Promise<Kernel> {
    const release = caller.kind === 'anonymous' ? this.#perIp.acquire(caller.ipKey) : () => undefined;
    if (!release) {
      throw withRetryAfter(
        new RateLimited(`at most ${this.#config.ipMaxKernels} live kernels per address; shut one down first`),
        30,
      );
    }
    let kernel: Kernel;
    const t0 = performance.now();
    try {
      kernel = await this.manager.start(specName, { owner: caller.owner });
    } catch (e) {
      this.#deps.onHandOut?.((performance.now() - t0) / 1000, false);
      release();
      throw fromKernelManager(e, specName);
    }
    this.#deps.onHandOut?.((performance.now() - t0) / 1000, true);
    if (kernel.state === 'dead') release();
    else kernel.once('dead', release);
    return kernel;
  }

  /** Starts a kernel and its hub. */
  async start(specName: string | undefined, caller: Caller): Promise<Hub> {
    const kernel = await this.startKernel(specName, caller);
    // Kernels started with a token belong to no address: only token holders list them.
    const hub = new Hub(kernel, caller.kind === 'anonymous' ? caller.ipKey : '', this.#deps);
    this.#hubs.set(kernel.id, hub);
    const onDead = () => {
      const t = setTimeout(() => {
        this.#timers.delete(t);
        if (this.#hubs.get(kernel.id) === hub) this.#hubs.delete(kernel.id);
        hub.dispose('the kernel is gone');
      }, this.#config.deadKernelTtlMs);
      t.unref();
      this.#timers.add(t);
    };
    if (hub.dead) onDead();
    else kernel.once('dead', onDead);
    this.#log.info({ kernel: kernel.id, spec: kernel.specName, ip: caller.ipKey }, 'kernel started');
    return hub;
  }

  /** Live or recently dead kernel. */
  get(id: string): Hub | undefined {
    return this.#hubs.get(id);
  }

  /** Kernels this caller may see: all for token holders; else the ones it started or is connected to. */
  list(caller: Caller): Hub[] {
    const live = [...this.#hubs.values()].filter((h) => !h.dead);
    return caller.kind === 'token' ? live : live.filter((h) => h.visibleTo(caller.ipKey));
  }

  /** Every live hub. */
  all(): Hub[] {
    return [...this.#hubs.values()].filter((h) => !h.dead);
  }

  /** Shuts a kernel down and forgets it (DELETE /api/kernels/:id). */
  async shutdown(id: string, reason = 'shut down by a client'): Promise<boolean> {
    const hub = this.#hubs.get(id);
    if (!hub) return false;
    this.#hubs.delete(id);
    if (!hub.dead) await hub.kernel.shutdown(reason);
    hub.dispose(reason);
    return true;
  }

  /** Tells every client the server is going away (before kernels are shut down). */
  closeAll(reason: string): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    for (const h of this.#hubs.values()) h.dispose(reason, 1001);
    this.#hubs.clear();
  }
}
