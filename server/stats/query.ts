// Reads the stats page's series out of the store, bucketed in SQL (the same queries on Postgres and
// PGlite): executions, errors and latency percentiles from execute_records, and the sampled gauges
// from stats_samples, summed over the instances that share the database.
import { BadRequest } from '../errors.js';
import type { Sql } from '../store/db.js';
import { MAX_BUCKETS, type StatsQuery, type StatsReply } from './schemas.js';

export interface Range {
  /** Rounded down to a multiple of bucketMs since the Unix epoch, so refreshes keep their buckets. */
  from: Date;
  to: Date;
  bucketMs: number;
  buckets: number;
}

/** Round bucket widths (seconds) for the default: the smallest giving at most 100 buckets. */
const NICE = [
  1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10_800, 21_600, 43_200, 86_400, 604_800,
];
const DEFAULT_SPAN_MS = 3_600_000;
/** A sample older than this many of its own intervals means its instance stopped sampling. */
const STALE_INTERVALS = 3;

/** The range a query asks for, with defaults filled in; RUNCELL_ERR_BAD_REQUEST when it makes no sense. */
export function resolveRange(q: StatsQuery, now: Date = new Date()): Range {
  const to = q.to === undefined ? now.getTime() : Date.parse(q.to);
  const from = q.from === undefined ? to - DEFAULT_SPAN_MS : Date.parse(q.from);
  if (!Number.isFinite(from) || !Number.isFinite(to))
    throw new BadRequest('from and to must be RFC 3339 times');
  if (from >= to) throw new BadRequest('from must be before to');
  const span = to - from;
  const bucketS =
    q.bucket ?? NICE.find((s) => s * 1000 * 100 >= span) ?? Math.ceil(span / 1000 / MAX_BUCKETS);
  const bucketMs = bucketS * 1000;
  const start = Math.floor(from / bucketMs) * bucketMs;
  const buckets = Math.ceil((to - start) / bucketMs);
  if (buckets > MAX_BUCKETS) {
    const least = Math.ceil((to - start) / 1000 / MAX_BUCKETS);
    throw new BadRequest(
      `${buckets} buckets asked for; at most ${MAX_BUCKETS}: use a bucket of ${least} s or more, or a shorter range`,
    );
  }
  return { from: new Date(start), to: new Date(to), bucketMs, buckets };
}

const round = (v: number | null, digits: number): number | null =>
  v === null ? null : Math.round(v * 10 ** digits) / 10 ** digits;

interface ExecRow {
  b: number;
  n: number;
  errors: number;
  unfinished: number;
  p50: number | null;
  p90: number | null;
  p99: number | null;
}
interface StatusRow {
  b: number;
  status: string;
  n: number;
}
interface SampleRow {
  b: number;
  instances: number;
  kernels: number;
  busy: number;
  pooled: number;
  starting: number;
  queued: number;
  websockets: number;
  longpolls: number;
  loop_lag_ms: number | null;
}
interface CurrentRow {
  instance: string;
  at: Date;
  interval_ms: number;
  kernels: number;
  busy: number;
  pooled: number;
  websockets: number;
  longpolls: number;
}

/** Every series of the stats page over `range`; `now` decides which instances count as current. */
export async function readStats(sql: Sql, range: Range, now: Date = new Date()): Promise<StatsReply> {
  const { from, to, bucketMs, buckets } = range;
  const start = from.getTime();
  // Bucket index of a timestamp: whole bucket widths since `from` (which is bucket-aligned).
  const execs = sql<ExecRow[]>`
    select floor((extract(epoch from started_at) * 1000 - ${start}::float8) / ${bucketMs}::float8)::int as b,
           count(*)::int as n,
           (count(*) filter (where status <> 'ok'))::int as errors,
           (count(*) filter (where status is null))::int as unfinished,
           percentile_cont(0.5) within group (order by duration_ms) as p50,
           percentile_cont(0.9) within group (order by duration_ms) as p90,
           percentile_cont(0.99) within group (order by duration_ms) as p99
    from execute_records
    where started_at >= ${from} and started_at < ${to}
    group by 1`;
  const statuses = sql<StatusRow[]>`
    select floor((extract(epoch from started_at) * 1000 - ${start}::float8) / ${bucketMs}::float8)::int as b,
           status, count(*)::int as n
    from execute_records
    where started_at >= ${from} and started_at < ${to} and status <> 'ok'
    group by 1, 2`;
  const overall = sql<Pick<ExecRow, 'p50' | 'p90' | 'p99'>[]>`
    select percentile_cont(0.5) within group (order by duration_ms) as p50,
           percentile_cont(0.9) within group (order by duration_ms) as p90,
           percentile_cont(0.99) within group (order by duration_ms) as p99
    from execute_records
    where started_at >= ${from} and started_at < ${to}`;
  // Per instance the mean of its samples in the bucket, then summed over instances: two instances
  // with 3 kernels each make 6, however often each of them samples.
  const samples = sql<SampleRow[]>`
    select b, count(*)::int as instances,
           sum(kernels)::float8 as kernels, sum(busy)::float8 as busy, sum(pooled)::float8 as pooled,
           sum(starting)::float8 as starting, sum(queued)::float8 as queued,
           sum(websockets)::float8 as websockets, sum(longpolls)::float8 as longpolls,
           max(loop_lag_ms)::float8 as loop_lag_ms
    from (
      select floor((extract(epoch from at) * 1000 - ${start}::float8) / ${bucketMs}::float8)::int as b,
             instance, avg(kernels) as kernels, avg(busy) as busy, avg(pooled) as pooled,
             avg(starting) as starting, avg(queued) as queued, avg(websockets) as websockets,
             avg(longpolls) as longpolls, max(loop_lag_ms) as loop_lag_ms
      from stats_samples
      where at >= ${from} and at < ${to}
      group by 1, 2
    ) per_instance
    group by b`;
  const latest = sql<CurrentRow[]>`
    select distinct on (instance) instance, at, interval_ms, kernels, busy, pooled, websockets, longpolls
    from stats_samples
    where at >= ${new Date(now.getTime() - 3_600_000)} and at <= ${new Date(now.getTime() + 60_000)}
    order by instance, at desc`;
  const [e, s, o, g, c] = await Promise.all([execs, statuses, overall, samples, latest]);

  const zeros = () => new Array<number>(buckets).fill(0);
  const nulls = () => new Array<number | null>(buckets).fill(null);
  const inRange = (b: number) => b >= 0 && b < buckets;
  const reply: StatsReply = {
    from: from.toISOString(),
    to: to.toISOString(),
    bucket: bucketMs / 1000,
    time: Array.from({ length: buckets }, (_, i) => start + i * bucketMs),
    executions: zeros(),
    errors: zeros(),
    errors_by_status: {},
    latency_ms: { p50: nulls(), p90: nulls(), p99: nulls() },
    gauges: {
      kernels: nulls(),
      busy: nulls(),
      pooled: nulls(),
      starting: nulls(),
      queued: nulls(),
      websockets: nulls(),
      longpolls: nulls(),
      loop_lag_ms: nulls(),
      instances: zeros(),
    },
    totals: {
      executions: 0,
      errors: 0,
      unfinished: 0,
      errors_by_status: {},
      latency_ms: {
        p50: round(o[0]?.p50 ?? null, 3),
        p90: round(o[0]?.p90 ?? null, 3),
        p99: round(o[0]?.p99 ?? null, 3),
      },
    },
    current: { at: null, instances: [], kernels: 0, busy: 0, pooled: 0, websockets: 0, longpolls: 0 },
  };
  for (const r of e) {
    if (!inRange(r.b)) continue;
    reply.executions[r.b] = r.n;
    reply.errors[r.b] = r.errors;
    reply.latency_ms.p50[r.b] = round(r.p50, 3);
    reply.latency_ms.p90[r.b] = round(r.p90, 3);
    reply.latency_ms.p99[r.b] = round(r.p99, 3);
    reply.totals.executions += r.n;
    reply.totals.errors += r.errors;
    reply.totals.unfinished += r.unfinished;
  }
  for (const r of s) {
    if (!inRange(r.b)) continue;
    reply.errors_by_status[r.status] ??= zeros();
    (reply.errors_by_status[r.status] as number[])[r.b] = r.n;
    reply.totals.errors_by_status[r.status] = (reply.totals.errors_by_status[r.status] ?? 0) + r.n;
  }
  const gauges = reply.gauges;
  for (const r of g) {
    if (!inRange(r.b)) continue;
    for (const k of ['kernels', 'busy', 'pooled', 'starting', 'queued', 'websockets', 'longpolls'] as const)
      gauges[k][r.b] = round(r[k], 2);
    gauges.loop_lag_ms[r.b] = round(r.loop_lag_ms, 2);
    gauges.instances[r.b] = r.instances;
  }
  const current = c.filter((r) => now.getTime() - r.at.getTime() <= STALE_INTERVALS * r.interval_ms);
  for (const r of current) {
    const cur = reply.current;
    cur.instances.push(r.instance);
    cur.kernels += r.kernels;
    cur.busy += r.busy;
    cur.pooled += r.pooled;
    cur.websockets += r.websockets;
    cur.longpolls += r.longpolls;
    if (!cur.at || r.at.toISOString() > cur.at) cur.at = r.at.toISOString();
  }
  return reply;
}
