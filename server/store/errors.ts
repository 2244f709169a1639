// Every error the store and its routes (permalinks, files, uploads) can answer with, declared once.
// Responses carry only { code, message }: never a stack, a SQL text or a host path; the original
// error is kept as `cause` for the log. To be merged into server/errors.ts.
import createError, { type FastifyError } from '@fastify/error';
import type { FastifyReply, FastifyRequest } from 'fastify';

export const StoreUnavailableError = createError(
  'RUNCELL_ERR_STORE_UNAVAILABLE',
  'The database is unavailable; try again shortly',
  503,
);
export const StoreInternalError = createError('RUNCELL_ERR_STORE_INTERNAL', 'Internal storage error', 500);
/** The database's disk is full (Postgres 53100 disk_full): 507 Insufficient Storage (RFC 4918 §11.5). */
export const StoreFullError = createError(
  'RUNCELL_ERR_STORE_FULL',
  "The server's storage is full; try again later",
  507,
);
export const BadRequestError = createError('RUNCELL_ERR_BAD_REQUEST', 'Bad request: %s', 400);
export const RateLimitedError = createError<[number]>(
  'RUNCELL_ERR_RATE_LIMITED',
  'Too many lookups of unknown ids; retry in %d s',
  429,
);

export const PermalinkNotFoundError = createError(
  'RUNCELL_ERR_PERMALINK_NOT_FOUND',
  'No such permalink',
  404,
);
export const PermalinkTooLargeError = createError(
  'RUNCELL_ERR_PERMALINK_TOO_LARGE',
  'Permalink too large: %s',
  413,
);
export const InlineCodeInvalidError = createError(
  'RUNCELL_ERR_INLINE_CODE_INVALID',
  'The code in this URL cannot be decoded',
  400,
);

export const FileNotFoundError = createError('RUNCELL_ERR_FILE_NOT_FOUND', 'No such file', 404);
export const RangeNotSatisfiableError = createError(
  'RUNCELL_ERR_RANGE_NOT_SATISFIABLE',
  'Requested range not satisfiable',
  416,
);
export const InvalidFileNameError = createError(
  'RUNCELL_ERR_INVALID_FILE_NAME',
  'Invalid file name: %s',
  400,
);

// tus 1.0 (https://tus.io/protocols/resumable-upload): status codes are the protocol's.
export const TusVersionError = createError(
  'RUNCELL_ERR_TUS_VERSION',
  'Unsupported Tus-Resumable version; this server speaks 1.0.0',
  412,
);
export const UploadNotFoundError = createError('RUNCELL_ERR_UPLOAD_NOT_FOUND', 'No such upload', 404);
export const UploadOffsetMismatchError = createError(
  'RUNCELL_ERR_UPLOAD_OFFSET_MISMATCH',
  'Upload-Offset does not match the upload (expected %d)',
  409,
);
export const UploadBusyError = createError(
  'RUNCELL_ERR_UPLOAD_BUSY',
  'Another request is writing to this upload',
  423,
);
export const UploadTooLargeError = createError('RUNCELL_ERR_UPLOAD_TOO_LARGE', 'Upload too large: %s', 413);
export const UploadQuotaError = createError(
  'RUNCELL_ERR_UPLOAD_QUOTA',
  'Upload quota for this client exceeded',
  413,
);
export const UploadContentTypeError = createError(
  'RUNCELL_ERR_UPLOAD_CONTENT_TYPE',
  'PATCH bodies must be application/offset+octet-stream',
  415,
);
export const UploadChecksumMismatchError = createError(
  'RUNCELL_ERR_UPLOAD_CHECKSUM_MISMATCH',
  'Upload-Checksum does not match the data',
  460,
);
/** The PATCH body ended early (client gone); what arrived is kept. Rarely seen: the socket is gone. */
export const UploadInterruptedError = createError(
  'RUNCELL_ERR_UPLOAD_INTERRUPTED',
  'The request body ended before Content-Length; the bytes received are kept',
  400,
);
export const UploadIncompleteError = createError(
  'RUNCELL_ERR_UPLOAD_INCOMPLETE',
  'The upload is not complete',
  409,
);

/** postgres.js and socket errors that mean "the database is not reachable right now". */
const unreachableCodes = new Set([
  'ECONNREFUSED',
  'ECONNRESET',
  'ENOTFOUND',
  'ETIMEDOUT',
  'EPIPE',
  'EHOSTUNREACH',
  'ENOENT', // unix socket gone
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
  const code = (err as { code?: unknown }).code;
  if (typeof code === 'string' && (unreachableCodes.has(code) || code.startsWith('08'))) return true;
  if (err instanceof AggregateError) return err.errors.some(isUnreachable);
  return false;
}

function isFastifyClientError(err: unknown): err is FastifyError & { statusCode: number } {
  const e = err as { code?: unknown; statusCode?: unknown };
  return (
    err instanceof Error &&
    typeof e.code === 'string' &&
    e.code.startsWith('RUNCELL_ERR_') &&
    typeof e.statusCode === 'number'
  );
}

/**
 * Maps anything thrown below the store's public methods to one of the errors above: our own
 * errors pass through, an unreachable database becomes 503, a full disk 507, anything else 500 (with
 * `cause`).
 */
export function toStoreError(err: unknown): FastifyError {
  if (isFastifyClientError(err)) return err;
  if (isUnreachable(err)) return new StoreUnavailableError({ cause: err });
  const code = (err as { code?: unknown } | null)?.code;
  if (code === '53100' || code === 'ENOSPC' || code === 'EDQUOT') return new StoreFullError({ cause: err });
  return new StoreInternalError({ cause: err });
}

export function isStoreUnavailable(err: unknown): boolean {
  return toStoreError(err).code === 'RUNCELL_ERR_STORE_UNAVAILABLE';
}

/**
 * Error handler for the store's route plugins (set inside each, so it is encapsulated): answers
 * JSON { code, message } whatever the app's own handler does; schema errors become 400.
 */
export function storeErrorHandler(err: unknown, request: FastifyRequest, reply: FastifyReply): void {
  const v = err as { validation?: unknown; statusCode?: number; code?: string; message?: string };
  let e: FastifyError;
  if (v.validation) e = new BadRequestError(v.message ?? 'invalid request');
  else if (
    typeof v.statusCode === 'number' &&
    v.statusCode >= 400 &&
    v.statusCode < 500 &&
    typeof v.code === 'string' &&
    v.code.startsWith('FST_')
  )
    // Fastify's own client errors (bad JSON, body too large, unsupported media type).
    e = Object.assign(new BadRequestError(v.code), { statusCode: v.statusCode });
  else e = toStoreError(err);
  const status = e.statusCode ?? 500;
  if (status >= 500) request.log.error({ err: (e as { cause?: unknown }).cause ?? err }, e.message);
  if (e.code === 'RUNCELL_ERR_RATE_LIMITED' || e.code === 'RUNCELL_ERR_STORE_UNAVAILABLE') {
    const retry = (e as { retryAfter?: number }).retryAfter ?? 1;
    reply.header('retry-after', String(retry));
  }
  reply
    .code(status)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send({ code: e.code, message: e.message });
}
