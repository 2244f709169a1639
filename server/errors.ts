// The server's error classes, one per code of the catalogue (shared/errors.ts), thrown by name. The
// original error goes in as `cause` (logged, never sent); responses carry { code, message } only
// (server/error-handler.ts). Also here: the failures of the store and of kernel-manager as these errors.
import createError, { type FastifyError } from '@fastify/error';
import type { KernelManagerError, KernelManagerErrorCode } from '../kernel-manager/index.js';
import { ERRORS, type ServerErrorCode } from '../shared/errors.js';

type Cause = { cause: unknown };
/** Constructor arguments from the message template: the text or number it formats, then `{ cause }`. */
type Args<M extends string> = M extends `${string}%d${string}`
  ? [number, Cause?]
  : M extends `${string}%s${string}`
    ? [string, Cause?]
    : [Cause?];

function E<C extends ServerErrorCode>(code: C) {
  const { status, message } = ERRORS[code];
  return createError<C, (typeof ERRORS)[C]['status'], Args<(typeof ERRORS)[C]['message']>>(
    code,
    message,
    status,
  );
}

// Requests
export const BadRequest = E('RUNCELL_ERR_BAD_REQUEST');
export const UnknownKernelName = E('RUNCELL_ERR_UNKNOWN_KERNEL_NAME');
export const Unauthorized = E('RUNCELL_ERR_UNAUTHORIZED');
export const ForbiddenOrigin = E('RUNCELL_ERR_FORBIDDEN_ORIGIN');
export const Forbidden = E('RUNCELL_ERR_FORBIDDEN');
export const NotFound = E('RUNCELL_ERR_NOT_FOUND');
export const NoSuchKernel = E('RUNCELL_ERR_NO_SUCH_KERNEL');
export const NoSuchSpec = E('RUNCELL_ERR_NO_SUCH_SPEC');
export const NoSuchSession = E('RUNCELL_ERR_NO_SUCH_SESSION');
export const MethodNotAllowed = E('RUNCELL_ERR_METHOD_NOT_ALLOWED');
export const KernelDead = E('RUNCELL_ERR_KERNEL_DEAD');
export const FileRefused = E('RUNCELL_ERR_FILE_REFUSED');
export const CodeTooLarge = E('RUNCELL_ERR_CODE_TOO_LARGE');
export const BodyTooLarge = E('RUNCELL_ERR_BODY_TOO_LARGE');
export const UnsupportedMediaType = E('RUNCELL_ERR_UNSUPPORTED_MEDIA_TYPE');
export const RateLimited = E('RUNCELL_ERR_RATE_LIMITED');
export const Internal = E('RUNCELL_ERR_INTERNAL');
export const KernelStartFailed = E('RUNCELL_ERR_KERNEL_START_FAILED');
export const AtCapacity = E('RUNCELL_ERR_AT_CAPACITY');
export const NoKernelHost = E('RUNCELL_ERR_NO_KERNEL_HOST');
export const ShuttingDown = E('RUNCELL_ERR_SHUTTING_DOWN');
// API tokens and the browser login
export const NoSuchToken = E('RUNCELL_ERR_NO_SUCH_TOKEN');
export const TooManyTokens = E('RUNCELL_ERR_TOO_MANY_TOKENS');
export const TokenNotRevocable = E('RUNCELL_ERR_TOKEN_NOT_REVOCABLE');
export const BadCallback = E('RUNCELL_ERR_BAD_CALLBACK');
export const LoginCodeInvalid = E('RUNCELL_ERR_LOGIN_CODE_INVALID');
/** An issued token cannot be checked while the database is down: refused, never let through. */
export const TokenUnverifiable = E('RUNCELL_ERR_TOKEN_UNVERIFIABLE');
// The store
export const StoreUnavailableError = E('RUNCELL_ERR_STORE_UNAVAILABLE');
export const StoreInternalError = E('RUNCELL_ERR_STORE_INTERNAL');
/** The database's disk is full (Postgres 53100 disk_full): 507 Insufficient Storage (RFC 4918 §11.5). */
export const StoreFullError = E('RUNCELL_ERR_STORE_FULL');
export const PermalinkNotFoundError = E('RUNCELL_ERR_PERMALINK_NOT_FOUND');
export const PermalinkTooLargeError = E('RUNCELL_ERR_PERMALINK_TOO_LARGE');
export const InlineCodeInvalidError = E('RUNCELL_ERR_INLINE_CODE_INVALID');
export const FileNotFoundError = E('RUNCELL_ERR_FILE_NOT_FOUND');
export const RangeNotSatisfiableError = E('RUNCELL_ERR_RANGE_NOT_SATISFIABLE');
export const InvalidFileNameError = E('RUNCELL_ERR_INVALID_FILE_NAME');
// tus uploads
export const TusVersionError = E('RUNCELL_ERR_TUS_VERSION');
export const UploadNotFoundError = E('RUNCELL_ERR_UPLOAD_NOT_FOUND');
export const UploadOffsetMismatchError = E('RUNCELL_ERR_UPLOAD_OFFSET_MISMATCH');
export const UploadBusyError = E('RUNCELL_ERR_UPLOAD_BUSY');
export const UploadTooLargeError = E('RUNCELL_ERR_UPLOAD_TOO_LARGE');
export const UploadQuotaError = E('RUNCELL_ERR_UPLOAD_QUOTA');
export const UploadContentTypeError = E('RUNCELL_ERR_UPLOAD_CONTENT_TYPE');
export const UploadChecksumMismatchError = E('RUNCELL_ERR_UPLOAD_CHECKSUM_MISMATCH');
/** The PATCH body ended early (client gone); what arrived is kept. Rarely seen: the socket is gone. */
export const UploadInterruptedError = E('RUNCELL_ERR_UPLOAD_INTERRUPTED');
export const UploadIncompleteError = E('RUNCELL_ERR_UPLOAD_INCOMPLETE');
// The jobs API
export const JobNotFound = E('RUNCELL_ERR_JOB_NOT_FOUND');
export const JobNotCancellable = E('RUNCELL_ERR_JOB_NOT_CANCELLABLE');
export const JobNotRerunnable = E('RUNCELL_ERR_JOB_NOT_RERUNNABLE');
export const JobBadFile = E('RUNCELL_ERR_JOB_BAD_FILE');
export const JobUnknownKernel = E('RUNCELL_ERR_JOB_UNKNOWN_KERNEL');
export const JobBadCursor = E('RUNCELL_ERR_JOB_BAD_CURSOR');
export const JobCodeTooLarge = E('RUNCELL_ERR_JOB_CODE_TOO_LARGE');
export const JobBatchTooLarge = E('RUNCELL_ERR_JOB_BATCH_TOO_LARGE');
export const JobInputTooLarge = E('RUNCELL_ERR_JOB_INPUT_TOO_LARGE');
export const JobQueueFull = E('RUNCELL_ERR_JOB_QUEUE_FULL');
export const JobsClosed = E('RUNCELL_ERR_JOBS_CLOSED');
/** `needs` that name no job, name one ambiguously, or form a cycle. */
export const JobBadPipeline = E('RUNCELL_ERR_JOB_BAD_PIPELINE');

/** One of the errors above (or any error carrying one of the catalogue's server codes). */
export type HttpError = FastifyError & { statusCode: number; retryAfter?: number; cause?: unknown };

export function isHttpError(err: unknown): err is HttpError {
  const code = (err as { code?: unknown } | null)?.code;
  return (
    err instanceof Error &&
    typeof code === 'string' &&
    Object.hasOwn(ERRORS, code) &&
    typeof (err as { statusCode?: unknown }).statusCode === 'number'
  );
}

/** An error with a Retry-After hint (429, 503). */
export function withRetryAfter<T extends FastifyError>(e: T, seconds: number): T & { retryAfter: number } {
  return Object.assign(e, { retryAfter: Math.max(1, Math.ceil(seconds)) });
}

/**
 * kernel-manager's codes as HTTP errors. A table over every KernelManagerErrorCode, so a new code does
 * not compile until it has an answer; kernel-manager's messages name no host path.
 */
const KERNEL_MANAGER_ANSWERS: Record<KernelManagerErrorCode, (e: Error, specName?: string) => HttpError> = {
  NO_SUCH_SPEC: (e, spec) => new UnknownKernelName(`no kernelspec named "${spec ?? ''}"`, { cause: e }),
  CAPACITY: (e) =>
    withRetryAfter(new AtCapacity('no kernel is free and the wait queue is full', { cause: e }), 5),
  NO_HOST: (e) =>
    withRetryAfter(new NoKernelHost('no kernel host is available; try again shortly', { cause: e }), 10),
  QUEUE_TIMEOUT: (e) =>
    withRetryAfter(new AtCapacity('timed out waiting for a free kernel', { cause: e }), 5),
  // The kernel's own last lines (bounded, host paths removed by kernel-manager) explain most failures.
  START_FAILED: (e) => {
    const output = (e as { output?: unknown }).output;
    const why =
      typeof output === 'string' && output && e.name === 'KernelStartError'
        ? `: ${e.message}. Its last output:\n${output}`
        : '';
    return new KernelStartFailed(`the kernel failed to start${why}`, { cause: e });
  },
  DEAD: (e) => new KernelDead('the kernel is dead', { cause: e }),
  BUSY: (e) => withRetryAfter(new RateLimited(e.message, { cause: e }), 1),
  CLOSED: (e) => withRetryAfter(new ShuttingDown('the server is shutting down', { cause: e }), 5),
  FILE_REFUSED: (e) => new FileRefused(e.message, { cause: e }),
  WIRE: (e) => new Internal('internal server error', { cause: e }),
  GATEWAY: (e) => new Internal('internal server error', { cause: e }),
};

/**
 * True for kernel-manager's errors (KernelManagerError and its subclasses), known by their code: a
 * type-only import keeps kernel-manager out of what the store loads through this module.
 */
export function isKernelManagerError(e: unknown): e is KernelManagerError {
  const code = (e as { code?: unknown } | null)?.code;
  return e instanceof Error && typeof code === 'string' && Object.hasOwn(KERNEL_MANAGER_ANSWERS, code);
}

/** kernel-manager's errors as HTTP errors; the original stays as `cause` (logged, never sent). */
export function fromKernelManager(e: unknown, specName?: string): HttpError {
  if (!isKernelManagerError(e)) return new Internal('internal server error', { cause: e });
  return KERNEL_MANAGER_ANSWERS[e.code](e, specName);
}

/** postgres.js and socket errors that mean "the database is not reachable right now". */
const unreachableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'CONNECT_TIMEOUT',
  'CONNECTION_CLOSED',
  'CONNECTION_ENDED',
  'CONNECTION_DESTROYED',
  '57P01', // admin_shutdown
  '57P02', // crash_shutdown
  '57P03', // cannot_connect_now
  '53300', // too_many_connections
]);

function isUnreachable(err: unknown): boolean {
  if (!(err instanceof Error)) return false;
  const { code, syscall } = err as { code?: unknown; syscall?: unknown };
  if (typeof code === 'string' && (unreachableCodes.has(code) || code.startsWith('08'))) return true;
  // The database's unix socket is gone (PGlite, or Postgres over a socket); not any missing file.
  if (code === 'ENOENT' && syscall === 'connect') return true;
  if (err instanceof AggregateError) return err.errors.some(isUnreachable);
  return false;
}

function isStorageFull(err: unknown): boolean {
  const code = (err as { code?: unknown } | null)?.code;
  return code === '53100' || code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * The database failing, as an error of the catalogue (null when `err` is no such failure): an
 * unreachable database is 503 with Retry-After, a full disk 507.
 */
export function storeFailure(err: unknown): HttpError | null {
  if (isUnreachable(err)) return withRetryAfter(new StoreUnavailableError({ cause: err }), 1);
  if (isStorageFull(err)) return new StoreFullError({ cause: err });
  return null;
}

/**
 * Maps anything thrown below the store's public methods to an error of the catalogue: ours pass
 * through, the database failing is `storeFailure`, anything else 500 STORE_INTERNAL (with `cause`).
 */
export function toStoreError(err: unknown): HttpError {
  if (isHttpError(err)) return err;
  return storeFailure(err) ?? new StoreInternalError({ cause: err });
}

export function isStoreUnavailable(err: unknown): boolean {
  return toStoreError(err).code === 'RUNCELL_ERR_STORE_UNAVAILABLE';
}
