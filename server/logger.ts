// pino set-up: request ids on every request line, kernel ids on kernel lines (child loggers), and
// tokens redacted wherever they can appear (Authorization header, ?token= in URLs, cookies). Lines are
// JSON for machines; on a terminal they are made readable by pino-pretty (loaded only then).
// Child loggers never repeat a binding their parent has: pino would write the key twice.
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

/** Where log lines go: standard output, or a stream a test reads. */
export type LogOutput = NodeJS.WritableStream & { isTTY?: boolean };

/** JSON lines, or readable ones when `out` is a terminal. */
export async function createLogger(level: string, out: LogOutput = process.stdout): Promise<Logger> {
  if (out.isTTY) {
    const { default: pretty } = await import('pino-pretty');
    return pino(
      loggerOptions(level),
      pretty({ destination: out, colorize: true, translateTime: 'SYS:HH:MM:ss.l', ignore: 'pid,hostname' }),
    );
  }
  // Standard output through pino's own synchronous destination, so nothing is lost at process.exit().
  return out === process.stdout ? pino(loggerOptions(level)) : pino(loggerOptions(level), out);
}

/** Request ids: short, unique, and easy to grep. */
export function genReqId(): string {
  return randomUUID().slice(0, 13);
}
