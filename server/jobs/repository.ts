// Every SQL statement of the jobs service. A state change is one transaction: the guarded UPDATE
// of the job and its job_events row, taken under the owner's advisory lock so that, per owner,
// event seqs commit in increasing order (a reader resuming after seq N can never see N+2 before
// N+1 commits). Jobs in a batch are inserted with their `queued` events in the same transaction,
// so a 202 means the whole batch is durable.
import type { Sql } from '../store/db.js';
import { toDbJson, toDbText } from '../store/json.js';
import type { JobDetail, JobEvent, JobSummary, Pick, Result, State } from './schemas.js';

/** A transaction or the pool. */
type Q = <T extends readonly object[]>(s: TemplateStringsArray, ...v: unknown[]) => Promise<T>;

export interface NewJob {
  id: string;
  batchId: string;
  rootId: string;
  attempt: number;
  rerunOf: string | null;
  name: string | null;
  tags: string[];
  kernel: string;
  code: string;
  files: string[];
  timeoutMs: number;
  /** Root ids of the jobs this one needs (it starts `waiting` when there are any). */
  needs: string[];
  replicas: number;
  pick: Pick;
}

export interface JobRow {
  id: string;
  num: number;
  owner: string;
  batch_id: string;
  root_id: string;
  attempt: number;
  rerun_of: string | null;
  superseded_by: string | null;
  name: string | null;
  tags: string[];
  kernel: string;
  code: string;
  files: string[];
  timeout_ms: number;
  state: State;
  reason: string | null;
  cancel_requested: boolean;
  /** The instance that claimed it (launched or later). */
  instance?: string | null;
  result: Result | null;
  created_at: Date;
  launched_at: Date | null;
  started_at: Date | null;
  finished_at: Date | null;
  needs: string[];
  replicas: number;
  pick: Pick;
}

/** The newest attempt of a needed job, as its dependants see it. */
export interface NeedRow {
  id: string;
  root_id: string;
  name: string | null;
  state: State;
  result: Result | null;
}

interface EventRow {
  seq: number;
  job_id: string;
  batch_id: string;
  state: State;
  reason: string | null;
  at: Date;
}

export interface ListFilter {
  states?: string[];
  tag?: string;
  batch?: string;
  since?: Date;
  until?: Date;
  latest: boolean;
  beforeNum?: number;
  limit: number;
}

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toSummary(r: JobRow): JobSummary {
  return {
    id: r.id,
    batch_id: r.batch_id,
    root_id: r.root_id,
    attempt: r.attempt,
    rerun_of: r.rerun_of,
    superseded_by: r.superseded_by,
    name: r.name,
    tags: r.tags,
    kernel: r.kernel,
    timeout: r.timeout_ms / 1000,
    state: r.state,
    reason: r.reason,
    created_at: r.created_at.toISOString(),
    launched_at: iso(r.launched_at),
    started_at: iso(r.started_at),
    finished_at: iso(r.finished_at),
    needs: r.needs ?? [],
    replicas: r.replicas ?? 1,
    pick: r.pick ?? 'first',
  };
}

const toEvent = (r: EventRow): JobEvent => ({
  seq: r.seq,
  job_id: r.job_id,
  batch_id: r.batch_id,
  state: r.state,
  reason: r.reason,
  at: r.at.toISOString(),
});

/** The advisory lock that orders one owner's events (second key: the jobs service's namespace). */
const lockOwner = (tx: Q, owner: string) => tx`select pg_advisory_xact_lock(hashtextextended(${owner}, 6))`;

const SUMMARY =
  'id, num, owner, batch_id, root_id, attempt, rerun_of, superseded_by, name, tags, kernel, timeout_ms, state, reason, cancel_requested, created_at, launched_at, started_at, finished_at, needs, replicas, pick';

export function createRepository(sql: Sql) {
  const q = sql as unknown as Q;
  const begin = <T>(fn: (tx: Q) => Promise<T>): Promise<T> =>
    sql.begin((t) => fn(t as unknown as Q)) as Promise<T>;

  return {
    /**
     * Inserts jobs as `queued` with their events; for reruns, marks each old attempt superseded
     * (only if it is final and not yet superseded: otherwise the whole insert is refused).
     * Returns the rows and the seq just before the first event.
     */
    async insert(
      owner: string,
      jobs: NewJob[],
    ): Promise<{ rows: JobRow[]; cursor: number } | { conflict: string }> {
      const payload = toDbJson(
        jobs.map((j, ord) => ({
          ord,
          id: j.id,
          batch_id: j.batchId,
          root_id: j.rootId,
          attempt: j.attempt,
          rerun_of: j.rerunOf,
          name: j.name === null ? null : toDbText(j.name),
          tags: j.tags.map(toDbText),
          kernel: j.kernel,
          code: toDbText(j.code),
          files: j.files,
          timeout_ms: j.timeoutMs,
          needs: j.needs,
          replicas: j.replicas,
          pick: j.pick,
          state: j.needs.length > 0 ? 'waiting' : 'queued',
        })),
      );
      class Conflict extends Error {}
      try {
        return await begin(async (tx) => {
          await lockOwner(tx, owner);
          const rows = await tx<JobRow[]>`
            insert into jobs (id, owner, batch_id, root_id, attempt, rerun_of, name, tags, kernel, code,
                              files, timeout_ms, needs, replicas, pick, state)
            select r.id, ${owner}, r.batch_id, r.root_id, r.attempt, r.rerun_of, r.name, r.tags, r.kernel,
                   r.code, r.files, r.timeout_ms, r.needs, r.replicas, r.pick, r.state
            from jsonb_to_recordset(${payload}::text::jsonb)
              as r(ord int, id uuid, batch_id uuid, root_id uuid, attempt int, rerun_of uuid, name text,
                   tags text[], kernel text, code text, files jsonb, timeout_ms int, needs uuid[],
                   replicas int, pick text, state text)
            order by r.ord
            returning *`;
          const reruns = jobs.filter((j) => j.rerunOf);
          if (reruns.length > 0) {
            const pairs = toDbJson(reruns.map((j) => ({ old: j.rerunOf, new: j.id })));
            const marked = await tx<{ id: string }[]>`
              update jobs o set superseded_by = p.new, updated_at = now()
              from jsonb_to_recordset(${pairs}::text::jsonb) as p(old uuid, new uuid)
              where o.id = p.old and o.owner = ${owner} and o.superseded_by is null
                and o.state in ('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted', 'skipped')
              returning o.id`;
            if (marked.length !== reruns.length) {
              const ok = new Set(marked.map((m) => m.id));
              throw new Conflict(reruns.find((j) => !ok.has(j.rerunOf as string))?.rerunOf ?? '');
            }
          }
          const ev = await tx<{ seq: number }[]>`
            insert into job_events (job_id, owner, batch_id, state)
            select id, ${owner}, batch_id, state
            from jsonb_to_recordset(${toDbJson(
              jobs.map((j, ord) => ({
                ord,
                id: j.id,
                batch_id: j.batchId,
                state: j.needs.length > 0 ? 'waiting' : 'queued',
              })),
            )}::text::jsonb)
              as r(ord int, id uuid, batch_id uuid, state text)
            order by r.ord
            returning seq`;
          await tx`select pg_notify('runcell_jobs', ${toDbJson({ owner })})`;
          const first = Math.min(...ev.map((e) => e.seq));
          return { rows: [...rows].sort((a, b) => a.num - b.num), cursor: first - 1 };
        });
      } catch (e) {
        if (e instanceof Conflict) return { conflict: e.message };
        throw e;
      }
    },

    /**
     * Moves a job from one of `from` to `to`, recording the event. Null when the job was not in
     * one of `from` (cancelled meanwhile, claimed by another instance, already final).
     */
    async transition(
      id: string,
      owner: string,
      from: readonly State[],
      to: State,
      extra: { reason?: string | null; result?: Result; instance?: string } = {},
    ): Promise<JobEvent | null> {
      const result = extra.result === undefined ? null : toDbJson(extra.result);
      const reason = extra.reason == null ? null : toDbText(extra.reason);
      const [ev] = await q<EventRow[]>`
        select o_seq as seq, o_job_id as job_id, o_batch_id as batch_id, o_state as state,
               o_reason as reason, o_at as at
        from runcell_job_transition(${id}, ${owner}, ${from as State[]}::text[], ${to}, ${reason},
                                    ${result}::text::jsonb, ${extra.instance ?? null})`;
      return ev ? toEvent(ev) : null;
    },

    async requestCancel(id: string, owner: string): Promise<JobRow | null> {
      const [r] = await q<JobRow[]>`
        update jobs set cancel_requested = true, updated_at = now()
        where id = ${id} and owner = ${owner} returning ${sql.unsafe(SUMMARY)}`;
      return r ?? null;
    },

    async get(owner: string, id: string): Promise<JobRow | null> {
      const [r] = await q<JobRow[]>`select * from jobs where id = ${id} and owner = ${owner}`;
      return r ?? null;
    },

    /** For the scheduler: what it needs to run a job, whoever owns it. */
    async load(id: string): Promise<JobRow | null> {
      const [r] = await q<JobRow[]>`select * from jobs where id = ${id}`;
      return r ?? null;
    },

    async history(id: string): Promise<JobDetail['history']> {
      const rows = await q<EventRow[]>`
        select seq, job_id, batch_id, state, reason, at from job_events where job_id = ${id} order by seq`;
      return rows.map((r) => ({ seq: r.seq, state: r.state, reason: r.reason, at: r.at.toISOString() }));
    },

    async list(owner: string, f: ListFilter): Promise<JobRow[]> {
      return q<JobRow[]>`
        select ${sql.unsafe(SUMMARY)} from jobs
        where owner = ${owner}
          ${f.states?.length ? sql`and state in ${sql(f.states)}` : sql``}
          ${f.tag ? sql`and tags @> ${[f.tag]}::text[]` : sql``}
          ${f.batch ? sql`and batch_id = ${f.batch}` : sql``}
          ${f.since ? sql`and created_at >= ${f.since}` : sql``}
          ${f.until ? sql`and created_at < ${f.until}` : sql``}
          ${f.latest ? sql`and superseded_by is null` : sql``}
          ${f.beforeNum !== undefined ? sql`and num < ${f.beforeNum}` : sql``}
        order by num desc
        limit ${f.limit}`;
    },

    /** The latest attempts in given final states (for "rerun every aborted job"). */
    async rerunnable(owner: string, states: readonly string[], batch?: string): Promise<JobRow[]> {
      return q<JobRow[]>`
        select * from jobs
        where owner = ${owner} and superseded_by is null and state in ${sql(states as string[])}
          ${batch ? sql`and batch_id = ${batch}` : sql``}
        order by num`;
    },

    async events(
      owner: string,
      after: number,
      limit: number,
      filter: { batch?: string; job?: string } = {},
    ): Promise<JobEvent[]> {
      const rows = await q<EventRow[]>`
        select seq, job_id, batch_id, state, reason, at from job_events
        where owner = ${owner} and seq > ${after}
          ${filter.batch ? sql`and batch_id = ${filter.batch}` : sql``}
          ${filter.job ? sql`and job_id = ${filter.job}` : sql``}
        order by seq limit ${limit}`;
      return rows.map(toEvent);
    },

    /** The owner's newest seq (0 when none). */
    async head(owner: string): Promise<number> {
      const [r] = await q<{ seq: number | null }[]>`
        select max(seq)::int8 as seq from job_events where owner = ${owner}`;
      return r?.seq ?? 0;
    },

    /** Jobs not yet final, by state, across every owner and instance (for /metrics). */
    async activeCounts(): Promise<Record<string, number>> {
      const rows = await q<{ state: string; n: number }[]>`
        select state, count(*)::int8 as n from jobs
        where state in ('waiting', 'queued', 'launched', 'running') group by state`;
      return Object.fromEntries(rows.map((r) => [r.state, Number(r.n)]));
    },

    async queuedCount(owner: string): Promise<number> {
      const [r] = await q<{ n: number }[]>`
        select count(*)::int8 as n from jobs where owner = ${owner} and state in ('queued', 'waiting')`;
      return r?.n ?? 0;
    },

    /** Waiting jobs that need (the root of) any of these jobs. */
    async waitingOn(owner: string, ids: string[]): Promise<JobRow[]> {
      return q<JobRow[]>`
        select ${sql.unsafe(SUMMARY)} from jobs
        where owner = ${owner} and state = 'waiting'
          and needs && (select coalesce(array_agg(root_id), '{}') from jobs
                        where owner = ${owner} and id = any(${ids}::uuid[]))
        order by num`;
    },

    /** Waiting jobs by id, or every waiting job (at start-up). */
    async waiting(ids?: string[]): Promise<JobRow[]> {
      return q<JobRow[]>`
        select ${sql.unsafe(SUMMARY)} from jobs
        where state = 'waiting' ${ids ? sql`and id = any(${ids}::uuid[])` : sql``}
        order by num limit 10000`;
    },

    /** The newest attempts of these roots (what `needs` refers to). */
    async newest(owner: string, roots: string[]): Promise<NeedRow[]> {
      if (roots.length === 0) return [];
      return q<NeedRow[]>`
        select id, root_id, name, state, result from jobs
        where owner = ${owner} and root_id = any(${roots}::uuid[]) and superseded_by is null`;
    },

    /** Newest attempts that need any of these roots (downstream, one level). */
    async dependants(owner: string, roots: string[]): Promise<JobRow[]> {
      if (roots.length === 0) return [];
      return q<JobRow[]>`
        select * from jobs
        where owner = ${owner} and superseded_by is null and needs && ${roots}::uuid[]
        order by num`;
    },

    /** Queued jobs, oldest first, for the scheduler to pick up. */
    async queued(limit: number): Promise<{ id: string; owner: string }[]> {
      return q<{ id: string; owner: string }[]>`
        select id, owner from jobs where state = 'queued' order by num limit ${limit}`;
    },

    /** Jobs a previous run of this instance left launched or running. */
    async orphaned(instance: string): Promise<{ id: string; owner: string; state: State }[]> {
      return q<{ id: string; owner: string; state: State }[]>`
        select id, owner, state from jobs
        where state in ('launched', 'running') and instance = ${instance} order by num`;
    },

    /**
     * Extends the lease of the jobs `instance` still runs (launched or running, claimed by it) to
     * `leaseMs` from now, on the database's clock; answers the ids it renewed (a job missing from
     * the answer was recovered by another instance, or ended).
     */
    async renewLeases(instance: string, ids: string[], leaseMs: number): Promise<string[]> {
      if (ids.length === 0) return [];
      const rows = await q<{ id: string }[]>`
        update jobs set lease_until = now() + ${leaseMs} * interval '1 millisecond'
        where id = any(${ids}::uuid[]) and instance = ${instance} and state in ('launched', 'running')
        returning id`;
      return rows.map((r) => r.id);
    },

    /**
     * Launched or running jobs whose lease lapsed (no lease yet: `leaseMs` after their last
     * transition), except those in `held` (this instance runs them and renews as soon as it can).
     */
    async lapsed(
      held: string[],
      leaseMs: number,
      limit = 1000,
    ): Promise<
      { id: string; owner: string; state: State; instance: string | null; lease_until: Date | null }[]
    > {
      return q`
        select id, owner, state, instance, lease_until from jobs
        where state in ('launched', 'running')
          and coalesce(lease_until, updated_at + ${leaseMs} * interval '1 millisecond') < now()
          and not (id = any(${held}::uuid[]))
        order by num limit ${limit}`;
    },

    async cancelRequested(id: string): Promise<boolean> {
      const [r] = await q<{ c: boolean }[]>`select cancel_requested as c from jobs where id = ${id}`;
      return r?.c ?? false;
    },
  };
}

export type Repository = ReturnType<typeof createRepository>;
