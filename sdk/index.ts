// The runcell SDK (TypeScript, Node 20+; only fetch): one-shot execution, batch jobs with live
// status (events and async iterators), history, cancel, rerun, uploads. docs/jobs.md has examples.
//
//   const rc = new RunCell({ url: 'http://127.0.0.1:8888', token });
//   const batch = await rc.submit(['print(1)', 'print(2)']);
//   for (const job of await batch.results()) console.log(job.state, job.result?.stdout);
import { EventEmitter } from 'node:events';
import type { EnvironmentInfo, EnvironmentSummary } from '../shared/environments.js';
import type { ExecuteBody, ExecuteResult } from '../shared/execute.js';
import { FINAL_STATES, type FinalState, isFinal } from '../shared/job-states.js';
import type {
  EventsReply,
  JobDetail,
  JobEvent,
  JobSpec,
  JobSummary,
  ListQuery,
  ListReply,
  RerunReply,
  State,
  SubmitReply,
} from '../shared/jobs.js';
import { backoff, type HttpOptions, RunCellError, request, sleep } from './http.js';
import { isPipelineFile, loadPipeline, PipelineError, parsePipeline } from './pipeline.js';
import { tusUpload, type Uploaded, type UploadOptions, uploadName } from './tus.js';

export type {
  EnvironmentInfo,
  EnvironmentSummary,
  ExecuteResult,
  FinalState,
  JobDetail,
  JobEvent,
  JobSpec,
  JobSummary,
  ListQuery,
  State,
};
export {
  isFinal,
  isPipelineFile,
  loadPipeline,
  PipelineError,
  parsePipeline,
  RunCellError,
  type Uploaded,
  type UploadOptions,
};

/** The states a job never leaves. */
export const FINAL: readonly FinalState[] = FINAL_STATES;

export interface RunCellOptions {
  /** Server base URL, e.g. http://127.0.0.1:8888. */
  url: string;
  /** API token (jobs belong to it). */
  token?: string;
  /** Seconds the server may hold each event long-poll (default 25). */
  pollSeconds?: number;
}

/** A job to submit: its code, or the full spec. */
export type JobInput = string | JobSpec;

export interface ExitReport {
  /** Jobs that reached a final state, with their outputs. */
  finished: JobDetail[];
  /**
   * Jobs still queued or running when the timeout passed: they go on running on the server; pass
   * their ids to `resume()` (or `runcell logs`/`rerun`) later.
   */
  unfinished: JobHandle[];
  /** execute(job) submissions the server refused (the errors), if any. */
  rejected?: unknown[];
}

/**
 * One submitted job. Events: 'state' (JobEvent) on every transition, 'done' (JobDetail) once final.
 * `result()` waits for the end (blocking style); `events()` iterates its transitions.
 */
export class JobHandle extends EventEmitter {
  state: State;
  detail: JobDetail | undefined;
  readonly #done: Promise<JobDetail>;
  #resolve!: (d: JobDetail) => void;
  #reject!: (e: unknown) => void;
  readonly #seen: JobEvent[] = [];
  #wake: (() => void) | undefined;

  constructor(
    readonly client: RunCell,
    readonly id: string,
    readonly batchId: string,
    state: State,
  ) {
    super();
    this.state = state;
    this.#done = new Promise((resolve, reject) => {
      this.#resolve = resolve;
      this.#reject = reject;
    });
    // Nobody has to listen for 'done': the promise is what `result()` returns.
    this.#done.catch(() => {});
  }

  /** Waits for a final state; resolves with the job, its outputs and its history. */
  result(): Promise<JobDetail> {
    return this.#done;
  }

  get finished(): boolean {
    return this.detail !== undefined;
  }

  /** The transitions received so far. */
  get seen(): readonly JobEvent[] {
    return this.#seen;
  }

  /** This job's transitions as they happen (from submission on), ending with the final one. */
  async *events(): AsyncGenerator<JobEvent> {
    let i = 0;
    for (;;) {
      while (i < this.#seen.length) yield this.#seen[i++] as JobEvent;
      if (this.finished) return;
      await new Promise<void>((r) => {
        this.#wake = r;
      });
    }
  }

  cancel(): Promise<JobDetail> {
    return this.client.cancel(this.id);
  }

  /** @internal */
  _event(e: JobEvent): void {
    this.#seen.push(e);
    this.state = e.state;
    this.emit('state', e);
    if (!isFinal(e.state)) this.#wake?.();
  }

  /** @internal The client gave up watching (the server refused it): `result()` rejects. */
  _fail(e: unknown): void {
    if (this.finished) return;
    this.#reject(e);
    this.#wake?.();
  }

  /** @internal */
  _done(d: JobDetail): void {
    this.detail = d;
    this.state = d.state;
    this.#resolve(d);
    this.emit('done', d);
    this.#wake?.();
  }
}

/** The jobs of one submission. */
export class Batch {
  constructor(
    readonly id: string,
    readonly jobs: JobHandle[],
    /** Event cursor just before this batch's first event. */
    readonly cursor: number,
    /** How many of this token's jobs the server runs at once (undefined from older servers). */
    readonly perOwner?: number,
  ) {}

  /** Waits for every job (blocking style); in submission order. */
  results(): Promise<JobDetail[]> {
    return Promise.all(this.jobs.map((j) => j.result()));
  }

  /** Every transition of every job of the batch (from submission on), in seq order, until all are final. */
  async *events(): AsyncGenerator<JobEvent> {
    let wake: (() => void) | undefined;
    const on = () => wake?.();
    const at = this.jobs.map(() => 0);
    for (const j of this.jobs) j.on('state', on).on('done', on);
    try {
      for (;;) {
        const fresh: JobEvent[] = [];
        this.jobs.forEach((j, i) => {
          fresh.push(...j.seen.slice(at[i]));
          at[i] = j.seen.length;
        });
        yield* fresh.sort((a, b) => a.seq - b.seq);
        if (this.jobs.every((j) => j.finished)) {
          if (this.jobs.every((j, i) => at[i] === j.seen.length)) return;
          continue;
        }
        await new Promise<void>((r) => {
          wake = r;
        });
      }
    } finally {
      for (const j of this.jobs) j.off('state', on).off('done', on);
    }
  }
}

/**
 * A runcell client. Events: 'state' (JobEvent, JobHandle) for every transition of a job this client
 * watches, 'done' (JobDetail) when one ends, 'connection' ('lost' | 'restored', error?) while the
 * event loop cannot reach the server (it retries with jittered backoff), and ('failed', error) when
 * the server refuses it for good (then the pending handles' result() rejects with that error).
 */
export class RunCell extends EventEmitter {
  readonly #http: HttpOptions;
  readonly #pollSeconds: number;
  readonly #handles = new Map<string, JobHandle>();
  /** execute(job) submissions still on their way. */
  readonly #pending = new Set<Promise<JobHandle>>();
  /** Every execute(job) and resume() so far, for exit() to report even those that failed to submit. */
  readonly #submitted: Promise<JobHandle>[] = [];
  /** Events of jobs with no handle yet (a submit's reply can arrive after its first events). */
  readonly #early = new Map<string, JobEvent[]>();
  /** The last seq the loop has seen. */
  #cursor: number | undefined;
  #loop: Promise<void> | undefined;
  #stop: AbortController | undefined;

  constructor(o: RunCellOptions) {
    super();
    this.#http = { url: o.url, token: o.token };
    this.#pollSeconds = o.pollSeconds ?? 25;
  }

  get url(): string {
    return this.#http.url;
  }

  #req<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
    return request<T>(this.#http, method, path, body, signal);
  }

  /**
   * Runs code once on a fresh kernel (POST /api/execute) and returns its outputs; with
   * `permalink: true` the server also stores them as a permalink and the result names it.
   */
  execute(code: string, o?: Omit<ExecuteBody, 'code'>): Promise<ExecuteResult>;
  /**
   * The seed's style: submits a job (no need to await it) and watches it; `exit()` waits for every
   * job submitted this way. Resolves with its handle.
   */
  execute(job: JobSpec): Promise<JobHandle>;
  execute(
    what: string | JobSpec,
    o: Omit<ExecuteBody, 'code'> = {},
  ): Promise<ExecuteResult> | Promise<JobHandle> {
    if (typeof what === 'string')
      return this.#req<ExecuteResult>('POST', '/api/execute', { code: what, ...o });
    const p = this.submit(what).then((b) => b.jobs[0] as JobHandle);
    this.#pending.add(p);
    // exit() reports a failed submission; nobody has to handle it here.
    p.catch(() => undefined).finally(() => this.#pending.delete(p));
    this.#submitted.push(p);
    return p;
  }

  /**
   * Watches jobs submitted earlier (by this process or another: ids from an `exit()` that timed out,
   * or from `runcell jobs`), so `exit()` waits for them too.
   */
  resume(ids: string[]): Promise<JobHandle[]> {
    const p = Promise.all(ids.map((id) => this.job(id)));
    for (const [i] of ids.entries()) {
      const one = p.then((hs) => hs[i] as JobHandle);
      one.catch(() => undefined);
      this.#submitted.push(one);
    }
    return p;
  }

  /** The server's environments (kernelspecs) with what each holds: language version and packages. */
  async environments(): Promise<EnvironmentInfo[]> {
    return (await this.#req<{ environments: EnvironmentInfo[] }>('GET', '/api/environments')).environments;
  }

  /** What one environment holds (null while the server is still probing it). */
  async environment(kernel: string): Promise<EnvironmentSummary | null> {
    const m = await this.#req<{ environment: EnvironmentSummary | null }>(
      'GET',
      `/api/kernelspecs/${encodeURIComponent(kernel)}`,
    );
    return m.environment;
  }

  /**
   * Submits one job or many (one batch); they run in parallel on the server. `batch`: add them to
   * an earlier batch of yours instead (one submission sent in waves stays one batch).
   */
  async submit(jobs: JobInput | JobInput[], o: { batch?: string } = {}): Promise<Batch> {
    const list = (Array.isArray(jobs) ? jobs : [jobs]).map((j) => (typeof j === 'string' ? { code: j } : j));
    const r = await this.#req<SubmitReply>('POST', '/api/jobs', {
      jobs: list,
      ...(o.batch ? { batch: o.batch } : {}),
    });
    return new Batch(r.batch_id, this.#track(r.jobs, r.cursor), r.cursor, r.per_owner);
  }

  /**
   * Submits a pipeline: a file (YAML or JSON, job files relative to it) or its jobs already parsed.
   * Jobs name what they need (`needs`); the server refuses unknown names and cycles (400).
   */
  submitPipeline(pipeline: string | JobSpec[]): Promise<Batch> {
    return this.submit(typeof pipeline === 'string' ? loadPipeline(pipeline) : pipeline);
  }

  /** A handle on an existing job (watching it from now on). */
  async job(id: string): Promise<JobHandle> {
    const d = await this.get(id);
    const existing = this.#handles.get(id);
    if (existing) return existing;
    const h = new JobHandle(this, id, d.batch_id, d.state);
    if (isFinal(d.state)) h._done(d);
    else this.#track([d], d.history.at(-1)?.seq ?? 0, [h]);
    return h;
  }

  get(id: string): Promise<JobDetail> {
    return this.#req('GET', `/api/jobs/${encodeURIComponent(id)}`);
  }

  /** History, newest first; pass `next` back as `cursor` for the next page. */
  list(q: Partial<ListQuery> = {}): Promise<ListReply> {
    const p = new URLSearchParams();
    for (const [k, v] of Object.entries(q)) if (v !== undefined) p.set(k, String(v));
    return this.#req('GET', `/api/jobs?${p}`);
  }

  cancel(id: string): Promise<JobDetail> {
    return this.#req('POST', `/api/jobs/${encodeURIComponent(id)}/cancel`);
  }

  /** A new attempt of a finished job; returns its handle. */
  async rerun(id: string): Promise<JobHandle> {
    return (await this.rerunWithDownstream(id))[0] as JobHandle;
  }

  /**
   * A new attempt of a finished job and of every job downstream of it (in a pipeline) that had not
   * succeeded; the handles start with the job's own.
   */
  async rerunWithDownstream(id: string): Promise<JobHandle[]> {
    const r = await this.#req<RerunReply>('POST', `/api/jobs/${encodeURIComponent(id)}/rerun`);
    return this.#track(r.jobs, r.cursor);
  }

  /** New attempts of every aborted job (or of other final states), of one batch or all. */
  async rerunAll(o: { batch?: string; states?: State[] } = {}): Promise<JobHandle[]> {
    const r = await this.#req<RerunReply>('POST', '/api/jobs/rerun', o);
    return this.#track(r.jobs, r.cursor);
  }

  /**
   * Raw state changes of this token's jobs after `after`, by long-poll, forever (until the signal
   * aborts). Resumes from the last seq it yielded after a network error, so nothing is missed.
   */
  async *events(
    o: { after?: number; batch?: string; job?: string; signal?: AbortSignal } = {},
  ): AsyncGenerator<JobEvent> {
    let after = o.after ?? 0;
    let failures = 0;
    while (!o.signal?.aborted) {
      const p = new URLSearchParams({ after: String(after), timeout: String(this.#pollSeconds) });
      if (o.batch) p.set('batch', o.batch);
      if (o.job) p.set('job', o.job);
      let r: EventsReply;
      try {
        r = await this.#req('GET', `/api/jobs/events?${p}`, undefined, o.signal);
        if (failures > 0) this.emit('connection', 'restored');
        failures = 0;
      } catch (e) {
        if (o.signal?.aborted) return;
        if (!(e instanceof RunCellError) || (e.status !== 0 && e.status < 500)) throw e;
        if (failures++ === 0) this.emit('connection', 'lost', e);
        await sleep(backoff(failures), o.signal);
        continue;
      }
      for (const ev of r.events) yield ev;
      after = r.cursor;
    }
  }

  /** Uploads a file (tus, resumable) for jobs' `files`; returns its upload id. */
  upload(data: Uint8Array, o: UploadOptions): Promise<Uploaded> {
    return tusUpload(this.#http, data, o);
  }

  /** The name an earlier upload is placed under in a job's working directory. */
  uploadName(id: string): Promise<string | undefined> {
    return uploadName(this.#http, id);
  }

  /** A file a job wrote. */
  async file(jobId: string, fileId: string): Promise<Buffer> {
    const res = await fetch(new URL(`/api/jobs/${jobId}/files/${fileId}`, this.#http.url), {
      headers: this.#http.token ? { authorization: `token ${this.#http.token}` } : {},
    });
    if (!res.ok)
      throw new RunCellError(`HTTP_${res.status}`, `file ${fileId}: HTTP ${res.status}`, res.status);
    return Buffer.from(await res.arrayBuffer());
  }

  /**
   * Waits for every job this client submitted or watches, up to `timeout` seconds (default: no
   * limit), then stops watching. Reports which finished and which did not.
   */
  async exit(o: { timeout?: number } = {}): Promise<ExitReport> {
    const deadline = o.timeout === undefined ? undefined : Date.now() + o.timeout * 1000;
    let t: NodeJS.Timeout | undefined;
    const timedOut =
      deadline === undefined
        ? new Promise<never>(() => {})
        : new Promise<'timeout'>((r) => (t = setTimeout(() => r('timeout'), deadline - Date.now())));
    // Submissions still on their way (execute(job) without await) count: wait for them first.
    const submitted = Promise.allSettled([...this.#pending]);
    let failed: unknown[] = [];
    if ((await Promise.race([submitted, timedOut])) !== 'timeout') {
      failed = (await submitted).filter((r) => r.status === 'rejected').map((r) => r.reason);
      const handles = [...this.#handles.values()];
      await Promise.race([Promise.allSettled(handles.map((h) => h.result())), timedOut]);
    }
    clearTimeout(t);
    this.#stop?.abort();
    await this.#loop;
    const handles = [...this.#handles.values()];
    return {
      finished: handles.filter((h) => h.detail).map((h) => h.detail as JobDetail),
      unfinished: handles.filter((h) => !h.detail),
      ...(failed.length > 0 ? { rejected: failed } : {}),
    };
  }

  #track(jobs: (JobSummary | JobDetail)[], cursor: number, made?: JobHandle[]): JobHandle[] {
    const out = jobs.map((j, i) => {
      const h = made?.[i] ?? this.#handles.get(j.id) ?? new JobHandle(this, j.id, j.batch_id, j.state);
      this.#handles.set(j.id, h);
      return h;
    });
    // The loop sees every event of this token; what it saw before a handle existed was kept.
    for (const h of out) {
      const early = this.#early.get(h.id) ?? [];
      this.#early.delete(h.id);
      for (const e of early) this.#dispatch(e);
    }
    // Events already dispatched are skipped by seq, so starting early is harmless.
    if (!this.#loop) this.#start(cursor);
    return out;
  }

  readonly #lastSeq = new Map<string, number>();

  #dispatch(e: JobEvent): void {
    const h = this.#handles.get(e.job_id);
    if (!h) {
      if (this.#early.size < 100_000 || this.#early.has(e.job_id)) {
        const list = this.#early.get(e.job_id) ?? [];
        list.push(e);
        this.#early.set(e.job_id, list);
      }
      return;
    }
    if ((this.#lastSeq.get(e.job_id) ?? -1) >= e.seq || h.finished) return;
    this.#lastSeq.set(e.job_id, e.seq);
    h._event(e);
    this.emit('state', e, h);
    if (isFinal(e.state)) void this.#finish(h);
  }

  /** Fetches a final job's outputs (retrying through network trouble) and resolves its handle. */
  async #finish(h: JobHandle): Promise<void> {
    for (let attempt = 0; ; attempt++) {
      try {
        const d = await this.get(h.id);
        h._done(d);
        this.emit('done', d);
        return;
      } catch (e) {
        if (e instanceof RunCellError && e.status !== 0 && e.status < 500) return;
        await sleep(backoff(attempt), this.#stop?.signal);
        if (this.#stop?.signal.aborted) return;
      }
    }
  }

  #start(from: number): void {
    const stop = new AbortController();
    this.#stop = stop;
    this.#cursor = from;
    this.#loop = (async () => {
      try {
        for await (const e of this.events({ after: from, signal: stop.signal })) {
          this.#cursor = e.seq;
          this.#dispatch(e);
          // Everything watched has reached a final state: stop polling until something new is tracked.
          if ([...this.#handles.values()].every((h) => isFinal(h.state))) break;
        }
      } catch (err) {
        // Not a network problem (those are retried): e.g. the token was refused. Stop for good.
        if (!stop.signal.aborted) {
          this.emit('connection', 'failed', err);
          for (const h of this.#handles.values()) if (!isFinal(h.state)) h._fail(err);
        }
      } finally {
        this.#loop = undefined;
      }
    })();
  }
}
