// What storage offers the server: one `Store`, opened by `openStore()` on either backend.
//   postgres.ts  DATABASE_URL set: a postgres.js pool on a real Postgres (LISTEN/NOTIFY events)
//   pglite.ts    otherwise: embedded PGlite under dataDir, served on a private unix socket so the
//                very same postgres.js queries run on it (in-process events)
// Every subsystem below runs plain SQL through `Database.sql` and never knows which backend it is on.
import { isStoreUnavailable, toStoreError } from '../errors.js';
import { createFiles, type Files } from './blobs.js';
import type { Events } from './events.js';
import { migrate } from './migrate.js';
import { createPermalinks, type Permalinks } from './permalinks.js';
import { createRecorder, type Recorder, type RecorderOptions } from './records.js';
import { createRetention, type Retention, type RetentionOptions } from './retention.js';
import { type ConnectOptions, type Sql, STORE_DEFAULTS } from './types.js';
import { createUploads, type Uploads } from './uploads.js';

export type { ConnectOptions, Database, Sql } from './types.js';

export interface StoreOptions extends ConnectOptions {
  /** Postgres URL; unset means embedded PGlite under `dataDir`. */
  databaseUrl?: string | undefined;
  /** RUNCELL_DATA_DIR: PGlite's files live in `<dataDir>/pglite`. */
  dataDir: string;
  /** Secret salt for client-address hashes; by default one generated once and kept in the database. */
  clientHashSalt?: string | undefined;
  records?: Partial<RecorderOptions>;
  retention?: Partial<RetentionOptions>;
  /** Chunk size for files and uploads in the database (bytes). */
  chunkBytes?: number;
  /** How long openStore keeps retrying an unreachable database at start-up (default 30 s). */
  startupTimeoutMs?: number;
}

export interface Store {
  readonly backend: 'postgres' | 'pglite';
  /** The connection pool, for subsystems that keep their own tables (jobs) and for tests. */
  readonly sql: Sql;
  readonly permalinks: Permalinks;
  readonly files: Files;
  readonly uploads: Uploads;
  readonly records: Recorder;
  readonly retention: Retention;
  readonly events: Events;
  /** Keyed hash of a client address (HMAC-SHA256 with the store's salt); raw IPs are never stored. */
  hashClient(address: string): string;
  /** True when the database answers within `timeoutMs` (for /readyz). */
  ping(timeoutMs?: number): Promise<boolean>;
  /** Stops retention, flushes pending execute records, closes the pool (and PGlite). */
  close(): Promise<void>;
}

export const defaultChunkBytes = STORE_DEFAULTS.chunkBytes;

/**
 * Opens the backend, applies migrations under an advisory lock, and builds the subsystems.
 * Retries an unreachable database for `startupTimeoutMs`, then rejects; afterwards a database outage
 * turns into RUNCELL_ERR_STORE_UNAVAILABLE (503) per request, and the pool reconnects by itself.
 */
export async function openStore(options: StoreOptions): Promise<Store> {
  const deadline = Date.now() + (options.startupTimeoutMs ?? STORE_DEFAULTS.startupTimeoutMs);
  for (let delay = 250; ; delay = Math.min(delay * 2, 5000)) {
    try {
      return await openOnce(options);
    } catch (err) {
      if (!isStoreUnavailable(err)) throw err;
      if (Date.now() + delay > deadline) throw toStoreError(err);
      options.log.warn({ err, retryInMs: delay }, 'database unreachable at start-up; retrying');
      await new Promise((r) => setTimeout(r, delay));
    }
  }
}

async function openOnce(options: StoreOptions): Promise<Store> {
  const db = options.databaseUrl
    ? await (await import('./postgres.js')).connectPostgres(options.databaseUrl, options)
    : await (await import('./pglite.js')).startPglite(options.dataDir, options);
  try {
    await migrate(db.sql, options.log);
    const salt = options.clientHashSalt ?? (await storedSecret(db.sql, 'client_hash_salt'));
    const permalinkSalt = await storedSecret(db.sql, 'permalink_salt');
    const chunkBytes = options.chunkBytes ?? defaultChunkBytes;
    const { createHmac } = await import('node:crypto');
    const hashClient = (address: string) => createHmac('sha256', salt).update(address).digest('base64url');
    const files = createFiles(db.sql, { chunkBytes });
    const permalinks = createPermalinks(db.sql, { salt: permalinkSalt, events: db.events });
    const uploads = createUploads(db.sql, { chunkBytes, files, events: db.events });
    const records = createRecorder(db.sql, { ...options.records, hashClient, log: options.log });
    const retention = createRetention(db.sql, { ...options.retention, log: options.log });
    retention.start();
    let closed = false;
    return {
      backend: db.backend,
      sql: db.sql,
      permalinks: guarded(permalinks),
      files: guarded(files),
      uploads: guarded(uploads),
      records,
      retention,
      events: db.events,
      hashClient,
      ping: (timeoutMs = 2000) => ping(db.sql, timeoutMs),
      async close() {
        if (closed) return;
        closed = true;
        retention.stop();
        await records.close();
        await db.close();
      },
    };
  } catch (err) {
    await db.close().catch(() => {});
    throw err;
  }
}

/** A random secret made once per database (all instances sharing it agree on it). */
export async function storedSecret(sql: Sql, name: string): Promise<string> {
  const { randomBytes } = await import('node:crypto');
  const fresh = randomBytes(32).toString('base64url');
  await sql`insert into store_secrets (name, value) values (${name}, ${fresh}) on conflict (name) do nothing`;
  const [row] = await sql<{ value: string }[]>`select value from store_secrets where name = ${name}`;
  if (!row) throw new Error(`store secret ${name} missing`);
  return row.value;
}

async function ping(sql: Sql, timeoutMs: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<boolean>((resolve) => {
    timer = setTimeout(() => resolve(false), timeoutMs);
  });
  try {
    return await Promise.race([sql`select 1`.then(() => true), timeout]);
  } catch {
    return false;
  } finally {
    clearTimeout(timer);
  }
}

/**
 * Wraps every method of a subsystem so whatever it rejects with is a store error (503 when the
 * database is unreachable); callers outside the store's own routes get the same codes.
 */
function guarded<T extends object>(impl: T): T {
  return new Proxy(impl, {
    get(target, key, receiver) {
      const v = Reflect.get(target, key, receiver);
      if (typeof v !== 'function') return v;
      return (...args: unknown[]) => {
        try {
          const r = (v as (...a: unknown[]) => unknown).apply(target, args);
          return r instanceof Promise ? r.catch((e: unknown) => Promise.reject(toStoreError(e))) : r;
        } catch (e) {
          throw toStoreError(e);
        }
      };
    },
  });
}
