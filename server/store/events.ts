// Store events between instances: LISTEN/NOTIFY on Postgres (every instance sharing the database
// hears them, its own included); on PGlite, which has no other instance to tell, an in-process emitter.
import { EventEmitter } from 'node:events';
import type { Logger } from 'pino';
import type { EventHandler, Events, Sql } from './types.js';

export type { EventHandler, Events };

/** Channel names are SQL identifiers for LISTEN, so they are restricted to this shape. */
const channelPattern = /^runcell_[a-z0-9_]{1,40}$/;

function checkChannel(channel: string): void {
  if (!channelPattern.test(channel))
    throw new TypeError(`invalid event channel name ${JSON.stringify(channel)}`);
}

function encode(payload: unknown): string {
  const text = JSON.stringify(payload ?? null);
  if (Buffer.byteLength(text) > 7900) throw new RangeError('event payload too large for NOTIFY');
  return text;
}

function decode(text: string): unknown {
  try {
    return JSON.parse(text);
  } catch {
    return text;
  }
}

/** In-process events (PGlite). Delivery is asynchronous, like NOTIFY's, so callers see one behaviour. */
export function localEvents(): Events {
  const emitter = new EventEmitter();
  emitter.setMaxListeners(0);
  return {
    async publish(channel, payload) {
      checkChannel(channel);
      const text = encode(payload);
      setImmediate(() => emitter.emit(channel, decode(text)));
    },
    async subscribe(channel, handler) {
      checkChannel(channel);
      emitter.on(channel, handler);
      return async () => {
        emitter.off(channel, handler);
      };
    },
    async close() {
      emitter.removeAllListeners();
    },
  };
}

/**
 * How long an unsubscribe waits for its UNLISTEN. The handler is gone at once either way; after the
 * database went away the listening connection may not answer for seconds, and a server's stop
 * (tokens, the store) must not wait on it: the connection is ended right after.
 */
export const UNLISTEN_WAIT_MS = 1_000;

/**
 * LISTEN/NOTIFY through postgres.js, which keeps one dedicated listening connection and
 * re-issues LISTEN after reconnecting; a handler that throws is logged, not propagated.
 */
export function pgEvents(sql: Sql, log: Logger): Events {
  const unlisteners = new Set<() => Promise<void>>();
  return {
    async publish(channel, payload) {
      checkChannel(channel);
      await sql.notify(channel, encode(payload));
    },
    async subscribe(channel, handler) {
      checkChannel(channel);
      const { unlisten } = await sql.listen(channel, (text) => {
        try {
          handler(decode(text));
        } catch (err) {
          log.error({ err, channel }, 'store event handler failed');
        }
      });
      const off = async () => {
        unlisteners.delete(off);
        let timer: NodeJS.Timeout | undefined;
        const answered = await Promise.race([
          unlisten().then(
            () => true,
            () => true,
          ),
          new Promise<false>((resolve) => {
            timer = setTimeout(() => resolve(false), UNLISTEN_WAIT_MS);
          }),
        ]);
        clearTimeout(timer);
        if (!answered)
          log.warn({ channel, waitedMs: UNLISTEN_WAIT_MS }, 'UNLISTEN got no answer; not waiting for it');
      };
      unlisteners.add(off);
      return off;
    },
    async close() {
      await Promise.all([...unlisteners].map((off) => off()));
    },
  };
}
