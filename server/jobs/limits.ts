// The jobs service's limits and their defaults: createJobs() applies these to whatever its caller
// leaves out, and the server's RUNCELL_JOBS_* settings (server/config/settings.ts) default to them.
// A module of its own so the configuration can read them without loading the service.
import type { SchedulerLimits } from './scheduler.js';

export interface JobLimits extends SchedulerLimits {
  /** Jobs in one POST. */
  maxBatch: number;
  maxCodeBytes: number;
  defaultTimeoutMs: number;
  maxTimeoutMs: number;
  /** Queued jobs one owner may have at once. */
  maxQueuedPerOwner: number;
  /** Longest hold of a long-poll for events. */
  maxPollWaitMs: number;
}

export function defaultJobLimits(): JobLimits {
  return {
    // Small on purpose: each job needs a fresh kernel, and starting Python takes most of a core.
    concurrency: 4,
    perOwner: 2,
    sweepMs: 30_000,
    leaseMs: 30_000,
    maxBatch: 1_000,
    maxCodeBytes: 256 * 1024,
    defaultTimeoutMs: 60_000,
    maxTimeoutMs: 3_600_000,
    maxQueuedPerOwner: 10_000,
    maxPollWaitMs: 60_000,
    maxOutputBytes: 4 * 1024 * 1024,
    maxOutputFiles: 32,
    maxOutputFileBytes: 16 * 1024 * 1024,
    // Placed in the kernel's work-dir tmpfs (host memory, not the kernel's), one job at a time.
    maxInputBytes: 1024 * 1024 * 1024,
  };
}
