// Warm pool: ready kernels per spec handed out in O(1), sized from demand (pool-sizing.ts), refilled by
// several starts in parallel, under a global cap on live kernels. A request is served from the pool,
// else by a kernel already starting, else by a start begun for it, else it waits in arrival order
// (bounded queue, timeout) until the cap leaves room. Shutdowns never stand in a request's way: a
// retired kernel is shut down in the background. While no kernel is starting and no request waits, warm
// kernels rehearse a first cell one at a time (`rehearse`, e.g. a first plot), and a hand-out prefers
// one that has: idle time pays what would otherwise be a visitor's, and a busy machine skips it. A
// request that arrives during a rehearsal stops it: the CPU is the visitor's.
import { availableParallelism } from 'node:os';
import type { Logger } from 'pino';
import { KernelManagerError } from './errors.js';
import { Demand, startsAllowed } from './pool-sizing.js';
import type { PoolConfig } from './types.js';

/** What the pool needs of a kernel. */
export interface Poolable {
  once(event: 'dead', fn: () => void): unknown;
  shutdown(reason?: string): Promise<void>;
}

/** How a request got its kernel. */
export type HandOut = 'pool' | 'starting' | 'cold' | 'queued';

interface Waiter<K> {
  spec: string;
  source: HandOut | undefined;
  resolve: (k: K) => void;
  reject: (e: Error) => void;
  timer: NodeJS.Timeout | undefined;
}

export interface PoolDeps<K> {
  config: PoolConfig;
  maxKernels: number;
  /** Number of live kernels (pooled, starting and handed out). */
  live(): number;
  /** Creates and launches a kernel of this spec; it already counts as live while starting. */
  launch(spec: string): Promise<K>;
  /**
   * Requests wait on `n` starts in progress of this spec: those starts stop yielding the CPU (a pool
   * refill starts in the background until it is handed out).
   */
  promote?(spec: string, n: number): void;
  /** Rehearses a visitor's first cell in a warm kernel, or returns undefined when this spec has nothing to rehearse. */
  rehearse?(spec: string, k: K): Rehearsal | undefined;
  log: Logger;
  /** Clock (tests). */
  now?: () => number;
}

/** A rehearsal in progress. */
export interface Rehearsal {
  /** Settles when the kernel is done with it (ran to the end or stopped); rejects if the kernel failed. */
  done: Promise<void>;
  /** Asks the kernel to stop the rehearsal now (at most once; it may already be done). */
  stop(): void;
}

/** How often surplus warm kernels are looked for once demand may have fallen. */
const RETIRE_EVERY_MS = 5_000;
/**
 * A rehearsal begins only this long after the last request: while visitors keep arriving, the CPU goes
 * to their cells and to the refills (rehearsing beside them made both slower at 2 visitors/s and more).
 */
export const REHEARSE_QUIET_MS = 1_000;

export class Pool<K extends Poolable> {
  readonly #ready = new Map<string, K[]>();
  readonly #starting = new Map<string, number>();
  readonly #demand = new Map<string, Demand>();
  readonly #waiters: Waiter<K>[] = [];
  readonly #deps: PoolDeps<K>;
  readonly #now: () => number;
  readonly #served: Record<HandOut, number> = { pool: 0, starting: 0, cold: 0, queued: 0 };
  #closed = false;
  #failures = 0;
  /** Pool refills are backing off after a failed start (requests still start kernels). */
  #retry: NodeJS.Timeout | undefined;
  #retireTimer: NodeJS.Timeout | undefined;
  /** A refill put off after a hand-out (refillDelayMs). */
  #deferred: NodeJS.Timeout | undefined;
  #evicting = 0;
  readonly #parallel: number;
  /** The warm kernel rehearsing now (one at a time), out of its ready list meanwhile. */
  #rehearsing: { spec: string; k: K; rehearsal: Rehearsal; stopped: boolean } | undefined;
  /** Warm kernels that have rehearsed, or have nothing to rehearse. */
  readonly #rehearsed = new WeakSet<K>();
  readonly #dead = new WeakSet<K>();
  #servedRehearsed = 0;
  #rehearsalsStopped = 0;
  #lastRequest = Number.NEGATIVE_INFINITY;
  #rehearseTimer: NodeJS.Timeout | undefined;

  constructor(specs: readonly string[], deps: PoolDeps<K>) {
    this.#deps = deps;
    this.#now = deps.now ?? Date.now;
    this.#parallel =
      deps.config.parallel > 0 ? deps.config.parallel : 2 * Math.max(1, availableParallelism());
    const { size, max, headroom, memoryMs } = deps.config;
    for (const s of specs) {
      this.#ready.set(s, []);
      this.#demand.set(s, new Demand({ min: size, max: Math.max(size, max), headroom, memoryMs }));
    }
  }

  /** Warm kernels, the one rehearsing included. */
  get pooled(): number {
    let n = this.#rehearsing ? 1 : 0;
    for (const list of this.#ready.values()) n += list.length;
    return n;
  }
  /**
   * A warm kernel is rehearsing a first cell now, or one will once requests have paused for
   * REHEARSE_QUIET_MS (0 or 1).
   */
  get rehearsing(): number {
    return this.#rehearsing || this.#rehearseTimer ? 1 : 0;
  }
  /** Requests served so far with a warm kernel that had rehearsed. */
  get servedRehearsed(): number {
    return this.#servedRehearsed;
  }
  /** Rehearsals stopped so far because a request arrived. */
  get rehearsalsStopped(): number {
    return this.#rehearsalsStopped;
  }
  get starting(): number {
    let n = 0;
    for (const c of this.#starting.values()) n += c;
    return n;
  }
  /** A refill put off after a hand-out (refillDelayMs) is due: starts are about to begin. */
  get refillPending(): boolean {
    return this.#deferred !== undefined;
  }
  /** Requests waiting that no start in progress (or rehearsal) will serve. */
  get queued(): number {
    let n = 0;
    const covered = this.#comingAll();
    for (const w of this.#waiters) {
      const c = covered.get(w.spec) ?? 0;
      if (c > 0) covered.set(w.spec, c - 1);
      else n++;
    }
    return n;
  }
  /** Consecutive failed pool starts (0 when the last one succeeded). */
  get failures(): number {
    return this.#failures;
  }
  /** Requests served so far, by how. */
  get served(): Readonly<Record<HandOut, number>> {
    return { ...this.#served };
  }
  /** Warm kernels of this spec, the one rehearsing included. */
  readyCount(spec: string): number {
    return (this.#ready.get(spec)?.length ?? 0) + this.#rehearsingOf(spec);
  }
  /** Warm kernels this spec's pool aims for now (0 for a spec that is not pooled). */
  target(spec: string): number {
    return this.#demand.get(spec)?.target(this.#now()) ?? 0;
  }
  /** The measured start time of this spec's kernels (ms; an initial guess until one started). */
  startMs(spec: string): number | undefined {
    return this.#demand.get(spec)?.startMs;
  }

  #startingOf(spec: string): number {
    return this.#starting.get(spec) ?? 0;
  }
  #rehearsingOf(spec: string): number {
    return this.#rehearsing?.spec === spec ? 1 : 0;
  }
  /** Kernels of this spec that will be ready soon: starts in progress and the one rehearsing. */
  #comingOf(spec: string): number {
    return this.#startingOf(spec) + this.#rehearsingOf(spec);
  }
  #comingAll(): Map<string, number> {
    const m = new Map(this.#starting);
    if (this.#rehearsing) m.set(this.#rehearsing.spec, (m.get(this.#rehearsing.spec) ?? 0) + 1);
    return m;
  }

  /** The warm kernel to hand out: the oldest that has rehearsed, else the oldest. */
  #take(spec: string): K | undefined {
    const list = this.#ready.get(spec);
    if (!list || list.length === 0) return undefined;
    const i = list.findIndex((k) => this.#rehearsed.has(k));
    const [k] = list.splice(Math.max(0, i), 1) as [K];
    if (this.#rehearsed.has(k)) this.#servedRehearsed++;
    return k;
  }
  #waitingOf(spec: string): number {
    let n = 0;
    for (const w of this.#waiters) if (w.spec === spec) n++;
    return n;
  }

  /** A kernel of this spec: from the pool, a start in progress, a new start, or the queue. */
  acquire(spec: string): Promise<K> {
    if (this.#closed)
      return Promise.reject(new KernelManagerError('CLOSED', 'the kernel manager is shutting down'));
    this.#lastRequest = this.#now();
    this.#demand.get(spec)?.request(this.#lastRequest);
    this.#stopRehearsal();
    const k = this.#take(spec);
    if (k) {
      this.#served.pool++;
      if ((this.#ready.get(spec)?.length ?? 0) > 0 && this.#deps.config.refillDelayMs > 0) this.#deferPump();
      else queueMicrotask(() => this.pump());
      return Promise.resolve(k);
    }
    const covered = this.#comingOf(spec) > this.#waitingOf(spec);
    if (!covered && this.queued >= this.#deps.config.queueMax && !this.#canStart()) {
      return Promise.reject(
        new KernelManagerError('CAPACITY', 'all kernels are busy and the wait queue is full'),
      );
    }
    return new Promise((resolve, reject) => {
      const w: Waiter<K> = {
        spec,
        source: covered ? 'starting' : undefined,
        resolve,
        reject,
        timer: undefined,
      };
      this.#arm(w);
      this.#waiters.push(w);
      this.pump();
      w.source ??= this.#comingOf(spec) >= this.#waitingOf(spec) ? 'cold' : 'queued';
    });
  }

  /** One refill for every hand-out within refillDelayMs, after it (pump() sizes it). */
  #deferPump(): void {
    if (this.#deferred || this.#closed) return;
    this.#deferred = setTimeout(() => {
      this.#deferred = undefined;
      this.pump();
    }, this.#deps.config.refillDelayMs);
    this.#deferred.unref();
  }

  #canStart(): boolean {
    return this.starting < this.#parallel && this.#deps.live() < this.#deps.maxKernels;
  }

  /** The queue timeout counts time waiting for a start to begin: a waiter a start will serve waits on. */
  #arm(w: Waiter<K>): void {
    const { queueTimeoutMs } = this.#deps.config;
    w.timer = setTimeout(() => {
      const ahead = this.#waiters.filter((x) => x.spec === w.spec).indexOf(w);
      if (ahead >= 0 && ahead < this.#comingOf(w.spec)) return this.#arm(w);
      this.#remove(w);
      w.reject(
        new KernelManagerError('QUEUE_TIMEOUT', `no kernel became free within ${queueTimeoutMs / 1000} s`),
      );
      this.pump();
    }, queueTimeoutMs);
  }

  #remove(w: Waiter<K>): void {
    const i = this.#waiters.indexOf(w);
    if (i >= 0) this.#waiters.splice(i, 1);
    clearTimeout(w.timer);
  }

  #serve(w: Waiter<K>, k: K): void {
    this.#remove(w);
    this.#served[w.source ?? 'queued']++;
    w.resolve(k);
  }

  /**
   * Serves waiters from ready kernels, starts kernels for the waiters no start covers (oldest first),
   * then refills every pooled spec towards its target, as many starts at once as `parallel` allows.
   * Called when a request arrives, a kernel becomes ready or dies, and capacity frees up.
   */
  pump(): void {
    if (this.#closed) return;
    for (const w of [...this.#waiters]) {
      const k = this.#take(w.spec);
      if (k) this.#serve(w, k);
    }
    // Starts for waiters, in arrival order.
    const covered = this.#comingAll();
    for (const w of this.#waiters) {
      const c = covered.get(w.spec) ?? 0;
      if (c > 0) {
        covered.set(w.spec, c - 1);
        continue;
      }
      if (this.#deps.live() >= this.#deps.maxKernels) this.#evictFor(w.spec);
      if (!this.#canStart()) break;
      this.#startOne(w.spec);
    }
    // The starts requests wait on run at a kernel's full CPU weight.
    const promote = new Map<string, number>();
    for (const w of this.#waiters) promote.set(w.spec, (promote.get(w.spec) ?? 0) + 1);
    if (!this.#retry) this.#refill(promote);
    for (const [spec, n] of promote) this.#deps.promote?.(spec, Math.min(n, this.#startingOf(spec)));
    this.#rehearseNext();
  }

  /**
   * A request has arrived: the rehearsal in progress, if any, stops (its kernel goes back to the pool
   * not rehearsed, or to the request if it finds no other warm kernel), so it takes no CPU from the
   * visitor's first moments nor from the refill that follows a hand-out.
   */
  #stopRehearsal(): void {
    const r = this.#rehearsing;
    if (!r || r.stopped) return;
    r.stopped = true;
    this.#rehearsalsStopped++;
    r.rehearsal.stop();
  }

  /**
   * Has one warm kernel rehearse, when the machine is not starting kernels, no request waits, no
   * refill is due and no request came for REHEARSE_QUIET_MS: rehearsals use idle time only. A request
   * that arrives meanwhile stops it; one that finds only the rehearsing kernel waits for it to stop,
   * like one served by a start in progress.
   */
  #rehearseNext(): void {
    const rehearse = this.#deps.rehearse;
    if (!rehearse || this.#rehearsing || this.#closed) return;
    if (this.starting > 0 || this.#waiters.length > 0 || this.#deferred) return;
    const quietIn = this.#lastRequest + REHEARSE_QUIET_MS - this.#now();
    const due = [...this.#ready.values()].some((list) => list.some((k) => !this.#rehearsed.has(k)));
    if (!due) return;
    if (quietIn > 0) {
      // Look again once it has been quiet long enough (pump() runs then).
      if (!this.#rehearseTimer) {
        this.#rehearseTimer = setTimeout(() => {
          this.#rehearseTimer = undefined;
          this.pump();
        }, quietIn);
        this.#rehearseTimer.unref();
      }
      return;
    }
    for (const [spec, list] of this.#ready) {
      for (const k of [...list]) {
        if (this.#rehearsed.has(k)) continue;
        const rehearsal = rehearse(spec, k);
        if (!rehearsal) {
          this.#rehearsed.add(k);
          continue;
        }
        list.splice(list.indexOf(k), 1);
        const current = { spec, k, rehearsal, stopped: false };
        this.#rehearsing = current;
        let failed = false;
        rehearsal.done
          .then(
            () => {
              // A stopped one may have ended first: counting it as not rehearsed costs only a rerun.
              if (!current.stopped) this.#rehearsed.add(k);
            },
            (e: unknown) => {
              failed = true;
              this.#deps.log.warn({ err: e, spec }, 'a warm kernel failed its rehearsal');
              void k.shutdown('failed its rehearsal');
            },
          )
          .finally(() => {
            this.#rehearsing = undefined;
            if (this.#closed || this.#dead.has(k) || failed) return this.pump();
            // Back to the pool first in line (or to the oldest request waiting for it).
            const waiter = this.#waiters.find((w) => w.spec === spec);
            if (waiter) {
              if (this.#rehearsed.has(k)) this.#servedRehearsed++;
              this.#serve(waiter, k);
            } else list.unshift(k);
            this.pump();
          });
        return;
      }
    }
  }

  /** Starts refills towards each pooled spec's target; marks the specs whose pool runs dry in `promote`. */
  #refill(promote: Map<string, number>): void {
    const now = this.#now();
    for (const [spec, demand] of this.#demand) {
      const surplusComing = Math.max(0, this.#comingOf(spec) - this.#waitingOf(spec));
      const wanted = demand.target(now) - (this.#ready.get(spec)?.length ?? 0) - surplusComing;
      const n = startsAllowed({
        wanted,
        starting: this.starting,
        parallel: this.#parallel,
        live: this.#deps.live(),
        // Refills leave room under the cap for requests waiting on it.
        maxKernels: this.#deps.maxKernels - this.queued,
      });
      for (let i = 0; i < n; i++) this.#startOne(spec);
      // A pool below half its target is running dry: its refills stop yielding the CPU too.
      if (this.readyCount(spec) < Math.ceil(demand.target(now) / 2))
        promote.set(spec, Number.POSITIVE_INFINITY);
    }
    this.#scheduleRetire();
  }

  /** Makes room under the global cap by retiring a warm kernel of another spec. */
  #evictFor(spec: string): void {
    // One eviction per waiter at a time: the cap counts an evicted kernel until it is dead.
    if (this.#evicting >= this.queued) return;
    for (const [name, list] of this.#ready) {
      if (name === spec || list.length === 0) continue;
      const k = list.pop() as K;
      this.#evicting++;
      void k.shutdown('retired from the pool to make room').finally(() => {
        this.#evicting--;
        this.pump();
      });
      return;
    }
  }

  #scheduleRetire(): void {
    if (this.#retireTimer || this.#closed) return;
    // Only a pool grown past its floor can shrink.
    if (![...this.#ready.values()].some((list) => list.length > this.#deps.config.size)) return;
    this.#retireTimer = setTimeout(() => {
      this.#retireTimer = undefined;
      this.retireSurplus();
      this.pump();
    }, RETIRE_EVERY_MS);
    this.#retireTimer.unref();
  }

  /** Shuts down one warm kernel per spec that holds more than its target (demand fell). */
  retireSurplus(): void {
    const now = this.#now();
    for (const [spec, d] of this.#demand) {
      const list = this.#ready.get(spec) ?? [];
      if (list.length > d.target(now)) void (list.pop() as K).shutdown('retired from the pool: demand fell');
    }
  }

  #startOne(spec: string): void {
    this.#starting.set(spec, this.#startingOf(spec) + 1);
    const t0 = this.#now();
    this.#deps.launch(spec).then(
      (k) => {
        this.#starting.set(spec, this.#startingOf(spec) - 1);
        this.#failures = 0;
        this.#demand.get(spec)?.started(this.#now() - t0);
        if (this.#closed) {
          void k.shutdown('the kernel manager is shutting down');
          return;
        }
        const waiter = this.#waiters.find((w) => w.spec === spec);
        if (waiter) this.#serve(waiter, k);
        else if (this.#ready.has(spec)) {
          const list = this.#ready.get(spec) as K[];
          list.push(k);
          // A warm kernel that dies while waiting in the pool is dropped and replaced.
          k.once('dead', () => {
            this.#dead.add(k);
            const i = list.indexOf(k);
            if (i >= 0) list.splice(i, 1);
          });
        } else void k.shutdown('no longer wanted');
        this.pump();
      },
      (e: unknown) => {
        this.#starting.set(spec, this.#startingOf(spec) - 1);
        if (this.#closed) {
          // Shutdown stopped it while it started: expected, and nothing to retry.
          this.#deps.log.info(
            { spec, reason: e instanceof Error ? e.message : String(e) },
            'a pool kernel still starting was stopped at shutdown',
          );
          return;
        }
        // The oldest request for this spec learns why (a broken spec fails its requests, not a timeout).
        const waiter = this.#waiters.find((w) => w.spec === spec);
        if (waiter) {
          this.#remove(waiter);
          waiter.reject(e instanceof Error ? e : new Error(String(e)));
        } else {
          this.#failures++;
          this.#deps.log.error({ err: e, spec }, 'a pool kernel failed to start');
          // Back off so a broken spec does not spin; requests still start kernels meanwhile.
          const delay = Math.min(30_000, 500 * 2 ** Math.min(this.#failures, 6));
          clearTimeout(this.#retry);
          this.#retry = setTimeout(() => {
            this.#retry = undefined;
            this.pump();
          }, delay);
          this.#retry.unref();
        }
        this.pump();
      },
    );
  }

  /** Stops refilling, fails waiters, and returns the warm kernels for the caller to shut down. */
  close(): K[] {
    this.#closed = true;
    clearTimeout(this.#retry);
    clearTimeout(this.#deferred);
    clearTimeout(this.#retireTimer);
    clearTimeout(this.#rehearseTimer);
    for (const w of [...this.#waiters]) {
      this.#remove(w);
      w.reject(new KernelManagerError('CLOSED', 'the kernel manager is shutting down'));
    }
    const all = [...this.#ready.values()].flat();
    if (this.#rehearsing) all.push(this.#rehearsing.k);
    for (const list of this.#ready.values()) list.length = 0;
    return all;
  }
}
