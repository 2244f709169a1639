// The stats API's wire shapes (GET /api/stats, docs/api.md "Stats"), once, for every side: Fastify
// validates and serializes with them, and the stats page reads the types derived from them.
import { type Static, Type } from 'typebox';

/** At most this many buckets in one answer: a chart wider than a screen has no use for more. */
export const MAX_BUCKETS = 1500;

export const StatsQuery = Type.Object(
  {
    /** Start of the range (RFC 3339); default: one hour before `to`. Rounded down to a bucket boundary. */
    from: Type.Optional(Type.String({ format: 'date-time' })),
    /** End of the range (RFC 3339, exclusive); default: now. */
    to: Type.Optional(Type.String({ format: 'date-time' })),
    /** Bucket width in seconds; default: a round width giving at most 100 buckets. */
    bucket: Type.Optional(Type.Integer({ minimum: 1, maximum: 7 * 86_400 })),
    /** The API token, when not sent as a header (Authorization: token T is preferred). */
    token: Type.Optional(Type.String()),
  },
  { additionalProperties: false },
);
export type StatsQuery = Static<typeof StatsQuery>;

const Counts = Type.Array(Type.Integer());
/** One value per bucket; null where nothing was measured (no finished execution, no sample). */
const Values = Type.Array(Type.Union([Type.Number(), Type.Null()]));

/** Gauges sampled by each instance: per bucket, the mean of each instance's samples, summed. */
const Gauges = Type.Object({
  /** Kernels handed out to clients (busy or not). */
  kernels: Values,
  /** Handed-out kernels that were executing. */
  busy: Values,
  /** Warm kernels waiting in the pool. */
  pooled: Values,
  /** Kernels starting (pool refills and cold starts). */
  starting: Values,
  /** Requests waiting for a kernel. */
  queued: Values,
  websockets: Values,
  longpolls: Values,
  /** The worst instance's event-loop delay (99th percentile over its sample interval), ms. */
  loop_lag_ms: Values,
  /** How many instances sampled in the bucket. */
  instances: Counts,
});

const Latency = Type.Object({ p50: Values, p90: Values, p99: Values });

export const StatsReply = Type.Object({
  /** The range answered: `from` rounded down to a bucket boundary; `to` as asked (exclusive). */
  from: Type.String(),
  to: Type.String(),
  /** Bucket width, seconds. */
  bucket: Type.Integer(),
  /** Start of each bucket, Unix milliseconds; every other array has one entry per bucket. */
  time: Type.Array(Type.Number()),
  /** Execute requests started in the bucket (all transports). */
  executions: Counts,
  /** Of those, finished with a status other than "ok". */
  errors: Counts,
  /** Errors by status ("error", "timeout", "aborted", "dead", "lost", "restarted", …). */
  errors_by_status: Type.Record(Type.String(), Counts),
  /** Duration (request sent to reply and idle) of the executions that finished, ms. */
  latency_ms: Latency,
  gauges: Gauges,
  /** Over the whole range. */
  totals: Type.Object({
    executions: Type.Integer(),
    errors: Type.Integer(),
    /** Started but not finished (still running, or their instance stopped without finishing them). */
    unfinished: Type.Integer(),
    errors_by_status: Type.Record(Type.String(), Type.Integer()),
    latency_ms: Type.Object({
      p50: Type.Union([Type.Number(), Type.Null()]),
      p90: Type.Union([Type.Number(), Type.Null()]),
      p99: Type.Union([Type.Number(), Type.Null()]),
    }),
  }),
  /** The latest sample of every instance still sampling (seen within about two intervals), summed. */
  current: Type.Object({
    at: Type.Union([Type.String(), Type.Null()]),
    instances: Type.Array(Type.String()),
    kernels: Type.Integer(),
    busy: Type.Integer(),
    pooled: Type.Integer(),
    websockets: Type.Integer(),
    longpolls: Type.Integer(),
  }),
});
export type StatsReply = Static<typeof StatsReply>;
