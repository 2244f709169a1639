// The server's view of kernels: one Hub per kernel handed out by kernel-manager, dead kernels kept as
// tombstones for a while (so clients learn why a kernel died), the live-kernel limits per visitor (a
// page) and per address, and the pages whose kernels end with their connections (pages.ts).
import type { Logger } from 'pino';
import type { Kernel, KernelManager } from '../../kernel-manager/index.js';
import type { Caller } from '../auth.js';
import type { ServerConfig } from '../config.js';
import { fromKernelManager, RateLimited, withRetryAfter } from '../errors.js';
import { ConcurrencyLimiter, TieredConcurrency, visitorKey } from '../limits.js';
import { Hub, type HubDeps } from './hub.js';
import { Pages } from './pages.js';

/** The hubs' dependencies, plus how long clients waited for a kernel (for /metrics). */
export type RegistryDeps = HubDeps & { config: ServerConfig; onHandOut?(seconds: number, ok: boolean): void };

export class KernelRegistry {
  readonly manager: KernelManager;
  readonly #hubs = new Map<string, Hub>();
  readonly #deps: RegistryDeps;
  readonly #config: ServerConfig;
  readonly #log: Logger;
  readonly #live: TieredConcurrency;
  readonly #timers = new Set<NodeJS.Timeout>();
  readonly pages: Pages;

  constructor(manager: KernelManager, deps: RegistryDeps) {
    this.manager = manager;
    this.#deps = deps;
    this.#config = deps.config;
    this.#log = deps.log;
    this.#live = new TieredConcurrency(
      new ConcurrencyLimiter(deps.config.pageMaxKernels),
      new ConcurrencyLimiter(deps.config.ipMaxKernels),
    );
    this.pages = new Pages({
      graceMs: deps.config.pageGraceMs,
      firstConnectMs: Math.max(deps.config.pageGraceMs, 30_000),
      shutdown: (ids, reason) => {
        for (const id of ids)
          void this.shutdown(id, reason).catch((e: unknown) =>
            this.#log.warn({ err: e, kernel: id }, 'shutting down a closed page’s kernel failed'),
          );
        this.#log.info({ kernels: ids.length, reason }, 'page gone: its kernels shut down');
      },
    });
  }

  /**
   * A kernel for this caller (from the warm pool when possible). Anonymous callers are held to the
   * live-kernel limits of their page (or address, naming none) and of their address; the slots are
   * released when the kernel dies.
   */
  async startKernel(specName: string | undefined, caller: Caller, page?: string): Promise<Kernel> {
    const release =
      caller.kind === 'anonymous'
        ? this.#live.acquire(caller.ipKey, visitorKey(caller.ipKey, page))
        : () => undefined;
    if (typeof release === 'string') {
      throw withRetryAfter(
        new RateLimited(
          release === 'page'
            ? `at most ${this.#config.pageMaxKernels} live kernels per ${page ? 'page' : 'client'}; shut one down first`
            : `at most ${this.#config.ipMaxKernels} live kernels per address; shut one down first`,
        ),
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

  /**
   * Starts a kernel and its hub. With a page (the embed names its page), the kernel counts towards
   * that page's limits and ends with the page's connections.
   */
  async start(specName: string | undefined, caller: Caller, page?: string): Promise<Hub> {
    const kernel = await this.startKernel(specName, caller, page);
    // Kernels started with a token belong to no address: only token holders list them.
    const hub = new Hub(kernel, caller.kind === 'anonymous' ? caller.ipKey : '', this.#deps, {
      visitor: visitorKey(caller.ipKey, page),
      page,
    });
    this.#hubs.set(kernel.id, hub);
    if (page) this.pages.add(page, kernel.id);
    const onDead = () => {
      if (page) this.pages.remove(page, kernel.id);
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
    if (hub.page) this.pages.remove(hub.page, id);
    if (!hub.dead) await hub.kernel.shutdown(reason);
    hub.dispose(reason);
    return true;
  }

  /** Tells every client the server is going away (before kernels are shut down). */
  closeAll(reason: string): void {
    for (const t of this.#timers) clearTimeout(t);
    this.#timers.clear();
    this.pages.dispose();
    for (const h of this.#hubs.values()) h.dispose(reason, 1001);
    this.#hubs.clear();
  }
}
