// Shared by the jobs, routes, SDK and CLI suites: a fresh database per test file (Postgres:
// CREATE DATABASE runcell_jobs_<random> on 127.0.0.1:5432, dropped after; PGlite: a temp dir),
// a real kernel manager on the file's own uid slot (30-39), the jobs service, and optionally the
// real app (server/app.ts) with the jobs routes registered, listening on 127.0.0.1:0.
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import postgres from 'postgres';
import { KernelManager } from '../../../kernel-manager/index.js';
import { type App, buildApp } from '../../../server/app.js';
import { kernelManagerConfig, loadConfig } from '../../../server/config.js';
import { createJobs, type JobLimits, type Jobs } from '../../../server/jobs/index.js';
import { jobRoutes } from '../../../server/routes/jobs.js';
import { uploadRoutes } from '../../../server/routes/uploads.js';
import type { Database } from '../../../server/store/db.js';
import { openStore, type Store } from '../../../server/store/db.js';
import { migrate } from '../../../server/store/migrate.js';
import { connectPostgres } from '../../../server/store/postgres.js';
import { SUITE_KERNELS } from '../../suite-kernels.js';

export const log = pino({ level: process.env.RUNCELL_TEST_LOG ?? 'silent' });
export const adminUrl = process.env.RUNCELL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
export const TOKENS = ['jobs-token-a-0123456789abcdef', 'jobs-token-b-0123456789abcdef'];
export type Backend = 'postgres' | 'pglite';

export interface TestDb {
  /** Postgres URL (postgres backend) or PGlite data dir. */
  url: string;
  dataDir: string;
  connect(): Promise<Database>;
  cleanup(): Promise<void>;
}

const connectOpts = { poolMax: 4, connectTimeoutMs: 2000, log };

/** A Postgres database that already exists (a child server process reopening the test's database). */
export function existingDb(url: string): TestDb {
  return {
    url,
    dataDir: '',
    async connect() {
      const db = await connectPostgres(url, connectOpts);
      await migrate(db.sql, log);
      return db;
    },
    async cleanup() {},
  };
}

export async function createDb(backend: Backend): Promise<TestDb> {
  if (backend === 'postgres') {
    const name = `runcell_jobs_${randomBytes(6).toString('hex')}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    return {
      url: url.toString(),
      dataDir: '',
      async connect() {
        const db = await connectPostgres(url.toString(), connectOpts);
        await migrate(db.sql, log);
        return db;
      },
      async cleanup() {
        await admin.unsafe(`drop database if exists ${name} with (force)`);
        await admin.end();
      },
    };
  }
  const dir = await mkdtemp(join(tmpdir(), 'runcell-jobs-test-'));
  return {
    url: '',
    dataDir: dir,
    async connect() {
      const db = await (await import('../../../server/store/pglite.js')).startPglite(dir, connectOpts);
      await migrate(db.sql, log);
      return db;
    },
    cleanup: () => rm(dir, { recursive: true, force: true }),
  };
}

export interface Stack {
  db: Database;
  manager: KernelManager;
  jobs: Jobs;
  /** Set when `http` was asked for. */
  server?: App;
  base: string;
  /** Stops the jobs service as a crash would, then starts a new one on the same database. */
  crashAndRestart(): Promise<Jobs>;
  stop(): Promise<void>;
}

export interface StackOptions {
  backend?: Backend;
  db?: TestDb;
  limits?: Partial<JobLimits>;
  http?: boolean;
  poolSize?: number;
  maxKernels?: number;
  /** Listen port for `http` (default 0: any). */
  port?: number;
}

/** Slot 30-39: uid block 61000 + 100*slot and runtime root /run/rc-t<slot>, as kernel-manager's tests. */
export async function startStack(slot: number, o: StackOptions = {}): Promise<Stack & { testDb: TestDb }> {
  const testDb = o.db ?? (await createDb(o.backend ?? 'postgres'));
  const db = await testDb.connect();
  const config = loadConfig(
    {},
    {
      port: 0,
      logLevel: 'silent',
      poolSize: o.poolSize ?? 2,
      maxKernels: o.maxKernels ?? 6,
      ...SUITE_KERNELS,
      tokens: TOKENS,
      anonymous: false,
      sandboxUidRange: [61_000 + slot * 100, 61_000 + slot * 100 + 99],
      sandboxRuntimeRoot: `/run/rc-t${slot}`,
    },
  );
  const manager = await KernelManager.create(kernelManagerConfig(config), log);
  const limits = { concurrency: 2, perOwner: 2, sweepMs: 0, ...o.limits };
  // Over HTTP on Postgres the store's uploads route is mounted too (tus uploads as job inputs).
  let store: Store | undefined;
  if (o.http && testDb.url) {
    store = await openStore({
      databaseUrl: testDb.url,
      dataDir: '/nonexistent',
      poolMax: 2,
      connectTimeoutMs: 2000,
      log,
    });
  }
  const open = () =>
    createJobs({
      sql: db.sql,
      events: db.events,
      manager,
      log,
      limits,
      instance: `test-${slot}`,
      ...(store ? { files: store.files, uploads: store.uploads } : {}),
    });
  let jobs = await open();
  let server: App | undefined;
  let base = '';
  if (o.http) {
    server = await buildApp({ config, manager, logger: log });
    // The routes reach the current service through this indirection, so a restart keeps the app.
    const current = new Proxy({} as Jobs, { get: (_t, k) => Reflect.get(jobs, k) });
    await server.app.register(jobRoutes, { jobs: current });
    if (store) await server.app.register(uploadRoutes, { store });
    await server.app.listen({ host: '127.0.0.1', port: o.port ?? 0 });
    base = `http://127.0.0.1:${(server.app.server.address() as AddressInfo).port}`;
  }
  const stack = {
    testDb,
    db,
    manager,
    get jobs() {
      return jobs;
    },
    server,
    base,
    async crashAndRestart() {
      await jobs.abandon();
      jobs = await open();
      return jobs;
    },
    async stop() {
      await server?.close();
      await jobs.close();
      await manager.close();
      await store?.close();
      await db.close();
      if (!o.db) await testDb.cleanup();
    },
  };
  return stack;
}

/** Resolves when every listed job is final (polling the service). */
export async function waitFinal(jobs: Jobs, owner: string, ids: string[], timeoutMs = 60_000): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  const left = new Set(ids);
  let after = 0;
  while (left.size > 0) {
    if (Date.now() > deadline) throw new Error(`jobs not final: ${[...left].join(', ')}`);
    const r = await jobs.events(owner, after, { waitMs: 2000 });
    after = r.cursor;
    for (const e of r.events) {
      if (['succeeded', 'failed', 'timed_out', 'cancelled', 'aborted', 'skipped'].includes(e.state))
        left.delete(e.job_id);
    }
  }
}
