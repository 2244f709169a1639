// Every error the server answers with, declared once. Responses carry { code, message } only: never a
// stack trace or a host path. docs/api.md lists the same codes.
import createError, { type FastifyError } from '@fastify/error';
import { KernelManagerError } from '../kernel-manager/index.js';

type Args = [string, { cause: unknown }?];
const E = (code: string, status: number) => createError<string, number, Args>(code, '%s', status);

export const BadRequest = E('RUNCELL_ERR_BAD_REQUEST', 400);
export const UnknownKernelName = E('RUNCELL_ERR_UNKNOWN_KERNEL_NAME', 400);
export const CodeTooLarge = E('RUNCELL_ERR_CODE_TOO_LARGE', 413);
export const BodyTooLarge = E('RUNCELL_ERR_BODY_TOO_LARGE', 413);
export const Unauthorized = E('RUNCELL_ERR_UNAUTHORIZED', 401);
export const ForbiddenOrigin = E('RUNCELL_ERR_FORBIDDEN_ORIGIN', 403);
export const Forbidden = E('RUNCELL_ERR_FORBIDDEN', 403);
export const NotFound = E('RUNCELL_ERR_NOT_FOUND', 404);
export const NoSuchKernel = E('RUNCELL_ERR_NO_SUCH_KERNEL', 404);
export const NoSuchSpec = E('RUNCELL_ERR_NO_SUCH_SPEC', 404);
export const NoSuchSession = E('RUNCELL_ERR_NO_SUCH_SESSION', 404);
export const MethodNotAllowed = E('RUNCELL_ERR_METHOD_NOT_ALLOWED', 405);
export const KernelDead = E('RUNCELL_ERR_KERNEL_DEAD', 409);
export const FileRefused = E('RUNCELL_ERR_FILE_REFUSED', 409);
export const UnsupportedMediaType = E('RUNCELL_ERR_UNSUPPORTED_MEDIA_TYPE', 415);
export const RateLimited = E('RUNCELL_ERR_RATE_LIMITED', 429);
export const Internal = E('RUNCELL_ERR_INTERNAL', 500);
export const KernelStartFailed = E('RUNCELL_ERR_KERNEL_START_FAILED', 500);
export const AtCapacity = E('RUNCELL_ERR_AT_CAPACITY', 503);
export const ShuttingDown = E('RUNCELL_ERR_SHUTTING_DOWN', 503);
// API tokens and the browser login (server/tokens, docs/jobs.md "Login").
export const NoSuchToken = E('RUNCELL_ERR_NO_SUCH_TOKEN', 404);
export const TooManyTokens = E('RUNCELL_ERR_TOO_MANY_TOKENS', 409);
export const TokenNotRevocable = E('RUNCELL_ERR_TOKEN_NOT_REVOCABLE', 409);
export const BadCallback = E('RUNCELL_ERR_BAD_CALLBACK', 400);
export const LoginCodeInvalid = E('RUNCELL_ERR_LOGIN_CODE_INVALID', 400);
/** An issued token cannot be checked while the database is down: refused, never let through. */
export const TokenUnverifiable = E('RUNCELL_ERR_TOKEN_UNVERIFIABLE', 503);

/** Every code with its HTTP status, for docs and tests. */
export const ERROR_CODES: Record<string, number> = Object.fromEntries(
  [
    BadRequest,
    UnknownKernelName,
    CodeTooLarge,
    BodyTooLarge,
    Unauthorized,
    ForbiddenOrigin,
    Forbidden,
    NotFound,
    NoSuchKernel,
    NoSuchSpec,
    NoSuchSession,
    MethodNotAllowed,
    KernelDead,
    FileRefused,
    UnsupportedMediaType,
    RateLimited,
    Internal,
    KernelStartFailed,
    AtCapacity,
    ShuttingDown,
    NoSuchToken,
    TooManyTokens,
    TokenNotRevocable,
    BadCallback,
    LoginCodeInvalid,
    TokenUnverifiable,
  ].map((C) => {
    const e = new C('x');
    return [e.code, e.statusCode ?? 500];
  }),
);

/** An error with a Retry-After hint (429, 503). */
export function withRetryAfter<T extends FastifyError>(e: T, seconds: number): T & { retryAfter: number } {
  return Object.assign(e, { retryAfter: Math.max(1, Math.ceil(seconds)) });
}

/** kernel-manager's errors as HTTP errors; the original stays as `cause` (logged, never sent). */
export function fromKernelManager(e: unknown, specName?: string): FastifyError {
  if (!(e instanceof KernelManagerError)) return new Internal('internal server error', { cause: e });
  switch (e.code) {
    case 'NO_SUCH_SPEC':
      return new UnknownKernelName(`no kernelspec named "${specName ?? ''}"`, { cause: e });
    case 'CAPACITY':
      return withRetryAfter(new AtCapacity('no kernel is free and the wait queue is full', { cause: e }), 5);
    case 'QUEUE_TIMEOUT':
      return withRetryAfter(new AtCapacity('timed out waiting for a free kernel', { cause: e }), 5);
    case 'START_FAILED':
      return new KernelStartFailed('the kernel failed to start', { cause: e });
    case 'DEAD':
      return new KernelDead('the kernel is dead', { cause: e });
    case 'BUSY':
      return withRetryAfter(new RateLimited(e.message, { cause: e }), 1);
    case 'CLOSED':
      return withRetryAfter(new ShuttingDown('the server is shutting down', { cause: e }), 5);
    default:
      return new Internal('internal server error', { cause: e });
  }
}
