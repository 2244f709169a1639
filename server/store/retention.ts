// Retention: a periodic task that expires anonymous execute records, files nothing refers to,
// abandoned uploads, old stats samples, and then the blobs left without any reference. Permalinks
// are never expired, and neither are the files they show (permalink_files). Deletes go in bounded
// batches so no run holds long locks, and one instance at a time does the work (a transaction
// advisory lock).
import type { Logger } from 'pino';
import type { Sql } from './types.js';

export interface RetentionOptions {
  /** Anonymous (no principal) execute records older than this are deleted. 0 keeps them. */
  recordsDays: number;
  /** Files no permalink references, older than this, are deleted. 0 keeps them. */
  filesDays: number;
  /** Incomplete uploads untouched for this long, and complete ones this old, are deleted. */
  uploadsHours: number;
  /** Stats samples (server/stats/sampler.ts) older than this are deleted. 0 keeps them. */
  statsDays: number;
  /** How often the task runs; 0 disables the timer (runOnce still works). */
  intervalMs: number;
  batchSize: number;
}

export const defaultRetentionOptions: RetentionOptions = {
  recordsDays: 30,
  filesDays: 7,
  uploadsHours: 24,
  statsDays: 30,
  intervalMs: 60 * 60 * 1000,
  batchSize: 1000,
};

export interface RetentionResult {
  records: number;
  files: number;
  uploads: number;
  samples: number;
  blobs: number;
  /** False when another instance held the lock. */
  ran: boolean;
}

export interface Retention {
  start(): void;
  stop(): void;
  /** One pass; `now` lets tests move the clock forward. */
  runOnce(now?: Date): Promise<RetentionResult>;
}

const lockKey = '8247138563213287001';

export function createRetention(pool: Sql, options: Partial<RetentionOptions> & { log: Logger }): Retention {
  const o = { ...defaultRetentionOptions, ...options };
  let timer: NodeJS.Timeout | null = null;
  let running: Promise<RetentionResult> | null = null;

  /** Repeats a bounded DELETE ... RETURNING until it removes nothing; returns the total. */
  async function drain(del: () => Promise<readonly unknown[]>): Promise<number> {
    let total = 0;
    for (;;) {
      const n = (await del()).length;
      total += n;
      if (n < o.batchSize) return total;
    }
  }

  async function pass(now: Date): Promise<RetentionResult> {
    const result: RetentionResult = { records: 0, files: 0, uploads: 0, samples: 0, blobs: 0, ran: false };
    // A session lock must be taken and released on the same connection: reserve one.
    const sql = await pool.reserve();
    try {
      const [got] = await sql<{ ok: boolean }[]>`select pg_try_advisory_lock(${lockKey}::int8) as ok`;
      if (!got?.ok) return result;
      result.ran = true;
      const day = 86_400_000;
      if (o.recordsDays > 0) {
        const cutoff = new Date(now.getTime() - o.recordsDays * day);
        result.records = await drain(
          () => sql`delete from execute_records where id in (
            select id from execute_records where principal is null and started_at < ${cutoff}
            limit ${o.batchSize}) returning 1`,
        );
      }
      if (o.uploadsHours > 0) {
        const cutoff = new Date(now.getTime() - o.uploadsHours * 3_600_000);
        result.uploads = await drain(
          () => sql`delete from uploads where id in (
            select id from uploads where updated_at < ${cutoff} limit ${o.batchSize}) returning 1`,
        );
      }
      if (o.filesDays > 0) {
        const cutoff = new Date(now.getTime() - o.filesDays * day);
        result.files = await drain(
          () => sql`delete from files where id in (
            select f.id from files f
            where f.created_at < ${cutoff}
              and not exists (select 1 from permalink_files pf where pf.file_id = f.id)
            limit ${o.batchSize}) returning 1`,
        );
      }
      if (o.statsDays > 0) {
        const cutoff = new Date(now.getTime() - o.statsDays * day);
        result.samples = await drain(
          () => sql`delete from stats_samples where (instance, at) in (
            select instance, at from stats_samples where at < ${cutoff} limit ${o.batchSize}) returning 1`,
        );
      }
      // Blobs nothing refers to: sealed ones, and pending ones left by a crashed writer (an hour
      // old at least, so a write in progress is never taken).
      const pendingCutoff = new Date(now.getTime() - 3_600_000);
      result.blobs = await drain(
        () => sql`delete from blobs where id in (
          select b.id from blobs b
          where (b.sha256 is not null or b.created_at < ${pendingCutoff})
            and not exists (select 1 from files f where f.blob_id = b.id)
            and not exists (select 1 from uploads u where u.blob_id = b.id)
          limit ${o.batchSize}) returning 1`,
      );
      await sql`select pg_advisory_unlock(${lockKey}::int8)`;
      return result;
    } catch (err) {
      // Leave no lock behind on a connection that goes back to the pool.
      await sql`select pg_advisory_unlock_all()`.catch(() => {});
      throw err;
    } finally {
      sql.release();
    }
  }

  const retention: Retention = {
    start() {
      if (timer || o.intervalMs <= 0) return;
      timer = setInterval(() => {
        retention.runOnce().then(
          (r) => {
            if (r.records || r.files || r.uploads || r.samples || r.blobs)
              o.log.info({ retention: r }, 'retention pass');
          },
          (err: unknown) => o.log.warn({ err }, 'retention pass failed; will retry'),
        );
      }, o.intervalMs);
      timer.unref();
    },
    stop() {
      if (timer) clearInterval(timer);
      timer = null;
    },
    runOnce(now = new Date()) {
      running ??= pass(now).finally(() => {
        running = null;
      });
      return running;
    },
  };
  return retention;
}
