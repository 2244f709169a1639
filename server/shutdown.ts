// The graceful stop (SIGTERM, SIGINT), in the order that loses nothing and leaves nothing behind:
//   1. drain: new requests get 503 SHUTTING_DOWN; open connections stay, so clients watching jobs
//      see what happens next;
//   2. jobs: running jobs get their grace, then end `aborted` with the reason (written while the
//      database and the watchers' connections are still there);
//   3. the app: websocket and long-poll clients are told (1001), streams end, the listener closes;
//   4. kernels: every one shut down, and its sandbox (uid, cgroups, runtime mount) torn down;
//   5. the store: pending execute records written, the pool closed.
// All of it within `graceMs`: the jobs' grace is cut to leave the later steps their reserve.
import type { Logger } from 'pino';

export interface ShutdownParts {
  server: { drain(): void; close(): Promise<void> };
  jobs?: { close(o: { graceMs: number; deadline: number }): Promise<void> };
  manager: { close(): Promise<void> };
  store?: { close(): Promise<void> };
}

export interface ShutdownLimits {
  /** The whole stop (RUNCELL_SHUTDOWN_GRACE_MS). */
  graceMs: number;
  /** What running jobs get to finish (RUNCELL_JOBS_SHUTDOWN_GRACE_MS), at most graceMs - RESERVE_MS. */
  jobsGraceMs: number;
}

/** Kept for the steps after the jobs: kernels' shutdown_request grace (2 s), teardown, the store. */
export const RESERVE_MS = 4_000;

/** The jobs' grace within the whole stop's limit. */
export function jobsGrace(l: ShutdownLimits): number {
  return Math.max(0, Math.min(l.jobsGraceMs, l.graceMs - RESERVE_MS));
}

/** Runs the stop; resolves true when every step finished (the caller exits 0), false otherwise. */
export async function shutdown(parts: ShutdownParts, limits: ShutdownLimits, log: Logger): Promise<boolean> {
  const started = Date.now();
  const graceMs = jobsGrace(limits);
  if (graceMs < limits.jobsGraceMs) {
    log.warn(
      { jobsGraceMs: limits.jobsGraceMs, usedMs: graceMs, shutdownGraceMs: limits.graceMs },
      'the jobs shutdown grace is cut to fit the shutdown limit',
    );
  }
  let ok = true;
  const step = async (what: string, fn: () => Promise<void>) => {
    try {
      await fn();
      log.info({ step: what, ms: Date.now() - started }, 'shutdown step done');
    } catch (err) {
      ok = false;
      log.error({ err, step: what }, 'shutdown step failed');
    }
  };
  parts.server.drain();
  // Job writes get until the reserve starts; past it the jobs are left to the lease (docs/jobs.md).
  const deadline = started + limits.graceMs - RESERVE_MS / 2;
  if (parts.jobs)
    await step('jobs', () => (parts.jobs as NonNullable<ShutdownParts['jobs']>).close({ graceMs, deadline }));
  await step('app', () => parts.server.close());
  await step('kernels', () => parts.manager.close());
  if (parts.store) await step('store', () => (parts.store as NonNullable<ShutdownParts['store']>).close());
  log.info({ ms: Date.now() - started, ok }, ok ? 'shut down cleanly' : 'shut down with errors');
  return ok;
}
