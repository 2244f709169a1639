// Every error the jobs API answers with, declared once (codes RUNCELL_ERR_JOB_*). The app's error
// handler sends { code, message }; docs/jobs.md lists the same codes.
import createError from '@fastify/error';

type Args = [string, { cause: unknown }?];
const E = (code: string, status: number) => createError<string, number, Args>(code, '%s', status);

export const JobNotFound = E('RUNCELL_ERR_JOB_NOT_FOUND', 404);
export const JobNotCancellable = E('RUNCELL_ERR_JOB_NOT_CANCELLABLE', 409);
export const JobNotRerunnable = E('RUNCELL_ERR_JOB_NOT_RERUNNABLE', 409);
export const JobBadFile = E('RUNCELL_ERR_JOB_BAD_FILE', 400);
export const JobUnknownKernel = E('RUNCELL_ERR_JOB_UNKNOWN_KERNEL', 400);
export const JobBadCursor = E('RUNCELL_ERR_JOB_BAD_CURSOR', 400);
export const JobCodeTooLarge = E('RUNCELL_ERR_JOB_CODE_TOO_LARGE', 413);
export const JobBatchTooLarge = E('RUNCELL_ERR_JOB_BATCH_TOO_LARGE', 413);
export const JobQueueFull = E('RUNCELL_ERR_JOB_QUEUE_FULL', 429);
export const JobsClosed = E('RUNCELL_ERR_JOBS_CLOSED', 503);
/** `needs` that name no job, name one ambiguously, or form a cycle. */
export const JobBadPipeline = E('RUNCELL_ERR_JOB_BAD_PIPELINE', 400);

/** Every code with its HTTP status, for docs and tests. */
export const JOB_ERROR_CODES: Record<string, number> = Object.fromEntries(
  [
    JobNotFound,
    JobNotCancellable,
    JobNotRerunnable,
    JobBadFile,
    JobUnknownKernel,
    JobBadCursor,
    JobCodeTooLarge,
    JobBatchTooLarge,
    JobQueueFull,
    JobsClosed,
    JobBadPipeline,
  ].map((C) => {
    const e = new C('x');
    return [e.code, e.statusCode ?? 500];
  }),
);
