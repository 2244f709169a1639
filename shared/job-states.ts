// A job's states and which of them are final, once: the server's schemas (shared/jobs.ts), the SDK,
// the CLI and the jobs page all decide "has it ended?" with this list. No schema code here, so the
// browser pages can import it at run time.

export const STATES = [
  'waiting',
  'queued',
  'launched',
  'running',
  'succeeded',
  'failed',
  'timed_out',
  'cancelled',
  'aborted',
  'skipped',
] as const;
/** States a job never leaves (a rerun is a new attempt, not a transition). */
export const FINAL_STATES = ['succeeded', 'failed', 'timed_out', 'cancelled', 'aborted', 'skipped'] as const;

export type State = (typeof STATES)[number];
export type FinalState = (typeof FINAL_STATES)[number];

/** True for a state the job never leaves (a rerun is a new attempt, not a transition). */
export const isFinal = (s: string): s is FinalState => (FINAL_STATES as readonly string[]).includes(s);
