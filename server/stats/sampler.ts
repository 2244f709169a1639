// The per-instance sampler behind the stats page's kernel and connection charts: every
// RUNCELL_STATS_SAMPLE_MS it reads this instance's gauges (kernels handed out and busy, the warm
// pool, starts and queue, websockets and long-polls, event-loop delay) and writes one row to
// stats_samples. Off the hot path (an unref'd timer; one write in flight at most, a tick that finds
// one still running is skipped) and tolerant of a database outage: a failed write is logged (once a
// minute at most) and that sample is lost; the next tick tries again. Nothing here ever throws.
import { monitorEventLoopDelay } from 'node:perf_hooks';
import type { Logger } from 'pino';
import type { KernelManager } from '../../kernel-manager/index.js';
import type { Metrics } from '../metrics.js';
import type { Sql } from '../store/db.js';

export interface Gauges {
  kernels: number;
  busy: number;
  pooled: number;
  starting: number;
  queued: number;
  websockets: number;
  longpolls: number;
}

export interface SamplerOptions {
  sql: Sql;
  /** This instance's name among those sharing the database. */
  instance: string;
  intervalMs: number;
  read: () => Gauges | Promise<Gauges>;
  log: Logger;
}

export interface Sampler {
  start(): void;
  /** Stops the timer and waits for a write in flight (so the store can close after it). */
  stop(): Promise<void>;
  /** Takes and writes one sample now; false when it could not be written. */
  sampleOnce(at?: Date): Promise<boolean>;
  readonly stats: { written: number; failed: number; skipped: number };
}

const LOG_EVERY_MS = 60_000;
/**
 * How long stop() waits for a sample being written. After a database outage a query can hang on a
 * connection that never answers (seen in CI: a stop held past its 10 s limit here); a sample is
 * expendable, the stop is not.
 */
export const STOP_WAIT_MS = 1_000;

/** The gauges of a running server: kernel-manager's counts and the transports' connection gauges. */
export function serverGauges(manager: KernelManager, metrics: Metrics): () => Promise<Gauges> {
  const gauge = async (g: Metrics['sockets']) => (await g.get()).values[0]?.value ?? 0;
  return async () => {
    const s = manager.stats();
    const handedOut = manager.list();
    return {
      kernels: handedOut.length,
      busy: handedOut.filter((k) => k.state === 'busy').length,
      pooled: s.pooled,
      starting: s.starting,
      queued: s.queued,
      websockets: await gauge(metrics.sockets),
      longpolls: await gauge(metrics.longpolls),
    };
  };
}

export function createSampler(o: SamplerOptions): Sampler {
  const lag = monitorEventLoopDelay({ resolution: 20 });
  const stats = { written: 0, failed: 0, skipped: 0 };
  let timer: NodeJS.Timeout | null = null;
  let inFlight: Promise<boolean> | null = null;
  let lastLog = 0;
  let failing = false;

  async function write(at: Date): Promise<boolean> {
    try {
      const g = await o.read();
      // Nanoseconds; 0 when the histogram saw no delay at all since the last reset.
      const lagMs = lag.count > 0 ? lag.percentile(99) / 1e6 : null;
      lag.reset();
      await o.sql`
        insert into stats_samples
          (instance, at, interval_ms, kernels, busy, pooled, starting, queued, websockets, longpolls, loop_lag_ms)
        values (${o.instance}, ${at}, ${o.intervalMs}, ${g.kernels}, ${g.busy}, ${g.pooled}, ${g.starting},
                ${g.queued}, ${g.websockets}, ${g.longpolls}, ${lagMs})
        on conflict (instance, at) do nothing`;
      stats.written++;
      if (failing) o.log.info({ instance: o.instance }, 'stats sampler: writing samples again');
      failing = false;
      return true;
    } catch (err) {
      stats.failed++;
      failing = true;
      if (Date.now() - lastLog >= LOG_EVERY_MS) {
        lastLog = Date.now();
        o.log.warn(
          { err, failed: stats.failed },
          'stats sampler: a sample could not be written; skipping it',
        );
      }
      return false;
    }
  }

  function sampleOnce(at: Date = new Date()): Promise<boolean> {
    if (inFlight) {
      stats.skipped++;
      return Promise.resolve(false);
    }
    inFlight = write(at).finally(() => {
      inFlight = null;
    });
    return inFlight;
  }

  return {
    stats,
    sampleOnce,
    start() {
      if (timer || o.intervalMs <= 0) return;
      lag.enable();
      timer = setInterval(() => void sampleOnce(), o.intervalMs);
      timer.unref();
    },
    async stop() {
      if (timer) clearInterval(timer);
      timer = null;
      lag.disable();
      if (!inFlight) return;
      let t: NodeJS.Timeout | undefined;
      const gaveUp = new Promise<'gave up'>((r) => {
        t = setTimeout(() => r('gave up'), STOP_WAIT_MS);
      });
      const outcome = await Promise.race([inFlight, gaveUp]);
      clearTimeout(t);
      if (outcome === 'gave up')
        o.log.warn('stats sampler: the sample being written got no answer; not waiting for it');
    },
  };
}
