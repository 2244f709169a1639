import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../../server/store/db.js';
import { backends, type TestDb } from './helpers.js';

const day = 86_400_000;

describe.each(backends)('retention on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  beforeAll(async () => {
    db = await backend.create();
    store = await db.open({ retention: { intervalMs: 0, recordsDays: 30, filesDays: 7, uploadsHours: 24 } });
  });
  afterAll(async () => {
    await store?.close();
    await db?.cleanup();
  });

  it('expires anonymous records and unreferenced files; keeps permalinks and their files', async () => {
    const kept = await store.files.put({
      name: 'kept.png',
      mediaType: 'image/png',
      data: Buffer.from('kept'),
    });
    const gone = await store.files.put({
      name: 'gone.png',
      mediaType: 'image/png',
      data: Buffer.from('gone'),
    });
    const p = await store.permalinks.create({ code: 'keep()', kernel: 'python3', files: [kept.id] });
    const base = { kernelSpec: 'python3', transport: 'websocket' as const };
    const msg = { header: { msg_id: 'r', msg_type: 'execute_request' }, content: { code: '1' } };
    store.records.begin({ ...base, message: msg });
    store.records.begin({ ...base, message: msg, principal: 'alice' });
    await store.records.flush();
    const up = await store.uploads.create({ length: 10, clientHash: 'c' });

    // Nothing is old enough yet.
    expect(await store.retention.runOnce()).toMatchObject({ records: 0, files: 0, uploads: 0, ran: true });

    const r = await store.retention.runOnce(new Date(Date.now() + 31 * day));
    expect(r).toMatchObject({ records: 1, files: 1, uploads: 1, ran: true });
    expect(r.blobs).toBeGreaterThanOrEqual(2); // gone.png's blob and the upload's pending one
    expect(await store.files.get(gone.id)).toBeNull();
    expect(await store.files.get(kept.id)).not.toBeNull();
    expect(await store.permalinks.get(p.id)).not.toBeNull();
    expect(await store.uploads.get(up.id)).toBeNull();
    // The authenticated user's record stays; a second pass finds nothing more.
    expect(await store.retention.runOnce(new Date(Date.now() + 31 * day))).toMatchObject({
      records: 0,
      files: 0,
      blobs: 0,
    });
  });

  it('expires stats samples older than statsDays (default 30)', async () => {
    const sample = (at: Date) => store.sql`insert into stats_samples
      (instance, at, interval_ms, kernels, busy, pooled, starting, queued, websockets, longpolls)
      values ('r1', ${at}, 15000, 1, 0, 1, 0, 0, 0, 0)`;
    await sample(new Date(Date.now() - 40 * day));
    await sample(new Date(Date.now() - 20 * day));
    await sample(new Date());
    expect(await store.retention.runOnce()).toMatchObject({ samples: 1, ran: true });
    const left = await store.sql<{ n: number }[]>`select count(*)::int as n from stats_samples`;
    expect(left[0]?.n).toBe(2);
    expect(await store.retention.runOnce(new Date(Date.now() + 11 * day))).toMatchObject({ samples: 1 });
  });
});
