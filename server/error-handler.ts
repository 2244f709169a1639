// The one error handler: every failure of every route, mapped to a code of the catalogue
// (shared/errors.ts) and answered { code, message }, never with a stack trace or a host path.
// server/app.ts installs it once, for the whole app.
import type { FastifyError, FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  BadRequest,
  BodyTooLarge,
  fromKernelManager,
  type HttpError,
  Internal,
  isHttpError,
  isKernelManagerError,
  storeFailure,
  UnsupportedMediaType,
} from './errors.js';

/** Any failure as an error of the catalogue; what it replaces stays as `cause` where it says more. */
export function toHttpError(err: unknown, req: FastifyRequest): HttpError {
  if (isHttpError(err)) return err;
  if (isKernelManagerError(err)) return fromKernelManager(err);
  const f = err as Partial<FastifyError>;
  if (f.validation) return new BadRequest(`invalid request: ${f.message}`);
  // Fastify's own client errors (FST_ERR_*): their messages name no path.
  if (f.code === 'FST_ERR_CTP_BODY_TOO_LARGE')
    return new BodyTooLarge(`the body is larger than ${req.routeOptions.bodyLimit} bytes`);
  if (f.code === 'FST_ERR_CTP_INVALID_MEDIA_TYPE') return new UnsupportedMediaType('send application/json');
  if (f.statusCode && f.statusCode >= 400 && f.statusCode < 500) return new BadRequest(String(f.message));
  // The database failing anywhere (store calls, the jobs service and tokens on raw SQL) is 503 or 507.
  return storeFailure(err) ?? new Internal('internal server error', { cause: err });
}

export function errorHandler(err: unknown, req: FastifyRequest, reply: FastifyReply): FastifyReply {
  const e = toHttpError(err, req);
  const status = e.statusCode;
  if (status >= 500) req.log.error({ err: e.cause ?? err }, e.message);
  else if (e.cause) req.log.info({ err: e.cause, code: e.code }, e.message);
  if (e.retryAfter) reply.header('retry-after', String(e.retryAfter));
  return reply
    .code(status)
    .header('cache-control', 'no-store')
    .type('application/json; charset=utf-8')
    .send({ code: e.code, message: e.message });
}

/** Installs the handler on `app` (the whole app when called at its root, before routes register). */
export function installErrorHandler(app: FastifyInstance): void {
  app.setErrorHandler(errorHandler);
}
