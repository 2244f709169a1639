// Warm pool: ready kernels per spec handed out in O(1), refilled in the background, under a global
// cap on live kernels; when nothing is free, requests wait in a bounded queue with a timeout.
import type { Logger } from 'pino';
import { KernelManagerError } from './errors.js';
import type { LocalKernel } from './kernel.js';
import type { PoolConfig } from './types.js';

interface Waiter {
  spec: string;
  resolve: (k: LocalKernel) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout;
}

export interface PoolDeps {
  config: PoolConfig;
  maxKernels: number;
  /** Number of live kernels (pooled, starting and handed out). */
  live(): number;
  /** Creates and launches a kernel of this spec; it already counts as live while starting. */
  launch(spec: string): Promise<LocalKernel>;
  log: Logger;
}

export class Pool {
  readonly #ready = new Map<string, LocalKernel[]>();
  readonly #starting = new Map<string, number>();
  readonly #waiters: Waiter[] = [];
  readonly #deps: PoolDeps;
  readonly #specs: readonly string[];
  #closed = false;
  #failures = 0;
  #retry: NodeJS.Timeout | undefined;

  constructor(specs: readonly string[], deps: PoolDeps) {
    this.#specs = specs;
    this.#deps = deps;
    for (const s of specs) this.#ready.set(s, []);
  }

  get pooled(): number {
    let n = 0;
    for (const list of this.#ready.values()) n += list.length;
    return n;
  }
  get starting(): number {
    let n = 0;
    for (const c of this.#starting.values()) n += c;
    return n;
  }
  get queued(): number {
    return this.#waiters.length;
  }
  /** Consecutive failed pool starts (0 when the last one succeeded). */
  get failures(): number {
    return this.#failures;
  }
  readyCount(spec: string): number {
    return this.#ready.get(spec)?.length ?? 0;
  }

  /** A ready kernel of this spec, or undefined. O(1). */
  take(spec: string): LocalKernel | undefined {
    const k = this.#ready.get(spec)?.pop();
    if (k) queueMicrotask(() => this.refill());
    return k;
  }

  /** Makes room under the global cap by retiring a warm kernel of another spec. */
  evictOther(spec: string): LocalKernel | undefined {
    for (const [name, list] of this.#ready) if (name !== spec && list.length > 0) return list.pop();
    return undefined;
  }

  /** Waits in the bounded queue for a kernel of this spec. */
  wait(spec: string): Promise<LocalKernel> {
    const { queueMax, queueTimeoutMs } = this.#deps.config;
    if (this.#closed)
      return Promise.reject(new KernelManagerError('CLOSED', 'the kernel manager is shutting down'));
    if (this.#waiters.length >= queueMax) {
      return Promise.reject(
        new KernelManagerError('CAPACITY', 'all kernels are busy and the wait queue is full'),
      );
    }
    return new Promise((resolve, reject) => {
      const w: Waiter = {
        spec,
        resolve,
        reject,
        timer: setTimeout(() => {
          this.#remove(w);
          reject(
            new KernelManagerError(
              'QUEUE_TIMEOUT',
              `no kernel became free within ${queueTimeoutMs / 1000} s`,
            ),
          );
        }, queueTimeoutMs),
      };
      this.#waiters.push(w);
      this.serveWaiters();
    });
  }

  #remove(w: Waiter): void {
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
    clearTimeout(w.timer);
  }

  /** Called when capacity frees up or a kernel becomes ready. */
  serveWaiters(): void {
    for (const w of [...this.#waiters]) {
      const k = this.#ready.get(w.spec)?.pop();
      if (k) {
        this.#remove(w);
        w.resolve(k);
        continue;
      }
      if (this.#deps.live() < this.#deps.maxKernels) {
        this.#remove(w);
        this.#deps.launch(w.spec).then(w.resolve, w.reject);
      }
    }
    this.refill();
  }

  /** Starts kernels in the background until every pooled spec has `size` ready or starting. */
  refill(): void {
    if (this.#closed || this.#retry) return;
    for (const spec of this.#specs) {
      const want = this.#deps.config.size - this.readyCount(spec) - (this.#starting.get(spec) ?? 0);
      for (let i = 0; i < want && this.#deps.live() < this.#deps.maxKernels; i++) this.#startOne(spec);
    }
  }

  #startOne(spec: string): void {
    this.#starting.set(spec, (this.#starting.get(spec) ?? 0) + 1);
    this.#deps.launch(spec).then(
      (k) => {
        this.#starting.set(spec, (this.#starting.get(spec) ?? 1) - 1);
        this.#failures = 0;
        if (this.#closed) {
          void k.shutdown('the kernel manager is shutting down');
          return;
        }
        const waiter = this.#waiters.find((w) => w.spec === spec);
        if (waiter) {
          this.#remove(waiter);
          waiter.resolve(k);
        } else {
          this.#ready.get(spec)?.push(k);
          // A warm kernel that dies while waiting in the pool is dropped and replaced.
          k.once('dead', () => {
            const list = this.#ready.get(spec);
            const i = list?.indexOf(k) ?? -1;
            if (list && i >= 0) list.splice(i, 1);
          });
        }
        this.refill();
      },
      (e: unknown) => {
        this.#starting.set(spec, (this.#starting.get(spec) ?? 1) - 1);
        if (this.#closed) {
          // Shutdown stopped it while it started: expected, and nothing to retry.
          this.#deps.log.info(
            { spec, reason: e instanceof Error ? e.message : String(e) },
            'a pool kernel still starting was stopped at shutdown',
          );
          return;
        }
        this.#failures++;
        this.#deps.log.error({ err: e, spec }, 'a pool kernel failed to start');
        // Back off so a broken spec does not spin; the next refill retries.
        const delay = Math.min(30_000, 500 * 2 ** Math.min(this.#failures, 6));
        this.#retry = setTimeout(() => {
          this.#retry = undefined;
          this.refill();
        }, delay);
        this.#retry.unref();
      },
    );
  }

  /** Stops refilling, fails waiters, and returns the warm kernels for the caller to shut down. */
  close(): LocalKernel[] {
    this.#closed = true;
    if (this.#retry) clearTimeout(this.#retry);
    for (const w of [...this.#waiters]) {
      this.#remove(w);
      w.reject(new KernelManagerError('CLOSED', 'the kernel manager is shutting down'));
    }
    const all = [...this.#ready.values()].flat();
    for (const list of this.#ready.values()) list.length = 0;
    return all;
  }
}
