// The jobs API's wire shapes, once, for every side: the server validates requests and serializes
// responses with these TypeBox schemas; the SDK, the CLI and the jobs page use the types derived from
// them (the page as types only, so no schema code reaches the browser).
import { type Static, type TLiteral, Type } from 'typebox';
import { ErrorInfo } from './execute.js';
import { FINAL_STATES, STATES } from './job-states.js';

export * from './job-states.js';

/** A union of literals from a list, keeping each literal's type (a plain map would widen to never). */
const literals = <const T extends readonly string[]>(xs: T) =>
  xs.map((x) => Type.Literal(x)) as unknown as { -readonly [K in keyof T]: TLiteral<T[K]> };

export const State = Type.Union(literals(STATES));
export type State = Static<typeof State>;

/** Job and batch ids. */
export const Uuid = Type.String({ pattern: '^[0-9a-fA-F-]{36}$' });

export const MAX_REPLICAS = 5;
export const MAX_NEEDS = 64;
export const Pick = Type.Union([Type.Literal('first'), Type.Literal('majority')]);
export type Pick = Static<typeof Pick>;

export const JobSpec = Type.Object(
  {
    code: Type.String(),
    kernel: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
    /** Upload ids (tus): placed in the kernel's working directory under their file names. */
    files: Type.Optional(Type.Array(Type.String({ maxLength: 64 }), { maxItems: 64 })),
    /** Seconds. */
    timeout: Type.Optional(Type.Number({ exclusiveMinimum: 0, maximum: 86_400 })),
    name: Type.Optional(Type.String({ maxLength: 200 })),
    tags: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 64 }), { maxItems: 32 })),
    /**
     * Jobs this one waits for: names of jobs in the same submission, or ids of this owner's earlier
     * jobs. It runs once every one of them has succeeded, with the files they wrote in its work dir.
     */
    needs: Type.Optional(
      Type.Array(Type.String({ minLength: 1, maxLength: 200 }), { maxItems: MAX_NEEDS, uniqueItems: true }),
    ),
    /** The same code on this many separate kernels (1-5); every replica's result is kept. */
    replicas: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_REPLICAS })),
    /** Which replica's result is the job's: the first to succeed (default), or the majority's. */
    pick: Type.Optional(Pick),
  },
  { additionalProperties: false },
);
export type JobSpec = Static<typeof JobSpec>;

export const SubmitBody = Type.Union([
  Type.Object(
    {
      jobs: Type.Array(JobSpec, { minItems: 1 }),
      /** Add these jobs to an earlier batch of yours (a client submitting one batch in waves). */
      batch: Type.Optional(Uuid),
    },
    { additionalProperties: false },
  ),
  JobSpec,
]);
export type SubmitBody = Static<typeof SubmitBody>;

export const Output = Type.Union([
  Type.Object({ output_type: Type.Literal('stream'), name: Type.String(), text: Type.String() }),
  Type.Object({
    output_type: Type.Union([Type.Literal('display_data'), Type.Literal('execute_result')]),
    data: Type.Record(Type.String(), Type.Unknown()),
    metadata: Type.Record(Type.String(), Type.Unknown()),
  }),
  Type.Object({
    output_type: Type.Literal('error'),
    ename: Type.String(),
    evalue: Type.String(),
    traceback: Type.Array(Type.String()),
  }),
]);
export type Output = Static<typeof Output>;

export const OutputFile = Type.Object({
  id: Type.String(),
  name: Type.String(),
  size: Type.Number(),
  sha256: Type.String(),
  media_type: Type.String(),
});
export type OutputFile = Static<typeof OutputFile>;

/** One replica's run (jobs with `replicas` > 1). */
export const ReplicaResult = Type.Object({
  index: Type.Number(),
  state: Type.String(),
  reason: Type.Union([Type.String(), Type.Null()]),
  stdout: Type.String(),
  stderr: Type.String(),
  outputs: Type.Array(Output),
  error: Type.Union([ErrorInfo, Type.Null()]),
  files: Type.Array(OutputFile),
  /** sha256 of the outputs and files: equal digests, equal results. */
  digest: Type.String(),
});
export type ReplicaResult = Static<typeof ReplicaResult>;

export const Result = Type.Object({
  status: Type.Union([Type.Literal('ok'), Type.Literal('error'), Type.Literal('aborted')]),
  stdout: Type.String(),
  stderr: Type.String(),
  outputs: Type.Array(Output),
  error: Type.Union([ErrorInfo, Type.Null()]),
  execution_count: Type.Union([Type.Number(), Type.Null()]),
  files: Type.Array(OutputFile),
  /** Output past the stored cap was dropped. */
  truncated: Type.Boolean(),
  /** Milliseconds: waiting for a kernel, placing files, running the code, collecting files. */
  timings: Type.Object({
    kernel_ms: Type.Number(),
    files_in_ms: Type.Number(),
    execute_ms: Type.Number(),
    files_out_ms: Type.Number(),
  }),
  /** Replicated jobs: every replica's run, whether the succeeded ones agree, whose result this is. */
  replicas: Type.Optional(Type.Array(ReplicaResult)),
  agree: Type.Optional(Type.Boolean()),
  picked: Type.Optional(Type.Union([Type.Number(), Type.Null()])),
});
export type Result = Static<typeof Result>;

export const Transition = Type.Object({
  seq: Type.Number(),
  state: State,
  reason: Type.Union([Type.String(), Type.Null()]),
  at: Type.String(),
});
export type Transition = Static<typeof Transition>;

export const JobSummary = Type.Object({
  id: Uuid,
  batch_id: Uuid,
  root_id: Uuid,
  attempt: Type.Number(),
  rerun_of: Type.Union([Uuid, Type.Null()]),
  superseded_by: Type.Union([Uuid, Type.Null()]),
  name: Type.Union([Type.String(), Type.Null()]),
  tags: Type.Array(Type.String()),
  kernel: Type.String(),
  timeout: Type.Number(),
  state: State,
  reason: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String(),
  launched_at: Type.Union([Type.String(), Type.Null()]),
  started_at: Type.Union([Type.String(), Type.Null()]),
  finished_at: Type.Union([Type.String(), Type.Null()]),
  /** Root ids (first attempts) of the jobs this one needs; their newest attempts must succeed. */
  needs: Type.Optional(Type.Array(Uuid)),
  replicas: Type.Optional(Type.Number()),
  pick: Type.Optional(Pick),
});
export type JobSummary = Static<typeof JobSummary>;

export const JobDetail = Type.Intersect([
  JobSummary,
  Type.Object({
    code: Type.String(),
    files: Type.Array(Type.String()),
    result: Type.Union([Result, Type.Null()]),
    history: Type.Array(Transition),
  }),
]);
export type JobDetail = Static<typeof JobDetail>;

export const SubmitReply = Type.Object({
  batch_id: Uuid,
  /** Seq just before this batch's first event: watch with after=cursor to see every transition. */
  cursor: Type.Number(),
  jobs: Type.Array(JobSummary),
  /** How many of this token's jobs the server runs at once (RUNCELL_JOBS_CONCURRENCY_PER_OWNER). */
  per_owner: Type.Optional(Type.Integer()),
});
export type SubmitReply = Static<typeof SubmitReply>;

export const ListQuery = Type.Object({
  /** Comma-separated states. */
  state: Type.Optional(Type.String({ maxLength: 200 })),
  tag: Type.Optional(Type.String({ maxLength: 64 })),
  batch: Type.Optional(Uuid),
  /** ISO 8601: created at or after. */
  since: Type.Optional(Type.String({ format: 'date-time' })),
  /** ISO 8601: created before. */
  until: Type.Optional(Type.String({ format: 'date-time' })),
  /** Only the newest attempt of each job (default true). */
  latest: Type.Optional(Type.Boolean()),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500 })),
  /** `next` from the previous page. */
  cursor: Type.Optional(Type.String({ maxLength: 40 })),
});
export type ListQuery = Static<typeof ListQuery>;

export const ListReply = Type.Object({
  jobs: Type.Array(JobSummary),
  next: Type.Union([Type.String(), Type.Null()]),
});
export type ListReply = Static<typeof ListReply>;

export const JobEvent = Type.Object({
  seq: Type.Number(),
  job_id: Uuid,
  batch_id: Uuid,
  state: State,
  reason: Type.Union([Type.String(), Type.Null()]),
  at: Type.String(),
});
export type JobEvent = Static<typeof JobEvent>;

export const EventsQuery = Type.Object({
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  batch: Type.Optional(Uuid),
  job: Type.Optional(Uuid),
  /** Seconds to hold the request open when nothing is new (0: answer at once). */
  timeout: Type.Optional(Type.Number({ minimum: 0, maximum: 120 })),
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 1000 })),
});
export type EventsQuery = Static<typeof EventsQuery>;

export const EventsReply = Type.Object({
  events: Type.Array(JobEvent),
  /** Pass as `after` next time. */
  cursor: Type.Number(),
});
export type EventsReply = Static<typeof EventsReply>;

export const RerunBody = Type.Object(
  {
    batch: Type.Optional(Uuid),
    /** Which final states to rerun (default: aborted). */
    states: Type.Optional(Type.Array(Type.Union(literals(FINAL_STATES)), { minItems: 1 })),
  },
  { additionalProperties: false },
);
export type RerunBody = Static<typeof RerunBody>;

/** What both rerun routes answer: the new attempts, and the event cursor just before them. */
export const RerunReply = Type.Object({ cursor: Type.Number(), jobs: Type.Array(JobSummary) });
export type RerunReply = Static<typeof RerunReply>;
