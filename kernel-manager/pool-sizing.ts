// How many warm kernels a spec's pool keeps: enough to serve the requests that arrive while a refill
// starts (Little's law: arrivals during one start time), sized for the recent peak rather than the
// average, since a visitor's wait is the tail. Pure bookkeeping: no timers, no processes.

export interface SizingConfig {
  /** Warm kernels kept at least (the pool's floor). */
  min: number;
  /** Warm kernels kept at most (the pool's ceiling). */
  max: number;
  /** Multiplies the peak demand per start time. */
  headroom: number;
  /** How long a peak in demand is remembered before the pool shrinks back. */
  memoryMs: number;
}

/** A start time assumed until one has been measured (a plain sandboxed start on a loaded 2-core host). */
export const INITIAL_START_MS = 1_000;
/** Weight of the newest sample in the start-time average. */
const START_EWMA = 0.3;
/** Demand timestamps kept at most per spec (bounds the work per estimate). */
const MAX_EVENTS = 2_000;

export class Demand {
  readonly #cfg: SizingConfig;
  /** Request times (ms), oldest first, within the last memoryMs. */
  readonly #events: number[] = [];
  #startMs: number | undefined;

  constructor(cfg: SizingConfig) {
    this.#cfg = cfg;
  }

  /** A request for a kernel of this spec arrived at `now`. */
  request(now: number): void {
    this.#events.push(now);
    if (this.#events.length > MAX_EVENTS) this.#events.shift();
  }

  /** A kernel of this spec took `ms` from launch to ready (prelude included). */
  started(ms: number): void {
    this.#startMs = this.#startMs === undefined ? ms : this.#startMs + START_EWMA * (ms - this.#startMs);
  }

  /** The current estimate of one start's duration. */
  get startMs(): number {
    return this.#startMs ?? INITIAL_START_MS;
  }

  #forget(now: number): void {
    const horizon = now - this.#cfg.memoryMs;
    let i = 0;
    while (i < this.#events.length && (this.#events[i] as number) < horizon) i++;
    if (i > 0) this.#events.splice(0, i);
  }

  /** The most requests that arrived within any one start time, over the remembered window. */
  peak(now: number): number {
    this.#forget(now);
    return peakWithin(this.#events, this.startMs);
  }

  /** Warm kernels to keep for this spec now. */
  target(now: number): number {
    return targetSize(this.peak(now), this.#cfg);
  }
}

/** The largest number of sorted timestamps inside any window of `windowMs` (two pointers, O(n)). */
export function peakWithin(sorted: readonly number[], windowMs: number): number {
  let best = 0;
  let lo = 0;
  for (let hi = 0; hi < sorted.length; hi++) {
    while ((sorted[hi] as number) - (sorted[lo] as number) > windowMs) lo++;
    best = Math.max(best, hi - lo + 1);
  }
  return best;
}

/** peak × headroom, rounded up, between the floor and the ceiling (the floor wins if they cross). */
export function targetSize(peak: number, cfg: Pick<SizingConfig, 'min' | 'max' | 'headroom'>): number {
  const want = Math.ceil(peak * cfg.headroom - 1e-9);
  return Math.max(cfg.min, Math.min(cfg.max, want));
}

/** Starts to begin now: what is wanted, within the free start slots and the room under the cap. */
export function startsAllowed(o: {
  wanted: number;
  starting: number;
  parallel: number;
  live: number;
  maxKernels: number;
}): number {
  return Math.max(0, Math.min(o.wanted, o.parallel - o.starting, o.maxKernels - o.live));
}
