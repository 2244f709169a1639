import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../../server/store/db.js';
import { migrate } from '../../../server/store/migrate.js';
import { backends, collect, log, type TestDb } from './helpers.js';

describe.each(backends)('store on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  beforeAll(async () => {
    db = await backend.create();
    store = await db.open();
  });
  afterAll(async () => {
    await store?.close();
    await db?.cleanup();
  });

  it('applies migrations from empty, and re-running applies nothing', async () => {
    // A second open runs migrate() again on the same database: nothing new is applied.
    await store.close();
    store = await db.open();
    expect(await store.ping()).toBe(true);
    expect(store.backend).toBe(backend.name);
  });

  it('runs concurrent migrations once under the advisory lock', async () => {
    if (backend.name !== 'postgres') return; // PGlite belongs to one process
    const { default: postgres } = await import('postgres');
    const url = db.options.databaseUrl as string;
    const a = postgres(url, { max: 1, onnotice: () => {} });
    const b = postgres(url, { max: 1, onnotice: () => {} });
    const extra = [{ version: 999, name: '999_test', sql: 'create table migration_probe (x int)' }];
    const [ra, rb] = await Promise.all([migrate(a as never, log, extra), migrate(b as never, log, extra)]);
    expect([...ra, ...rb]).toEqual([999]);
    await a.unsafe('drop table migration_probe; delete from schema_migrations where version = 999');
    await a.end();
    await b.end();
  });

  it('keeps permalinks, files and records across a reopen', async () => {
    const p = await store.permalinks.create({ code: 'print("kept")', kernel: 'python3' });
    const f = await store.files.put({
      name: 'k.bin',
      mediaType: 'application/octet-stream',
      data: Buffer.from('kept'),
    });
    const id = store.records.begin({
      message: {
        header: { msg_id: 'm-kept', msg_type: 'execute_request' },
        content: { code: 'print("kept")' },
      },
      kernelSpec: 'python3',
      transport: 'websocket',
      clientAddress: '192.0.2.7',
    });
    store.records.finish(id, { status: 'ok' });
    // close() must flush the record without an explicit flush().
    await store.close();
    store = await db.open();
    expect((await store.permalinks.get(p.id))?.code).toBe('print("kept")');
    expect((await collect(store.files.read(f.id))).toString()).toBe('kept');
    const r = await store.retention.runOnce(new Date(Date.now() + 365 * 86_400_000));
    expect(r.records).toBe(1); // it was there, anonymous, and now expired
  });

  it('delivers events to subscribers', async () => {
    const got: unknown[] = [];
    const off = await store.events.subscribe('runcell_test', (p) => got.push(p));
    await store.events.publish('runcell_test', { hello: 'world' });
    await expect.poll(() => got.length, { timeout: 3000 }).toBe(1);
    expect(got[0]).toEqual({ hello: 'world' });
    await off();
    await expect(store.events.publish('bad channel', {})).rejects.toThrow(/invalid event channel/);
  });

  it('hashes client addresses with a stable secret salt', async () => {
    const h = store.hashClient('203.0.113.9');
    expect(h).not.toContain('203.0.113.9');
    expect(h).toMatch(/^[A-Za-z0-9_-]{43}$/);
    await store.close();
    store = await db.open();
    expect(store.hashClient('203.0.113.9')).toBe(h);
  });
});
