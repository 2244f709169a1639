// The Postgres backend's driver (postgres.js 3.4.9, patched by patches/postgres+3.4.9.patch through
// patch-package). The failure it fixes, porsager/postgres#1208: a query on a reserved connection whose
// backend has died threw an uncaught TypeError from setImmediate (crashing the server: retention
// reserves a connection for its advisory lock); dropping the write instead left the query waiting forever.
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { connectPostgres } from '../../../server/store/postgres.js';
import { adminUrl, log, postgresBackend, type TestDb } from './helpers.js';

describe('postgres.js on a reserved connection whose backend died', () => {
  let db: TestDb;
  const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
  beforeAll(async () => {
    db = await postgresBackend.create();
  });
  afterAll(async () => {
    await admin.end({ timeout: 1 });
    await db?.cleanup();
  });

  it('rejects the next query with CONNECTION_CLOSED (no crash, no hang), and the pool recovers', async () => {
    const store = await connectPostgres(db.options.databaseUrl as string, {
      poolMax: 2,
      connectTimeoutMs: 2000,
      log,
    });
    const crashes: unknown[] = [];
    const onUncaught = (err: unknown) => crashes.push(err);
    process.on('uncaughtException', onUncaught);
    try {
      const reserved = await store.sql.reserve();
      const [row] = await reserved<{ pid: number }[]>`select pg_backend_pid() as pid`;
      await admin`select pg_terminate_backend(${row?.pid ?? 0})`;
      // Let the client see the close, so the next write finds no socket.
      await new Promise((r) => setTimeout(r, 300));
      // A bounded wait: the unpatched driver's failure mode with a dropped write is a query that never settles.
      const outcome = await Promise.race([
        reserved`select 1 as one`.then(
          () => 'resolved',
          (e: { code?: string }) => e.code,
        ),
        new Promise((r) => setTimeout(() => r('still waiting after 10 s'), 10_000)),
      ]);
      expect(outcome).toBe('CONNECTION_CLOSED');
      reserved.release();
      await new Promise((r) => setImmediate(r));
      expect(crashes).toEqual([]);
      // The released connection goes back to the pool still closed: the pool's next query on it fails
      // the same way (a catchable CONNECTION_CLOSED, answered as a 503 by the routes), which moves it to
      // the pool's closed queue; the query after that reconnects.
      const first = await store.sql`select 2 as two`.then(
        () => 'ok',
        (e: { code?: string }) => e.code,
      );
      expect(['ok', 'CONNECTION_CLOSED']).toContain(first);
      const [again] = await store.sql<{ two: number }[]>`select 2 as two`;
      expect(again?.two).toBe(2);
      expect(crashes).toEqual([]);
    } finally {
      process.off('uncaughtException', onUncaught);
      await store.close();
    }
  });
});
