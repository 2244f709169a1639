// Shared by the store and route suites: the two backends, each on a fresh database.
//   postgres: CREATE DATABASE runcell_test_<random> on 127.0.0.1:5432 (user postgres, trust), dropped after
//   pglite:   a temp directory, removed after
import { randomBytes } from 'node:crypto';
import { mkdtemp, rm } from 'node:fs/promises';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import postgres from 'postgres';
import { openStore, type Store, type StoreOptions } from '../../../server/store/db.js';

export const log = pino({ level: process.env.RUNCELL_TEST_LOG ?? 'silent' });
export const adminUrl = process.env.RUNCELL_TEST_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';

export interface TestDb {
  /** Options for openStore on this fresh database (override freely). */
  options: StoreOptions;
  open(overrides?: Partial<StoreOptions>): Promise<Store>;
  cleanup(): Promise<void>;
}

export interface Backend {
  name: 'postgres' | 'pglite';
  create(): Promise<TestDb>;
}

const base = { poolMax: 4, connectTimeoutMs: 2000, log, retention: { intervalMs: 0 } };

export const postgresBackend: Backend = {
  name: 'postgres',
  async create() {
    const name = `runcell_test_${randomBytes(6).toString('hex')}`;
    const admin = postgres(adminUrl, { max: 1, onnotice: () => {} });
    await admin.unsafe(`create database ${name}`);
    const url = new URL(adminUrl);
    url.pathname = `/${name}`;
    const options: StoreOptions = { ...base, databaseUrl: url.toString(), dataDir: '/nonexistent' };
    return {
      options,
      open: (o) => openStore({ ...options, ...o }),
      async cleanup() {
        await admin.unsafe(`drop database if exists ${name} with (force)`);
        await admin.end();
      },
    };
  },
};

export const pgliteBackend: Backend = {
  name: 'pglite',
  async create() {
    const dir = await mkdtemp(join(tmpdir(), 'runcell-store-test-'));
    const options: StoreOptions = { ...base, dataDir: dir };
    return {
      options,
      open: (o) => openStore({ ...options, ...o }),
      cleanup: () => rm(dir, { recursive: true, force: true }),
    };
  },
};

async function reachable(url: string): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const s = net.connect(Number(u.port || 5432), u.hostname);
    s.setTimeout(1000);
    s.once('connect', () => {
      s.destroy();
      resolve(true);
    });
    s.once('error', () => resolve(false));
    s.once('timeout', () => {
      s.destroy();
      resolve(false);
    });
  });
}

// The suite needs the local Postgres (README: the tests need 127.0.0.1:5432); a missing one is a
// failure, never a silent skip.
if (!(await reachable(adminUrl))) {
  throw new Error(`Postgres is not reachable at ${adminUrl}: start it (see README) before running the tests`);
}

/** The backends to run every suite on. */
export const backends: Backend[] = [postgresBackend, pgliteBackend];

export async function collect(it: AsyncIterable<Uint8Array>): Promise<Buffer> {
  const parts: Buffer[] = [];
  for await (const p of it) parts.push(Buffer.from(p));
  return Buffer.concat(parts);
}

/** A Fastify app with only the store's plugins, as the server registers them. */
export async function buildApp(
  store: Store,
  extra: {
    limits?: Partial<import('../../../server/routes/uploads.js').UploadLimits>;
    contentOrigin?: string;
    missLimit?: { max: number; windowMs: number };
  } = {},
  /** Extra routes in the same app (benchmarks' baselines). */
  more?: (app: import('fastify').FastifyInstance) => void,
) {
  const { default: Fastify } = await import('fastify');
  const { permalinkRoutes } = await import('../../../server/routes/permalinks.js');
  const { uploadRoutes } = await import('../../../server/routes/uploads.js');
  const { fileRoutes } = await import('../../../server/routes/files.js');
  const { installErrorHandler } = await import('../../../server/error-handler.js');
  const app = Fastify({ logger: false });
  // The app's one error handler, as server/app.ts installs it (the routes have none of their own).
  installErrorHandler(app);
  await app.register(permalinkRoutes, { store, ...(extra.missLimit ? { missLimit: extra.missLimit } : {}) });
  await app.register(uploadRoutes, { store, limits: extra.limits ?? {} });
  await app.register(fileRoutes, { store, contentOrigin: extra.contentOrigin });
  app.get('/static', async () => ({ ok: true }));
  more?.(app);
  await app.ready();
  return app;
}
