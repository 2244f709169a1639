import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../../server/store/db.js';
import { type ExecuteBegin, summarizeOutputs } from '../../../server/store/records.js';
import { backends, type TestDb } from './helpers.js';

const request = (code: string): ExecuteBegin => ({
  message: {
    header: { msg_id: `m-${code}`, msg_type: 'execute_request', session: 's' },
    parent_header: {},
    metadata: {},
    content: { code, silent: false },
  },
  kernelSpec: 'python3',
  kernelId: 'k1',
  transport: 'oneshot',
  clientAddress: '198.51.100.23',
});

describe('output summaries', () => {
  it('counts, sizes and keeps a bounded text', () => {
    const s = summarizeOutputs(
      [
        { msg_type: 'stream', content: { name: 'stdout', text: 'a'.repeat(50) } },
        { header: { msg_type: 'execute_result' }, content: { data: { 'text/plain': '42' } } },
        { msg_type: 'error', content: { ename: 'ValueError', evalue: 'bad', traceback: [] } },
      ],
      60,
    );
    expect(s.messages).toBe(3);
    expect(s.types).toEqual({ stream: 1, execute_result: 1, error: 1 });
    expect(s.text.length).toBe(60);
    expect(s.truncated).toBe(true);
    expect(s.error).toEqual({ ename: 'ValueError', evalue: 'bad' });
  });
});

describe.each(backends)('execute records on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  let sql: import('postgres').Sql;
  beforeAll(async () => {
    db = await backend.create();
    store = await db.open({ records: { flushIntervalMs: 20 } });
    // Read back through a second connection (Postgres) or after close (PGlite, single process).
    if (backend.name === 'postgres')
      sql = (await import('postgres')).default(db.options.databaseUrl as string, { max: 1 });
  });
  afterAll(async () => {
    await store?.close();
    await sql?.end();
    await db?.cleanup();
  });

  it('returns at once and writes batches off the hot path', async () => {
    // begin() and finish() are synchronous: nothing is written until the batch flush, off this path.
    const written = store.records.stats().written;
    const ids = Array.from({ length: 1000 }, (_, i) => store.records.begin(request(`x = ${i}`)));
    for (const id of ids)
      store.records.finish(id, { status: 'ok', outputs: [{ msg_type: 'stream', content: { text: 'ok' } }] });
    expect(store.records.stats().written).toBe(written);
    expect(store.records.stats().pending).toBeGreaterThan(0);
    await expect.poll(() => store.records.stats().written, { timeout: 5000 }).toBe(1000);
  });

  it('stores the message, hashes, status, duration and summary; never the raw address', async () => {
    const id = store.records.begin(request('print("nul\u0000")'));
    await store.records.flush();
    store.records.finish(id, {
      status: 'error',
      outputs: [{ msg_type: 'error', content: { ename: 'E', evalue: 'v' } }],
    });
    await store.records.flush();
    if (!sql) return;
    const [r] = await sql`select * from execute_records where id = ${id}`;
    expect(r?.message.content.code).toBe('print("nul\uFFFD")');
    expect(r?.code_sha256).toMatch(/^[0-9a-f]{64}$/);
    expect(r?.client_hash).toBe(store.hashClient('198.51.100.23'));
    expect(JSON.stringify(r)).not.toContain('198.51.100.23');
    expect(r?.status).toBe('error');
    expect(r?.duration_ms).toBeGreaterThanOrEqual(0);
    expect(r?.outputs.error).toEqual({ ename: 'E', evalue: 'v' });
    expect(r?.transport).toBe('oneshot');
  });
});
