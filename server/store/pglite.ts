// The embedded backend: PGlite (Postgres compiled to WASM) with its files under <dataDir>/pglite,
// served by @electric-sql/pglite-socket on a unix socket in a fresh 0700 directory, so postgres.js
// runs the same queries as on Postgres and nothing else on the host can connect (the socket
// server has no authentication). PGlite runs one query at a time, so the pool has one connection;
// PGlite has no other backends to notify, so events stay in-process.
import { mkdir, mkdtemp, rm } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { PGlite } from '@electric-sql/pglite';
import { PGLiteSocketServer } from '@electric-sql/pglite-socket';
import postgres from 'postgres';
import { localEvents } from './events.js';
import { sqlOptions } from './postgres.js';
import type { ConnectOptions, Database, Sql } from './types.js';

export async function startPglite(dataDir: string, options: ConnectOptions): Promise<Database> {
  const dir = resolve(dataDir, 'pglite');
  await mkdir(dir, { recursive: true, mode: 0o700 });
  const pg = await PGlite.create(dir);
  // Unix socket paths are limited to ~107 bytes, so the socket lives in a short private tmp dir.
  const sockDir = await mkdtemp(join(tmpdir(), 'runcell-pg-'));
  const path = join(sockDir, '.s.PGSQL.5432');
  const server = new PGLiteSocketServer({ db: pg, path, maxConnections: 4 });
  try {
    await server.start();
  } catch (err) {
    await pg.close().catch(() => {});
    await rm(sockDir, { recursive: true, force: true });
    throw err;
  }
  const sql = postgres({
    ...sqlOptions({ ...options, poolMax: 1 }),
    path,
    user: 'postgres',
    database: 'postgres',
    // PGlite never goes away underneath us; an idle timeout would only churn the socket.
    idle_timeout: 0,
  }) as unknown as Sql;
  const events = localEvents();
  return {
    backend: 'pglite',
    sql,
    events,
    async close() {
      await events.close();
      await sql.end({ timeout: 5 }).catch(() => {});
      await server.stop().catch(() => {});
      await pg.close().catch(() => {});
      await rm(sockDir, { recursive: true, force: true });
    },
  };
}
