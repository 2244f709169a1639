import { createHash, randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../../server/store/db.js';
import { backends, collect, type TestDb } from './helpers.js';

async function* once(b: Buffer): AsyncGenerator<Uint8Array> {
  yield b;
}

async function* cutAfter(b: Buffer, n: number): AsyncGenerator<Uint8Array> {
  yield b.subarray(0, n);
  throw Object.assign(new Error('aborted'), { code: 'ECONNRESET' });
}

describe.each(backends)('uploads on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  beforeAll(async () => {
    db = await backend.create();
    store = await db.open({ chunkBytes: 4096 });
  });
  afterAll(async () => {
    await store?.close();
    await db?.cleanup();
  });

  it('keeps the bytes of a cut-off body and resumes after a restart', async () => {
    const data = randomBytes(50_000);
    const up = await store.uploads.create({
      length: data.length,
      clientHash: 'c1',
      metadata: { filename: 'x.bin' },
    });
    await expect(
      store.uploads.write(up.id, { offset: 0, body: cutAfter(data, 20_000) }),
    ).rejects.toMatchObject({
      code: 'RUNCELL_ERR_UPLOAD_INTERRUPTED',
    });
    expect((await store.uploads.get(up.id))?.offset).toBe(20_000);
    await expect(store.uploads.read(up.id)).rejects.toMatchObject({ code: 'RUNCELL_ERR_UPLOAD_INCOMPLETE' });
    // A restart loses the running digest: completing re-reads the stored chunks instead.
    await store.close();
    store = await db.open({ chunkBytes: 4096 });
    const done = await store.uploads.write(up.id, { offset: 20_000, body: once(data.subarray(20_000)) });
    expect(done.offset).toBe(data.length);
    expect(done.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    const { info, data: stream } = await store.uploads.read(up.id);
    expect(info.metadata).toEqual({ filename: 'x.bin' });
    expect((await collect(stream)).equals(data)).toBe(true);
  });

  it('shares the blob of identical uploads and completes empty ones at once', async () => {
    const data = randomBytes(10_000);
    const a = await store.uploads.create({ length: data.length, clientHash: 'c2' });
    const b = await store.uploads.create({ length: data.length, clientHash: 'c2' });
    const [ra, rb] = await Promise.all([
      store.uploads.write(a.id, { offset: 0, body: once(data) }),
      store.uploads.write(b.id, { offset: 0, body: once(data) }),
    ]);
    expect(ra.sha256).toBe(rb.sha256);
    expect((await collect((await store.uploads.read(b.id)).data)).equals(data)).toBe(true);
    const empty = await store.uploads.create({ length: 0, clientHash: 'c2' });
    expect(empty.sha256).toBe(createHash('sha256').digest('hex'));
    expect((await collect((await store.uploads.read(empty.id)).data)).length).toBe(0);
  });

  it('serialises concurrent writers on one upload', async () => {
    const data = randomBytes(8000);
    const up = await store.uploads.create({ length: data.length, clientHash: 'c3' });
    const results = await Promise.allSettled([
      store.uploads.write(up.id, { offset: 0, body: once(data.subarray(0, 4000)) }),
      store.uploads.write(up.id, { offset: 0, body: once(data.subarray(0, 4000)) }),
    ]);
    expect(results.filter((r) => r.status === 'fulfilled')).toHaveLength(1);
    expect(results.find((r) => r.status === 'rejected')).toMatchObject({
      reason: { code: 'RUNCELL_ERR_UPLOAD_OFFSET_MISMATCH' },
    });
    expect((await store.uploads.get(up.id))?.offset).toBe(4000);
  });
});
