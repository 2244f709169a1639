// Abuse limits: token-bucket rates and concurrency counters per IP key, and the iopub output rate limit
// per execution. All state is bounded: idle buckets and finished executions are forgotten.

export type Take = { ok: true } | { ok: false; retryAfterS: number };

/** Token bucket per key: `perMinute` requests a minute, bursts up to `perMinute`. 0 disables. */
export class RateLimiter {
  readonly #buckets = new Map<string, { tokens: number; at: number }>();
  constructor(
    readonly perMinute: number,
    readonly now: () => number = Date.now,
  ) {}

  take(key: string): Take {
    if (this.perMinute <= 0) return { ok: true };
    const t = this.now();
    const rate = this.perMinute / 60_000; // tokens per ms
    const b = this.#buckets.get(key) ?? { tokens: this.perMinute, at: t };
    b.tokens = Math.min(this.perMinute, b.tokens + (t - b.at) * rate);
    b.at = t;
    this.#buckets.set(key, b);
    if (this.#buckets.size > 10_000) this.#prune(t, rate);
    if (b.tokens >= 1) {
      b.tokens -= 1;
      return { ok: true };
    }
    return { ok: false, retryAfterS: Math.max(1, Math.ceil((1 - b.tokens) / rate / 1000)) };
  }

  /** Gives back a token taken for something that was refused after all (never above the burst). */
  refund(key: string): void {
    const b = this.#buckets.get(key);
    if (b) b.tokens = Math.min(this.perMinute, b.tokens + 1);
  }

  #prune(t: number, rate: number): void {
    for (const [k, b] of this.#buckets) {
      if (b.tokens + (t - b.at) * rate >= this.perMinute) this.#buckets.delete(k);
    }
  }
}

/** Concurrent holders per key (live kernels, pollers, sockets). 0 disables. */
export class ConcurrencyLimiter {
  readonly #held = new Map<string, number>();
  constructor(readonly max: number) {}

  count(key: string): number {
    return this.#held.get(key) ?? 0;
  }

  /** A release function, or undefined when the key is at its limit. Release is idempotent. */
  acquire(key: string): (() => void) | undefined {
    const n = this.count(key);
    if (this.max > 0 && n >= this.max) return undefined;
    this.#held.set(key, n + 1);
    let released = false;
    return () => {
      if (released) return;
      released = true;
      const m = (this.#held.get(key) ?? 1) - 1;
      if (m <= 0) this.#held.delete(key);
      else this.#held.set(key, m);
    };
  }
}

/** Which ceiling refused: the visitor's own (a page) or the one its address shares with others. */
export type Scope = 'page' | 'address';

/**
 * A visitor's key: the page it named (every cell of a page is one visitor), else its address (a client
 * that names no page counts as one visitor per address).
 */
export const visitorKey = (ipKey: string, page?: string): string => (page ? `page:${page}` : `ip:${ipKey}`);

/**
 * A rate per visitor under a ceiling per address: a page gets what one visitor needs, and every page
 * behind one address (a classroom behind a school's NAT) shares a ceiling sized for many. A token is
 * taken from both or from neither.
 */
export class TieredRate {
  constructor(
    readonly visitor: RateLimiter,
    readonly address: RateLimiter,
  ) {}

  take(ipKey: string, visitor = visitorKey(ipKey)): Take & { scope?: Scope } {
    const v = this.visitor.take(visitor);
    if (!v.ok) return { ...v, scope: 'page' };
    const a = this.address.take(ipKey);
    if (!a.ok) {
      this.visitor.refund(visitor);
      return { ...a, scope: 'address' };
    }
    return v;
  }

  refund(ipKey: string, visitor = visitorKey(ipKey)): void {
    this.visitor.refund(visitor);
    this.address.refund(ipKey);
  }
}

/** Concurrent holders per visitor under a ceiling per address (see TieredRate). */
export class TieredConcurrency {
  constructor(
    readonly visitor: ConcurrencyLimiter,
    readonly address: ConcurrencyLimiter,
  ) {}

  /** A release function, or the scope whose limit is reached. */
  acquire(ipKey: string, visitor = visitorKey(ipKey)): (() => void) | Scope {
    const v = this.visitor.acquire(visitor);
    if (!v) return 'page';
    const a = this.address.acquire(ipKey);
    if (!a) {
      v();
      return 'address';
    }
    return () => {
      v();
      a();
    };
  }
}

export interface OutputVerdict {
  pass: boolean;
  /** Text to show the user (on stderr of that execution) when the limiter changes state. */
  notice?: string;
}

interface Window {
  slots: Float64Array; // messages per slot
  bytes: Float64Array; // bytes per slot
  slot: number; // absolute index of the newest slot
  exceeded: boolean;
  dropped: number;
}

const SLOTS = 30;

/**
 * Jupyter Server's iopub limits (iopub_msg_rate_limit, iopub_data_rate_limit, rate_limit_window),
 * applied per execution: rates are averaged over the window, every attempted message counts, and
 * output resumes once the kernel slows down. Each change of state produces a notice for the user.
 */
export class OutputRateLimiter {
  readonly #windows = new Map<string, Window>();
  readonly #slotMs: number;
  constructor(
    readonly msgRate: number,
    readonly dataRate: number,
    readonly windowMs: number,
    readonly now: () => number = Date.now,
  ) {
    this.#slotMs = windowMs / SLOTS;
  }

  get enabled(): boolean {
    return this.msgRate > 0 || this.dataRate > 0;
  }

  check(key: string, bytes: number): OutputVerdict {
    if (!this.enabled) return { pass: true };
    const slot = Math.floor(this.now() / this.#slotMs);
    let w = this.#windows.get(key);
    if (!w) {
      w = {
        slots: new Float64Array(SLOTS),
        bytes: new Float64Array(SLOTS),
        slot,
        exceeded: false,
        dropped: 0,
      };
      this.#windows.set(key, w);
      if (this.#windows.size > 1_000) {
        const oldest = this.#windows.keys().next().value;
        if (oldest !== undefined) this.#windows.delete(oldest);
      }
    }
    // Clear the slots that fell out of the window since the last message.
    for (let s = w.slot + 1; s <= Math.min(slot, w.slot + SLOTS); s++) {
      w.slots[s % SLOTS] = 0;
      w.bytes[s % SLOTS] = 0;
    }
    w.slot = Math.max(w.slot, slot);
    const i = slot % SLOTS;
    w.slots[i] = (w.slots[i] ?? 0) + 1;
    w.bytes[i] = (w.bytes[i] ?? 0) + bytes;
    let msgs = 0;
    let data = 0;
    for (let j = 0; j < SLOTS; j++) {
      msgs += w.slots[j] ?? 0;
      data += w.bytes[j] ?? 0;
    }
    const secs = this.windowMs / 1000;
    const overMsgs = this.msgRate > 0 && msgs / secs > this.msgRate;
    const overData = this.dataRate > 0 && data / secs > this.dataRate;
    if (overMsgs || overData) {
      w.dropped++;
      if (w.exceeded) return { pass: false };
      w.exceeded = true;
      const what = overMsgs
        ? `message rate (${this.msgRate} messages/s)`
        : `data rate (${this.dataRate} bytes/s)`;
      return {
        pass: false,
        notice:
          `[runcell] Output ${what} exceeded: output is being dropped until the code produces less ` +
          `(averaged over ${secs} s).\n`,
      };
    }
    if (w.exceeded) {
      w.exceeded = false;
      const n = w.dropped;
      w.dropped = 0;
      return { pass: true, notice: `[runcell] Output resumed; ${n} output message(s) were dropped.\n` };
    }
    return { pass: true };
  }

  /** The execution ended: forget it, with a final notice if output was still being dropped. */
  end(key: string): string | undefined {
    const w = this.#windows.get(key);
    this.#windows.delete(key);
    if (w?.exceeded && w.dropped > 0)
      return `[runcell] ${w.dropped} output message(s) were dropped in total.\n`;
    return undefined;
  }
}
