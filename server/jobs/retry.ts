// A job's own writes (its claim, its transitions, its outputs) ride out a database blip: an
// unreachable database (connection refused or reset, Postgres restarting: server/errors.ts
// isStoreUnavailable) is retried with jittered exponential backoff until `deadline`; any other
// error is thrown at once. Each write is guarded (a transition names the states it leaves), so a
// retry after a commit whose answer was lost does no harm: the caller rereads to learn the outcome.
import { setTimeout as sleep } from 'node:timers/promises';
import type { Logger } from 'pino';
import { backoffDelay } from '../../shared/backoff.js';
import { isStoreUnavailable } from '../errors.js';

export interface RetryOptions {
  /** Epoch ms after which the last error is thrown (default: never give up). */
  deadline?: () => number;
  /** Stops retrying at once (the service was abandoned). */
  stopped?: () => boolean;
  log: Logger;
  what: string;
}

export async function retryStore<T>(fn: () => Promise<T>, o: RetryOptions): Promise<T> {
  for (let attempt = 0; ; attempt++) {
    try {
      return await fn();
    } catch (err) {
      if (!isStoreUnavailable(err) || o.stopped?.()) throw err;
      const delay = backoffDelay(attempt, { baseMs: 100, capMs: 2_000 });
      if (Date.now() + delay > (o.deadline?.() ?? Number.POSITIVE_INFINITY)) throw err;
      if (attempt === 0) o.log.warn({ err, what: o.what }, 'database unreachable; retrying the job write');
      await sleep(delay);
    }
  }
}
