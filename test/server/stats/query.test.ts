// The stats series in SQL, on Postgres and PGlite: execute records and samples with known times,
// durations and statuses, and the exact counts, errors, percentiles and gauge sums they must give.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readStats, resolveRange } from '../../../server/stats/query.js';
import { MAX_BUCKETS } from '../../../server/stats/schemas.js';
import type { Store } from '../../../server/store/db.js';
import { backends, type TestDb } from '../store/helpers.js';
import { percentileCont } from './helpers.js';

const MIN = 60_000;

describe('resolveRange', () => {
  const now = new Date('2030-01-01T12:34:56.789Z');

  it('defaults to the last hour in one-minute buckets, aligned to the minute', () => {
    const r = resolveRange({}, now);
    expect(r.bucketMs).toBe(MIN);
    expect(r.to).toEqual(now);
    expect(r.from.toISOString()).toBe('2030-01-01T11:34:00.000Z');
    expect(r.buckets).toBe(61);
  });

  it('picks round buckets for the page ranges (at most 100 of them)', () => {
    const at = (h: number) =>
      resolveRange(
        { from: new Date(now.getTime() - h * 3_600_000).toISOString(), to: now.toISOString() },
        now,
      );
    expect([1, 6, 24, 168].map((h) => at(h).bucketMs / 1000)).toEqual([60, 300, 900, 7200]);
    for (const h of [1, 6, 24, 168]) expect(at(h).buckets).toBeLessThanOrEqual(101);
  });

  it('refuses an empty or reversed range and too many buckets', () => {
    const to = now.toISOString();
    expect(() => resolveRange({ from: to, to })).toThrow(/from must be before to/);
    expect(() => resolveRange({ from: '2030-01-02T00:00:00Z', to })).toThrow(/from must be before to/);
    try {
      resolveRange({ from: '2029-01-01T00:00:00Z', to, bucket: 60 });
      expect.unreachable();
    } catch (e) {
      expect((e as { code: string; statusCode: number }).code).toBe('RUNCELL_ERR_BAD_REQUEST');
      expect((e as { statusCode: number }).statusCode).toBe(400);
      expect((e as Error).message).toMatch(new RegExp(`at most ${MAX_BUCKETS}`));
    }
  });
});

describe.each(backends)('stats series on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  // A fixed, minute-aligned past hour: nothing else writes there.
  const from = new Date('2030-03-01T10:00:00Z');
  const at = (ms: number) => new Date(from.getTime() + ms);
  const range = () => resolveRange({ from: from.toISOString(), to: at(10 * MIN).toISOString(), bucket: 60 });

  beforeAll(async () => {
    db = await backend.create();
    store = await db.open({ records: { flushIntervalMs: 20 } });
  });
  afterAll(async () => {
    await store?.close();
    await db?.cleanup();
  });

  function record(startMs: number, durationMs: number | null, status: string | null): void {
    const id = store.records.begin({
      message: { header: { msg_id: `m${startMs}`, msg_type: 'execute_request' }, content: { code: '1' } },
      kernelSpec: 'python3',
      transport: 'websocket',
      startedAt: at(startMs),
    });
    if (status !== null && durationMs !== null)
      store.records.finish(id, { status, finishedAt: at(startMs + durationMs) });
  }

  it('counts executions and errors per bucket and computes percentile_cont latencies', async () => {
    const minute0 = [10, 20, 30, 40];
    minute0.forEach((d, i) => void record(i * 1000, d, 'ok'));
    record(5000, 100, 'error');
    record(2 * MIN + 1000, 5000, 'timeout');
    record(2 * MIN + 2000, 7, 'ok');
    record(2 * MIN + 3000, null, null); // never finished
    record(9 * MIN + 59_999, 3, 'error');
    record(-1, 1, 'error'); // before the range
    record(10 * MIN, 1, 'error'); // `to` is exclusive
    await store.records.flush();

    const s = await readStats(store.sql, range());
    expect(s.bucket).toBe(60);
    expect(s.time).toHaveLength(10);
    expect(s.time[0]).toBe(from.getTime());
    expect(s.time[9]).toBe(at(9 * MIN).getTime());
    expect(s.executions).toEqual([5, 0, 3, 0, 0, 0, 0, 0, 0, 1]);
    expect(s.errors).toEqual([1, 0, 1, 0, 0, 0, 0, 0, 0, 1]);
    expect(s.errors_by_status).toEqual({
      error: [1, 0, 0, 0, 0, 0, 0, 0, 0, 1],
      timeout: [0, 0, 1, 0, 0, 0, 0, 0, 0, 0],
    });
    const b0 = [...minute0, 100];
    for (const [k, p] of [
      ['p50', 0.5],
      ['p90', 0.9],
      ['p99', 0.99],
    ] as const) {
      expect(s.latency_ms[k][0]).toBeCloseTo(percentileCont(b0, p) as number, 3);
      expect(s.latency_ms[k][2]).toBeCloseTo(percentileCont([5000, 7], p) as number, 3);
      expect(s.latency_ms[k][1]).toBeNull();
    }
    expect(s.latency_ms.p50[0]).toBe(30);
    expect(s.totals).toMatchObject({
      executions: 9,
      errors: 3,
      unfinished: 1,
      errors_by_status: { error: 2, timeout: 1 },
    });
    const all = [...b0, 5000, 7, 3];
    expect(s.totals.latency_ms.p50).toBeCloseTo(percentileCont(all, 0.5) as number, 3);
    expect(s.totals.latency_ms.p90).toBeCloseTo(percentileCont(all, 0.9) as number, 3);
    expect(s.totals.latency_ms.p99).toBeCloseTo(percentileCont(all, 0.99) as number, 3);
  });

  it('averages each instance over a bucket, sums the instances, and tells which still sample', async () => {
    const row = (instance: string, ms: number, kernels: number, busy: number, lag: number | null) =>
      store.sql`insert into stats_samples
        (instance, at, interval_ms, kernels, busy, pooled, starting, queued, websockets, longpolls, loop_lag_ms)
        values (${instance}, ${at(ms)}, 15000, ${kernels}, ${busy}, 2, 0, 0, ${kernels}, 1, ${lag})`;
    // Minute 0: a samples 2 then 4 kernels (mean 3), b samples 5 once: 8 in all.
    await row('a', 0, 2, 1, 3);
    await row('a', 30_000, 4, 2, 12.5);
    await row('b', 10_000, 5, 0, 7);
    // Minute 3: only b. Minute 9: a's last sample; b's is older (stale at the chosen `now`).
    await row('b', 3 * MIN, 1, 1, null);
    await row('a', 9 * MIN + 50_000, 6, 3, 1);

    const now = at(10 * MIN);
    const s = await readStats(store.sql, range(), now);
    expect(s.gauges.kernels.slice(0, 4)).toEqual([8, null, null, 1]);
    expect(s.gauges.busy[0]).toBe(1.5);
    expect(s.gauges.pooled[0]).toBe(4);
    expect(s.gauges.websockets[0]).toBe(8);
    expect(s.gauges.longpolls[0]).toBe(2);
    expect(s.gauges.loop_lag_ms[0]).toBe(12.5);
    expect(s.gauges.loop_lag_ms[3]).toBeNull();
    expect(s.gauges.instances.slice(0, 4)).toEqual([2, 0, 0, 1]);
    expect(s.gauges.kernels[9]).toBe(6);
    // a's newest sample is 10 s old (within 3 intervals of 15 s); b's is 7 minutes old.
    expect(s.current).toEqual({
      at: at(9 * MIN + 50_000).toISOString(),
      instances: ['a'],
      kernels: 6,
      busy: 3,
      pooled: 2,
      websockets: 6,
      longpolls: 1,
    });
  });

  it('answers an empty range with zeros and nulls', async () => {
    const empty = resolveRange({ from: '2031-01-01T00:00:00Z', to: '2031-01-01T00:05:00Z', bucket: 60 });
    const s = await readStats(store.sql, empty, new Date('2031-01-01T00:05:00Z'));
    expect(s.executions).toEqual([0, 0, 0, 0, 0]);
    expect(s.latency_ms.p99).toEqual([null, null, null, null, null]);
    expect(s.gauges.kernels).toEqual([null, null, null, null, null]);
    expect(s.totals).toEqual({
      executions: 0,
      errors: 0,
      unfinished: 0,
      errors_by_status: {},
      latency_ms: { p50: null, p90: null, p99: null },
    });
    expect(s.current).toMatchObject({ at: null, instances: [], kernels: 0 });
  });
});
