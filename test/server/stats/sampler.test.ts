// The stats sampler on Postgres and PGlite: rows at its interval with the gauges it read, one write
// in flight at most, and a database outage costs samples (logged), never an exception or a stop.
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSampler, type Gauges } from '../../../server/stats/sampler.js';
import type { Sql, Store } from '../../../server/store/db.js';
import { waitFor } from '../helpers.js';
import { backends, type TestDb } from '../store/helpers.js';

const gauges: Gauges = {
  kernels: 3,
  busy: 1,
  pooled: 2,
  starting: 1,
  queued: 0,
  websockets: 4,
  longpolls: 5,
};

interface Row {
  instance: string;
  at: Date;
  interval_ms: number;
  kernels: number;
  busy: number;
  pooled: number;
  starting: number;
  queued: number;
  websockets: number;
  longpolls: number;
  loop_lag_ms: number | null;
}

describe.each(backends)('stats sampler on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  const rows = (instance: string) =>
    store.sql<Row[]>`select * from stats_samples where instance = ${instance} order by at`;

  beforeAll(async () => {
    db = await backend.create();
    store = await db.open();
  });
  afterAll(async () => {
    await store?.close();
    await db?.cleanup();
  });

  it('writes one row per interval with the gauges and the event-loop delay', async () => {
    const sampler = createSampler({
      sql: store.sql,
      instance: 'every-100ms',
      intervalMs: 100,
      read: () => gauges,
      log: pino({ level: 'silent' }),
    });
    const t0 = Date.now();
    sampler.start();
    await waitFor(() => sampler.stats.written >= 3, 10_000, 'three samples');
    await sampler.stop();
    const written = sampler.stats.written;
    const got = await rows('every-100ms');
    expect(got).toHaveLength(written);
    expect(got[0]).toMatchObject({ interval_ms: 100, ...gauges });
    expect(got[0]?.at.getTime()).toBeGreaterThanOrEqual(t0 + 90);
    expect(got[0]?.loop_lag_ms).toBeGreaterThan(0);
    // Stopped means stopped.
    await new Promise((r) => setTimeout(r, 300));
    expect(await rows('every-100ms')).toHaveLength(written);
  });

  it('skips a tick while a write is in flight, and survives an outage', async () => {
    let down = false;
    let gate: Promise<void> | null = null;
    // The store's pool behind a switch: "down" rejects like an unreachable database; while a gate
    // is set, writes wait for it (a slow database).
    const query = store.sql as unknown as (...a: unknown[]) => Promise<unknown>;
    const sql = ((...args: unknown[]) => {
      if (down)
        return Promise.reject(Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' }));
      return (gate ?? Promise.resolve()).then(() => query(...args));
    }) as unknown as Sql;
    const warnings: string[] = [];
    const log = pino({ level: 'warn' }, { write: (s: string) => void warnings.push(s) });
    const sampler = createSampler({ sql, instance: 'flaky', intervalMs: 60_000, read: () => gauges, log });

    let open = () => {};
    gate = new Promise((r) => {
      open = r;
    });
    const held = sampler.sampleOnce(new Date(Date.now() - 2000));
    expect(await sampler.sampleOnce()).toBe(false);
    expect(sampler.stats.skipped).toBe(1);
    gate = null;
    open();
    expect(await held).toBe(true);

    down = true;
    expect(await sampler.sampleOnce()).toBe(false);
    expect(await sampler.sampleOnce()).toBe(false);
    expect(sampler.stats.failed).toBe(2);
    // Logged once, not per failure.
    expect(warnings.filter((w) => w.includes('stats sampler'))).toHaveLength(1);

    down = false;
    expect(await sampler.sampleOnce()).toBe(true);
    expect(await rows('flaky')).toHaveLength(2);
    await sampler.stop();
  });

  it('a failing read is a lost sample too', async () => {
    const sampler = createSampler({
      sql: store.sql,
      instance: 'bad-read',
      intervalMs: 60_000,
      read: () => {
        throw new Error('no gauges');
      },
      log: pino({ level: 'silent' }),
    });
    expect(await sampler.sampleOnce()).toBe(false);
    expect(sampler.stats.failed).toBe(1);
    expect(await rows('bad-read')).toHaveLength(0);
  });
});
