import { createHash, randomBytes } from 'node:crypto';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { rechunk } from '../../../server/store/blobs.js';
import type { Store } from '../../../server/store/db.js';
import { backends, collect, type TestDb } from './helpers.js';

async function* pieces(buf: Buffer, sizes: number[]): AsyncGenerator<Uint8Array> {
  let i = 0;
  for (const s of sizes) {
    if (i >= buf.length) break;
    yield buf.subarray(i, i + s);
    i += s;
  }
  if (i < buf.length) yield buf.subarray(i);
}

describe('rechunk', () => {
  it('cuts any stream into exact chunks without losing a byte', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.uint8Array({ maxLength: 3000 }),
        fc.array(fc.integer({ min: 1, max: 700 }), { maxLength: 20 }),
        fc.integer({ min: 1, max: 512 }),
        async (data, sizes, size) => {
          const chunks: Buffer[] = [];
          for await (const c of rechunk(pieces(Buffer.from(data), sizes), size)) chunks.push(c);
          expect(Buffer.concat(chunks).equals(Buffer.from(data))).toBe(true);
          for (const c of chunks.slice(0, -1)) expect(c.length).toBe(size);
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe.each(backends)('files on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  const chunkBytes = 1000;
  beforeAll(async () => {
    db = await backend.create();
    store = await db.open({ chunkBytes });
  });
  afterAll(async () => {
    await store?.close();
    await db?.cleanup();
  });

  it('stores data in chunks under its sha256 and reads any range back', async () => {
    const data = randomBytes(4567);
    const f = await store.files.put({
      name: 'r.bin',
      mediaType: 'application/octet-stream',
      data: pieces(data, [10, 3000, 5]),
    });
    expect(f.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(f.size).toBe(data.length);
    expect((await collect(store.files.read(f.id))).equals(data)).toBe(true);
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 0, max: data.length - 1 }),
        fc.integer({ min: 0, max: data.length }),
        async (a, n) => {
          const end = Math.min(a + n, data.length - 1);
          expect((await collect(store.files.read(f.id, a, end))).equals(data.subarray(a, end + 1))).toBe(
            true,
          );
        },
      ),
      { numRuns: 30 },
    );
  });

  it('keeps identical content once, under two file ids', async () => {
    const data = randomBytes(2500);
    const [a, b] = await Promise.all([
      store.files.put({ name: 'a.bin', mediaType: 'application/octet-stream', data }),
      store.files.put({ name: 'b.bin', mediaType: 'application/octet-stream', data }),
    ]);
    expect(a?.id).not.toBe(b?.id);
    expect(a?.sha256).toBe(b?.sha256);
    const ref = await store.files.blobs.put(data);
    expect(ref.sha256).toBe(a?.sha256);
    expect((await collect(store.files.read(b?.id as string))).equals(data)).toBe(true);
  });

  it('stores empty files', async () => {
    const f = await store.files.put({ name: 'empty', mediaType: 'text/plain', data: Buffer.alloc(0) });
    expect(f.size).toBe(0);
    expect(f.sha256).toBe(createHash('sha256').digest('hex'));
    expect((await collect(store.files.read(f.id))).length).toBe(0);
  });

  it('answers null for unknown or malformed ids', async () => {
    expect(await store.files.get('AAAAAAAAAAAAAAAAAAAAAA')).toBeNull();
    expect(await store.files.get("x' or 1=1 --")).toBeNull();
  });
});
