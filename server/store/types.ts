// The types every store module shares (the connection, a backend, how to connect), in a leaf module:
// db.ts builds the store from the modules, and the modules need these types, so neither imports the other.
import type { Logger } from 'pino';
import type postgres from 'postgres';

export type Sql = postgres.Sql<Record<string, never>>;

/** The store's own defaults, once: the store applies them when its caller leaves a value out, and the
 * config schema (server/config/settings.ts) shows and applies the same ones. */
export const STORE_DEFAULTS = {
  /** How long start-up retries an unreachable database. */
  startupTimeoutMs: 30_000,
  /** Seconds before an idle pooled connection is closed. */
  idleTimeoutS: 60,
  /** Chunk size of files and uploads in the database. */
  chunkBytes: 1 << 20,
} as const;

export type EventHandler = (payload: unknown) => void;

/** Store events between instances (events.ts: LISTEN/NOTIFY on Postgres, in-process on PGlite). */
export interface Events {
  /** Delivers `payload` (JSON, under 7900 bytes: NOTIFY's limit) to every subscriber of `channel`. */
  publish(channel: string, payload: unknown): Promise<void>;
  /** Returns an unsubscribe function once the subscription is active. */
  subscribe(channel: string, handler: EventHandler): Promise<() => Promise<void>>;
  close(): Promise<void>;
}

/** One connected backend: what postgres.ts and pglite.ts each provide. */
export interface Database {
  readonly backend: 'postgres' | 'pglite';
  readonly sql: Sql;
  readonly events: Events;
  /** Ends the pool (and, for PGlite, the socket server and the database itself). */
  close(): Promise<void>;
}

export interface ConnectOptions {
  /** Pool size (PGlite is single-connection underneath; it always uses 1). */
  poolMax: number;
  connectTimeoutMs: number;
  /** Seconds before an idle pooled connection is closed (0 = never). */
  idleTimeoutS?: number;
  log: Logger;
}
