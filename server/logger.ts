// pino set-up: request ids on every request line, kernel ids on kernel lines (child loggers), and
// tokens redacted wherever they can appear (Authorization header, ?token= in URLs, cookies).
import { randomUUID } from 'node:crypto';
import type { FastifyRequest } from 'fastify';
import { type Logger, type LoggerOptions, pino } from 'pino';

/** Replaces the value of any token=… query parameter. */
export function redactUrl(url: string): string {
  return url.replace(/([?&]token=)[^&#]*/gi, '$1[REDACTED]');
}

export function loggerOptions(level: string): LoggerOptions {
  return {
    level,
    redact: {
      paths: [
        'req.headers.authorization',
        'req.headers.cookie',
        'req.headers["sec-websocket-protocol"]',
        'headers.authorization',
        'token',
        '*.token',
      ],
      censor: '[REDACTED]',
    },
    serializers: {
      req(req: FastifyRequest) {
        return {
          method: req.method,
          url: redactUrl(req.url),
          remoteAddress: req.ip,
        };
      },
    },
  };
}

export function createLogger(level: string): Logger {
  return pino(loggerOptions(level));
}

/** Request ids: short, unique, and easy to grep. */
export function genReqId(): string {
  return randomUUID().slice(0, 13);
}
