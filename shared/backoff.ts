// The one reconnect policy, for the embed's websocket and long-poll clients and uploads, the jobs page
// and the SDK: exponential backoff with "equal jitter" (half the ceiling fixed, half random), so a
// server restart does not see every client come back in the same millisecond, and no retry is ever
// immediate.

export interface BackoffOptions {
  /** First ceiling in ms. */
  baseMs?: number;
  /** Largest ceiling in ms. */
  capMs?: number;
  /** Source of randomness in [0, 1); tests pass a fixed one. */
  random?: () => number;
}

/** The delay before retry number `attempt` (from 0), for callers that count attempts themselves. */
export function backoffDelay(
  attempt: number,
  { baseMs = 250, capMs = 15_000, random = Math.random }: BackoffOptions = {},
): number {
  const base = Math.max(1, baseMs);
  const ceiling = Math.min(Math.max(base, capMs), base * 2 ** Math.min(attempt, 30));
  const r = Math.min(Math.max(random(), 0), 1);
  return Math.round(ceiling / 2 + (r * ceiling) / 2);
}

export class Backoff {
  readonly baseMs: number;
  readonly capMs: number;
  readonly #random: () => number;
  #attempt = 0;

  constructor({ baseMs = 250, capMs = 15_000, random = Math.random }: BackoffOptions = {}) {
    this.baseMs = Math.max(1, baseMs);
    this.capMs = Math.max(this.baseMs, capMs);
    this.#random = random;
  }

  /** Retries so far since the last reset. */
  get attempt(): number {
    return this.#attempt;
  }

  /** The delay before the next retry; each call counts one attempt. */
  next(): number {
    return backoffDelay(this.#attempt++, { baseMs: this.baseMs, capMs: this.capMs, random: this.#random });
  }

  /** After a success: the next failure starts from the base again. */
  reset(): void {
    this.#attempt = 0;
  }
}

/** Waits `ms`, or less if the signal aborts (then resolves false). */
export function sleep(ms: number, signal?: AbortSignal): Promise<boolean> {
  return new Promise((resolve) => {
    if (signal?.aborted) return resolve(false);
    const t = setTimeout(() => {
      signal?.removeEventListener('abort', onAbort);
      resolve(true);
    }, ms);
    const onAbort = () => {
      clearTimeout(t);
      resolve(false);
    };
    signal?.addEventListener('abort', onAbort, { once: true });
  });
}
