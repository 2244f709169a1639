// What a CORS preflight is answered with, wherever one is answered: the catch-all OPTIONS route in
// app.ts, and the tus upload routes, whose own OPTIONS (tus capabilities) is also the browser's
// preflight for a cross-origin upload. The Origin check itself runs in app.ts (authorize).
import type { FastifyReply } from 'fastify';

const METHODS = 'GET, POST, PATCH, DELETE, OPTIONS';
/** Request headers the embed and Jupyter's clients send: the token, JSON, and tus's own. */
const HEADERS =
  'Authorization, Content-Type, X-XSRFToken, Tus-Resumable, Upload-Length, Upload-Offset, Upload-Metadata, Upload-Checksum';

/** Adds the preflight answer's headers when the request is one (it names the method it will use). */
export function allowPreflight(
  reply: FastifyReply,
  requestMethod: string | string[] | undefined,
): FastifyReply {
  if (requestMethod === undefined) return reply;
  return reply
    .header('access-control-allow-methods', METHODS)
    .header('access-control-allow-headers', HEADERS)
    .header('access-control-max-age', '600');
}
