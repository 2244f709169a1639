// Postgres going away and coming back, simulated by a TCP proxy in front of the real server (which
// other suites share and which must not be stopped): routes answer 503 {code, message}, nothing
// crashes, execute records wait in memory, and everything recovers without a restart.
import Fastify, { type FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelManager } from '../../../kernel-manager/index.js';
import type { Caller } from '../../../server/auth.js';
import { installErrorHandler } from '../../../server/error-handler.js';
import { createJobs } from '../../../server/jobs/index.js';
import { jobRoutes } from '../../../server/routes/jobs.js';
import type { Store } from '../../../server/store/db.js';
import { buildApp, log, postgresBackend, type TestDb } from './helpers.js';
import { TcpProxy } from './tcp-proxy.js';

describe('Postgres outage', () => {
  let db: TestDb;
  let store: Store;
  let app: FastifyInstance;
  let proxy: TcpProxy;
  let permalink: string;
  beforeAll(async () => {
    db = await postgresBackend.create();
    let url: string;
    ({ proxy, url } = await TcpProxy.toDatabase(db.options.databaseUrl as string));
    store = await db.open({
      databaseUrl: url,
      connectTimeoutMs: 1000,
      records: { flushIntervalMs: 50 },
    });
    app = await buildApp(store);
    permalink = (await store.permalinks.create({ code: 'up', kernel: 'python3' })).id;
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await proxy?.stop();
    await db?.cleanup();
  });

  it('answers 503 while the database is gone and recovers when it returns', async () => {
    await proxy.stop();
    const requests = [
      app.inject(`/api/permalinks/${permalink}`),
      app.inject({ method: 'POST', url: '/api/permalinks', payload: { code: 'down', kernel: 'python3' } }),
      app.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { 'tus-resumable': '1.0.0', 'upload-length': '5' },
      }),
      app.inject('/files/AAAAAAAAAAAAAAAAAAAAAA/x.png'),
    ];
    for (const r of await Promise.all(requests)) {
      expect(r.statusCode).toBe(503);
      expect(r.json()).toEqual({ code: 'RUNCELL_ERR_STORE_UNAVAILABLE', message: expect.any(String) });
      expect(r.body).not.toMatch(/at |\/work|127\.0\.0\.1|ECONNREFUSED/);
      expect(r.headers['retry-after']).toBeDefined();
    }
    expect(await store.ping(500)).toBe(false);
    // Recording goes on in memory meanwhile.
    const id = store.records.begin({
      message: { header: { msg_id: 'during', msg_type: 'execute_request' }, content: { code: 'during' } },
      kernelSpec: 'python3',
      transport: 'websocket',
    });
    store.records.finish(id, { status: 'ok' });
    await expect(store.records.flush()).rejects.toBeDefined();
    expect(store.records.stats().pending).toBe(1);
    // The inline form needs no database.
    expect((await app.inject('/p/z/q1YqSs_OzEtXslJQUCjIKC0pTi1RKEnNyC9OLSlKTVEAAA')).statusCode).not.toBe(
      503,
    );

    await proxy.start();
    await expect.poll(() => store.ping(500), { timeout: 10_000 }).toBe(true);
    const r = await app.inject(`/api/permalinks/${permalink}`);
    expect(r.statusCode).toBe(200);
    expect(r.json().code).toBe('up');
    await expect
      .poll(() => store.records.stats(), { timeout: 40_000 })
      .toMatchObject({ pending: 0, written: 1 });
  });

  it('answers 503 STORE_UNAVAILABLE on the jobs routes too (raw SQL, not the store API)', async () => {
    // No kernel is started here: nothing is submitted, only read.
    const manager = { specs: () => [] } as unknown as KernelManager;
    const jobs = await createJobs({ sql: store.sql, events: store.events, manager, log, instance: 'outage' });
    const jobsApp = Fastify({ logger: false });
    installErrorHandler(jobsApp);
    jobsApp.decorateRequest('caller', null as unknown as Caller);
    jobsApp.addHook('onRequest', async (req) => {
      req.caller = { kind: 'token', ipKey: '127.0.0.1', owner: 'token:0' } as Caller;
    });
    await jobsApp.register(jobRoutes, { jobs });
    try {
      expect((await jobsApp.inject('/api/jobs')).statusCode).toBe(200);
      await proxy.stop();
      for (const url of ['/api/jobs', '/api/jobs/00000000-0000-4000-8000-000000000000']) {
        const r = await jobsApp.inject(url);
        expect(r.statusCode, url).toBe(503);
        expect(r.json()).toEqual({ code: 'RUNCELL_ERR_STORE_UNAVAILABLE', message: expect.any(String) });
        expect(r.body).not.toMatch(/at |\/work|127\.0\.0\.1|ECONNREFUSED/);
        expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      }
    } finally {
      await proxy.start();
      await jobs.abandon();
      await jobsApp.close();
    }
  });

  it('keeps retrying an unreachable database at start-up', async () => {
    await proxy.stop();
    const url = new URL(db.options.databaseUrl as string);
    url.host = `127.0.0.1:${proxy.port}`;
    setTimeout(() => void proxy.start(), 700);
    const late = await db.open({
      databaseUrl: url.toString(),
      connectTimeoutMs: 1000,
      startupTimeoutMs: 10_000,
    });
    expect(await late.ping()).toBe(true);
    await late.close();
    await proxy.stop();
    await expect(
      db.open({ databaseUrl: url.toString(), connectTimeoutMs: 1000, startupTimeoutMs: 300 }),
    ).rejects.toMatchObject({ code: 'RUNCELL_ERR_STORE_UNAVAILABLE' });
    await proxy.start();
  });
});
