// The jobs service: batches of code run in parallel on fresh pooled kernels, every state change
// stored (with its time) and streamed, outputs kept, history queryable, reruns linked to what
// they rerun. HTTP lives in server/routes/jobs.ts; this module knows owners, not requests.
//
//   const jobs = await createJobs({ sql: db.sql, events: db.events, manager, log, limits });
//   app.register(jobRoutes, { jobs });   ...   await jobs.close();
import { randomUUID } from 'node:crypto';
import { hostname } from 'node:os';
import type { Logger } from 'pino';
import type { KernelManager } from '../../kernel-manager/index.js';
import {
  JobBadCursor,
  JobBadFile,
  JobBadPipeline,
  JobBatchTooLarge,
  JobCodeTooLarge,
  JobInputTooLarge,
  JobNotCancellable,
  JobNotFound,
  JobNotRerunnable,
  JobQueueFull,
  JobsClosed,
  JobUnknownKernel,
} from '../errors.js';
import { createFiles, type Files } from '../store/blobs.js';
import { defaultChunkBytes, type Sql } from '../store/db.js';
import type { Events } from '../store/events.js';
import { safeFileName } from '../store/filename.js';
import { createUploads, type Uploads } from '../store/uploads.js';
import { JobEvents, type ReadOptions } from './events.js';
import { inputLimitMessage } from './inputs.js';
import { Leases } from './lease.js';
import { defaultJobLimits, type JobLimits } from './limits.js';
import { downstream, resolveNeeds, settle } from './pipeline.js';
import { recover } from './recovery.js';
import { createRepository, type JobRow, type NewJob, toSummary } from './repository.js';
import { Scheduler, uploadName } from './scheduler.js';
import {
  FINAL_STATES,
  isFinal,
  type JobDetail,
  type JobEvent,
  type JobSpec,
  type JobSummary,
  type ListQuery,
  type RerunBody,
  STATES,
  type SubmitBody,
  type SubmitReply,
} from './schemas.js';

export { defaultJobLimits, type JobLimits } from './limits.js';
export type * from './schemas.js';

export interface JobsOptions {
  sql: Sql;
  events: Events;
  manager: KernelManager;
  log: Logger;
  limits?: Partial<JobLimits>;
  /**
   * This instance's stable name (RUNCELL_INSTANCE_ID). At start-up, jobs this name left launched or
   * running are marked aborted, so every instance sharing a database needs its own.
   */
  instance?: string;
  /** The store's files and uploads; built on `sql` when left out. */
  files?: Files;
  uploads?: Uploads;
}

export interface RerunReply {
  cursor: number;
  jobs: JobSummary[];
}

export interface Jobs {
  readonly limits: JobLimits;
  submit(owner: string, body: SubmitBody): Promise<SubmitReply>;
  list(owner: string, query: ListQuery): Promise<{ jobs: JobSummary[]; next: string | null }>;
  get(owner: string, id: string): Promise<JobDetail>;
  /** Cancels a queued or running job; answers with the job as it then is. */
  cancel(owner: string, id: string): Promise<JobDetail>;
  /** A new attempt of a finished job (same batch, attempt + 1, linked both ways). */
  rerun(owner: string, id: string): Promise<RerunReply>;
  /** New attempts of every newest attempt in `states` (default: aborted), optionally of one batch. */
  rerunMany(owner: string, body: RerunBody): Promise<RerunReply>;
  events(owner: string, after: number, o?: ReadOptions): Promise<{ events: JobEvent[]; cursor: number }>;
  follow(
    owner: string,
    after: number,
    o?: ReadOptions & { idleMs?: number },
  ): AsyncGenerator<JobEvent | null>;
  /** The owner's newest event seq. */
  head(owner: string): Promise<number>;
  /** A file a job wrote (null when it is not this owner's job's file). */
  file(
    owner: string,
    id: string,
    fileId: string,
  ): Promise<{ name: string; mediaType: string; size: number; data: AsyncGenerator<Buffer> } | null>;
  /** Resolves when no job runs on this instance. */
  idle(): Promise<void>;
  /**
   * Graceful stop: running jobs get `graceMs` to finish, then end aborted; queued ones stay queued.
   * Their writes retry an unreachable database until `deadline` (epoch ms); past it, what is left
   * unwritten is recovered once its lease lapses (lease.ts).
   */
  close(options?: { graceMs?: number; deadline?: number }): Promise<void>;
  /** Stops as a crash would (tests, emergencies): nothing more is written. */
  abandon(): Promise<void>;
  /** Jobs not yet final, by state (every instance's: they share the database). */
  activeCounts(): Promise<Record<string, number>>;
  /** Where this instance reports what its jobs did (/metrics); one observer at a time. */
  observe(o: JobObserver): void;
}

/** What the scheduler tells /metrics. */
export interface JobObserver {
  /** A job this instance ran reached a final state; seconds running (null if it never ran) and queued. */
  onFinished(state: string, runningS: number | null, queuedS: number | null): void;
  /** Input files were placed for one run of a job. */
  onPlaced(bytes: number, seconds: number): void;
}

export async function createJobs(o: JobsOptions): Promise<Jobs> {
  const limits: JobLimits = { ...defaultJobLimits(), ...o.limits };
  const instance = o.instance ?? hostname();
  const log = o.log.child({ component: 'jobs' });
  const repo = createRepository(o.sql);
  const files = o.files ?? createFiles(o.sql, { chunkBytes: defaultChunkBytes });
  const uploads =
    o.uploads ?? createUploads(o.sql, { chunkBytes: defaultChunkBytes, files, events: o.events });
  const events = new JobEvents(repo, o.events);
  await events.start();
  // Settling is chained: one at a time per service, so cascades of skips stay in order.
  let settling: Promise<void> = Promise.resolve();
  const settleLater = (fn: () => Promise<void>): Promise<void> => {
    settling = settling.then(fn).catch((err: unknown) => log.warn({ err }, 'settling waiting jobs failed'));
    return settling;
  };
  const pipeline = {
    repo,
    events,
    enqueue: (jobs: { id: string; owner: string }[]) => scheduler.enqueue(jobs),
  };
  const ended = (owner: string, ids: string[]) =>
    settleLater(async () => settle(pipeline, await repo.waitingOn(owner, ids)));
  let observer: JobObserver | undefined;
  const leases = new Leases({
    repo,
    events,
    instance,
    leaseMs: limits.leaseMs,
    log,
    onLost: (ids) => scheduler.lose(ids),
    onRecovered: (owner, id) => void ended(owner, [id]),
  });
  const scheduler: Scheduler = new Scheduler({
    onEnded: (owner, id) => void ended(owner, [id]),
    leases,
    onPlaced: (bytes, seconds) => observer?.onPlaced(bytes, seconds),
    onFinished: (state, runningS, queuedS) => observer?.onFinished(state, runningS, queuedS),
    repo,
    events,
    store: o.events,
    manager: o.manager,
    files,
    uploads,
    log,
    instance,
    limits,
  });
  await recover(repo, events, instance, log);
  // Jobs left waiting while their needs ended (a crash between the two, or the recovery above).
  await settle(pipeline, await repo.waiting());
  await scheduler.start();
  leases.start();
  log.info(
    { instance, concurrency: limits.concurrency, perOwner: limits.perOwner, leaseMs: limits.leaseMs },
    'jobs service started',
  );
  let closed = false;

  const specs = () => new Set(o.manager.specs().map((s) => s.name));

  async function checkFiles(ids: string[]): Promise<void> {
    const names = new Set<string>();
    let total = 0;
    for (const id of ids) {
      const info = await uploads.get(id).catch(() => null);
      if (!info) throw new JobBadFile(`no upload ${JSON.stringify(id.slice(0, 64))}`);
      if (info.offset !== info.length) throw new JobBadFile(`upload ${id} is not complete`);
      let name: string;
      try {
        name = safeFileName(uploadName(info.metadata, id));
      } catch {
        throw new JobBadFile(`upload ${id} has a file name that cannot be used`);
      }
      if (names.has(name)) throw new JobBadFile(`two input files are named ${JSON.stringify(name)}`);
      names.add(name);
      total += info.length;
    }
    if (total > limits.maxInputBytes)
      throw new JobInputTooLarge(inputLimitMessage(total, limits.maxInputBytes));
  }

  async function insert(owner: string, jobs: NewJob[]): Promise<{ rows: JobRow[]; cursor: number }> {
    if (closed) throw new JobsClosed('the jobs service is shutting down');
    const queued = await repo.queuedCount(owner);
    if (queued + jobs.length > limits.maxQueuedPerOwner) {
      throw new JobQueueFull(`at most ${limits.maxQueuedPerOwner} queued jobs per owner (${queued} now)`);
    }
    const r = await repo.insert(owner, jobs);
    if ('conflict' in r) throw new JobNotRerunnable(`job ${r.conflict} is not finished or was already rerun`);
    // Committed: only now may the client hear 202, and only now may the scheduler claim them.
    events.published(owner);
    scheduler.enqueue(r.rows.filter((row) => row.state === 'queued').map((row) => ({ id: row.id, owner })));
    // Waiting jobs whose needs have already ended (earlier jobs, or the old attempts of a rerun).
    const waiting = r.rows.filter((row) => row.state === 'waiting').map((row) => row.id);
    if (waiting.length > 0) await settleLater(async () => settle(pipeline, await repo.waiting(waiting)));
    return r;
  }

  function again(old: JobRow): NewJob {
    return {
      id: randomUUID(),
      batchId: old.batch_id,
      rootId: old.root_id,
      attempt: old.attempt + 1,
      rerunOf: old.id,
      name: old.name,
      tags: old.tags,
      kernel: old.kernel,
      code: old.code,
      files: old.files,
      timeoutMs: old.timeout_ms,
      needs: old.needs,
      replicas: old.replicas,
      pick: old.pick,
    };
  }

  /** New attempts of these final jobs and of everything downstream of them that has not succeeded. */
  async function rerunWithDownstream(owner: string, rows: JobRow[]): Promise<RerunReply> {
    const below = await downstream(repo, owner, rows);
    const roots = new Set(rows.map((r) => r.root_id));
    const all = [...rows];
    for (const d of below) {
      if (roots.has(d.root_id) || d.state === 'succeeded' || !isFinal(d.state) || d.superseded_by) continue;
      roots.add(d.root_id);
      all.push(d);
    }
    const jobs: JobSummary[] = [];
    let cursor = Number.POSITIVE_INFINITY;
    for (let i = 0; i < all.length; i += limits.maxBatch) {
      const r = await insert(owner, all.slice(i, i + limits.maxBatch).map(again));
      cursor = Math.min(cursor, r.cursor);
      jobs.push(...r.rows.map(toSummary));
    }
    return { cursor, jobs };
  }

  async function detail(row: JobRow): Promise<JobDetail> {
    return {
      ...toSummary(row),
      code: row.code,
      files: row.files,
      result: row.result,
      history: await repo.history(row.id),
    };
  }

  async function mine(owner: string, id: string): Promise<JobRow> {
    const row = await repo.get(owner, id);
    // Another owner's job is reported exactly like a missing one.
    if (!row) throw new JobNotFound(`no job ${id}`);
    return row;
  }

  return {
    limits,

    async submit(owner, body) {
      const list: JobSpec[] = 'jobs' in body ? body.jobs : [body];
      if (list.length > limits.maxBatch)
        throw new JobBatchTooLarge(`at most ${limits.maxBatch} jobs per request`);
      const known = specs();
      const defaultKernel = o.manager.defaultSpec;
      const into = 'jobs' in body ? body.batch : undefined;
      if (into && (await repo.list(owner, { batch: into, latest: false, limit: 1 })).length === 0)
        throw new JobNotFound(`no batch ${into}`);
      const batchId = into ?? randomUUID();
      const jobs: NewJob[] = [];
      const ids = list.map(() => randomUUID());
      const needs = await resolveNeeds(list, ids, async (id) => (await repo.get(owner, id))?.root_id ?? null);
      for (const [i, s] of list.entries()) {
        const kernel = s.kernel ?? defaultKernel;
        if (!known.has(kernel)) throw new JobUnknownKernel(`no kernelspec named ${JSON.stringify(kernel)}`);
        if (Buffer.byteLength(s.code) > limits.maxCodeBytes)
          throw new JobCodeTooLarge(`code is larger than ${limits.maxCodeBytes} bytes`);
        if (s.files?.length) await checkFiles(s.files);
        if (s.pick === 'majority' && (s.replicas ?? 1) < 2)
          throw new JobBadPipeline(`pick "majority" needs replicas of 2 or more`);
        const id = ids[i] as string;
        jobs.push({
          id,
          batchId,
          rootId: id,
          attempt: 1,
          rerunOf: null,
          name: s.name ?? null,
          tags: [...new Set(s.tags ?? [])],
          kernel,
          code: s.code,
          files: s.files ?? [],
          timeoutMs: Math.min(
            s.timeout === undefined ? limits.defaultTimeoutMs : Math.ceil(s.timeout * 1000),
            limits.maxTimeoutMs,
          ),
          needs: needs[i] as string[],
          replicas: s.replicas ?? 1,
          pick: s.pick ?? 'first',
        });
      }
      const r = await insert(owner, jobs);
      return { batch_id: batchId, cursor: r.cursor, jobs: r.rows.map(toSummary), per_owner: limits.perOwner };
    },

    async list(owner, q) {
      let beforeNum: number | undefined;
      if (q.cursor !== undefined) {
        beforeNum = Number(q.cursor);
        if (!Number.isSafeInteger(beforeNum) || beforeNum < 1) throw new JobBadCursor('bad cursor');
      }
      const states = q.state
        ?.split(',')
        .map((s) => s.trim())
        .filter(Boolean);
      const bad = states?.find((s) => !(STATES as readonly string[]).includes(s));
      if (bad) throw new JobBadCursor(`unknown state ${JSON.stringify(bad.slice(0, 40))}`);
      const limit = q.limit ?? 50;
      const rows = await repo.list(owner, {
        ...(states ? { states } : {}),
        ...(q.tag ? { tag: q.tag } : {}),
        ...(q.batch ? { batch: q.batch } : {}),
        ...(q.since ? { since: new Date(q.since) } : {}),
        ...(q.until ? { until: new Date(q.until) } : {}),
        ...(beforeNum !== undefined ? { beforeNum } : {}),
        latest: q.latest ?? true,
        limit,
      });
      const last = rows.at(-1);
      return { jobs: rows.map(toSummary), next: rows.length === limit && last ? String(last.num) : null };
    },

    async get(owner, id) {
      return detail(await mine(owner, id));
    },

    async cancel(owner, id) {
      const row = await mine(owner, id);
      if (isFinal(row.state)) throw new JobNotCancellable(`job ${id} already ended ${row.state}`);
      if (row.state === 'queued' || row.state === 'waiting') {
        const ev = await repo.transition(id, owner, ['queued', 'waiting'], 'cancelled', {
          reason: 'cancelled by a client',
        });
        if (ev) {
          events.published(owner);
          await ended(owner, [id]);
          return detail(await mine(owner, id));
        }
      }
      // Launched or running (here or on another instance).
      await repo.requestCancel(id, owner);
      const local = scheduler.abortLocal(id);
      if (local) await local;
      else await scheduler.abortRemote(id);
      return detail(await mine(owner, id));
    },

    async rerun(owner, id) {
      const row = await mine(owner, id);
      if (!isFinal(row.state)) throw new JobNotRerunnable(`job ${id} has not finished (${row.state})`);
      if (row.superseded_by)
        throw new JobNotRerunnable(`job ${id} was already rerun as ${row.superseded_by}`);
      return rerunWithDownstream(owner, [row]);
    },

    async rerunMany(owner, body) {
      const states = body.states ?? ['aborted'];
      if (states.some((s) => !(FINAL_STATES as readonly string[]).includes(s)))
        throw new JobNotRerunnable('only finished jobs can be rerun');
      const rows = await repo.rerunnable(owner, states, body.batch);
      if (rows.length === 0) return { cursor: await repo.head(owner), jobs: [] };
      return rerunWithDownstream(owner, rows);
    },

    events: (owner, after, ro = {}) =>
      events.read(owner, after, { ...ro, waitMs: Math.min(ro.waitMs ?? 0, limits.maxPollWaitMs) }),
    follow: (owner, after, ro = {}) => events.follow(owner, after, ro),
    head: (owner) => repo.head(owner),

    async file(owner, id, fileId) {
      const row = await repo.get(owner, id);
      const f = row?.result?.files.find((x) => x.id === fileId);
      // The store's retention may have expired the file since the job listed it.
      if (!f || !(await files.get(fileId))) return null;
      return { name: f.name, mediaType: f.media_type, size: f.size, data: files.read(fileId) };
    },

    idle: () => scheduler.idle(),
    activeCounts: () => repo.activeCounts(),
    observe(o) {
      observer = o;
    },

    async close({ graceMs = 0, deadline } = {}) {
      if (closed) return;
      closed = true;
      await scheduler.close(graceMs, deadline);
      leases.stop();
      await settling;
      await events.close();
    },

    async abandon() {
      if (closed) return;
      closed = true;
      leases.stop();
      await scheduler.abandon();
      await events.close();
    },
  };
}
