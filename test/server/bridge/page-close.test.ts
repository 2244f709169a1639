// The page beacon's word between instances (server/bridge/page-close.ts), on a real Postgres: a page
// closed on another instance (its NOTIFY on the shared database) ends that page's kernels here, and
// anything else on the channel, which any database user could send, is ignored. The beacon reaching
// this instance itself is in pagepoll.test.ts; three instances behind HAProxy in test/scale.
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PAGE_CLOSED } from '../../../server/bridge/page-close.js';
import { loadConfig, storeOptions } from '../../../server/config.js';
import { openStore, type Store } from '../../../server/store/db.js';
import { api, startServer, type TestServer, waitFor } from '../helpers.js';
import { createDb, type TestDb } from '../jobs/helpers.js';

const SLOT = 57;
let s: TestServer;
let db: TestDb;
let store: Store;
let other: postgres.Sql;

beforeAll(async () => {
  db = await createDb('postgres');
  const log = pino({ level: 'silent' });
  store = await openStore(storeOptions(loadConfig({}, { databaseUrl: db.url }), log));
  s = await startServer(SLOT, { poolSize: 2, maxKernels: 6 }, { store });
  // Another instance's connection to the same database.
  other = postgres(db.url, { max: 1, onnotice: () => {} });
}, 120_000);
afterAll(async () => {
  await s?.stop();
  await store?.close();
  await other?.end();
  await db?.cleanup();
});

const pageKernel = async (page: string) => {
  const r = await api(s, 'POST', `/api/kernels?page=${page}`, { name: 'python3' });
  expect(r.status, JSON.stringify(r.body)).toBe(201);
  return r.body.id as string;
};
const alive = (id: string) => s.ctx.kernels.get(id) !== undefined;

describe('a page closed on another instance', () => {
  it('ends its kernels here; malformed or foreign words on the channel end nothing', async () => {
    const kept = 'a'.repeat(32);
    const closed = 'b'.repeat(32);
    const keptKernel = await pageKernel(kept);
    const closedKernel = await pageKernel(closed);
    for (const payload of [
      'not json',
      '{"page": 5}',
      '{"page": null}',
      '[]',
      `{"page": "${kept}/../x"}`,
      '{}',
    ])
      await other.notify(PAGE_CLOSED, payload);
    // Delivered in order after the ones above: once it has acted, they have all been read.
    await other.notify(PAGE_CLOSED, JSON.stringify({ page: closed }));
    await waitFor(() => !alive(closedKernel), 10_000, 'the closed page’s kernel to end');
    expect((await api(s, 'GET', `/api/kernels/${closedKernel}`)).status).toBe(404);
    expect(alive(keptKernel)).toBe(true);
    expect((await api(s, 'GET', `/api/kernels/${keptKernel}`)).status).toBe(200);
    await api(s, 'DELETE', `/api/kernels/${keptKernel}`);
  }, 60_000);
});
