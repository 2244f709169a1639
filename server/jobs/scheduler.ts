// Runs queued jobs: a bound on jobs running at once overall and per owner, owners served round-robin
// so one big batch cannot starve another owner, one fresh kernel per job (from the manager's warm
// pool), discarded afterwards. The database is the truth: a job is claimed with a guarded
// queued -> launched transition, so two instances never run the same job, and a job cancelled
// while queued is simply never claimed. The in-memory queues are only this instance's to-do list.
import type { Logger } from 'pino';
import { type Kernel, type KernelManager, KernelManagerError } from '../../kernel-manager/index.js';
import type { Files } from '../store/blobs.js';
import type { Events } from '../store/events.js';
import type { Uploads } from '../store/uploads.js';
import type { JobEvents } from './events.js';
import { handedInputs, type InputSource, placeInputs, privateWorkDir, uploadInputs } from './inputs.js';
import type { Leases } from './lease.js';
import { combine, type ReplicaRun } from './replicas.js';
import type { JobRow, Repository } from './repository.js';
import { retryStore } from './retry.js';
import { isPython, type RunLimits, runJob } from './runner.js';
import { isFinal, type OutputFile, type Result, type State } from './schemas.js';

export interface SchedulerLimits extends RunLimits {
  /** Bytes of input files (uploads and handed-along files) one job may have in all. */
  maxInputBytes: number;
  /** Jobs running at once on this instance. */
  concurrency: number;
  /** Jobs of one owner running at once on this instance. */
  perOwner: number;
  /** How often queued jobs left by other instances are looked for (0: never). */
  sweepMs: number;
  /** A job's lease (lease.ts): renewed every third of it; lapsed, any instance recovers the job. */
  leaseMs: number;
}

export interface SchedulerDeps {
  repo: Repository;
  events: JobEvents;
  store: Events;
  manager: KernelManager;
  files: Files;
  uploads: Uploads;
  log: Logger;
  instance: string;
  limits: SchedulerLimits;
  /** The leases of the jobs this scheduler runs. */
  leases: Leases;
  /** A job this scheduler ran has ended (settles the jobs that need it). */
  onEnded?(owner: string, id: string): void;
  /** Input files were placed for a job (metrics). */
  onPlaced?(bytes: number, seconds: number): void;
  /** A job this scheduler ran ended: its final state, seconds running (null: never ran) and queued. */
  onFinished?(state: State, runningS: number | null, queuedS: number | null): void;
}

interface Running {
  owner: string;
  controller: AbortController;
  /** One per replica, as they are handed out. */
  kernels: Kernel[];
  done: Promise<void>;
}

const CANCEL_CHANNEL = 'runcell_jobs_cancel';

export class Scheduler {
  readonly #d: SchedulerDeps;
  /** Owner -> job ids waiting here, in submission order. */
  readonly #queues = new Map<string, string[]>();
  /** Every id in a queue or running (so sweeps do not add it twice). */
  readonly #known = new Set<string>();
  readonly #running = new Map<string, Running>();
  readonly #perOwner = new Map<string, number>();
  /** Round-robin position among owners. */
  #turn = 0;
  #closing = false;
  /** Set by abandon(): nothing more is written, as after a crash. */
  #abandoned = false;
  /** Writes of a job's claim and end retry an unreachable database until then (close() sets it). */
  #writeDeadline = Number.POSITIVE_INFINITY;
  #sweep: NodeJS.Timeout | undefined;
  #unsubscribe: (() => Promise<void>) | undefined;
  readonly #idle = new Set<() => void>();

  constructor(deps: SchedulerDeps) {
    this.#d = deps;
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#d.store.subscribe(CANCEL_CHANNEL, (p) => {
      const id = (p as { id?: unknown } | null)?.id;
      if (typeof id === 'string') this.#running.get(id)?.controller.abort();
    });
    await this.sweep();
    if (this.#d.limits.sweepMs > 0) {
      this.#sweep = setInterval(() => {
        this.sweep().catch((err: unknown) => this.#d.log.warn({ err }, 'job sweep failed'));
      }, this.#d.limits.sweepMs);
      this.#sweep.unref();
    }
  }

  /** Picks up queued jobs this instance does not know about (after a restart, or another's). */
  async sweep(): Promise<void> {
    const rows = await this.#d.repo.queued(10_000);
    this.enqueue(rows.filter((r) => !this.#known.has(r.id)));
  }

  enqueue(jobs: { id: string; owner: string }[]): void {
    for (const { id, owner } of jobs) {
      if (this.#known.has(id)) continue;
      this.#known.add(id);
      const q = this.#queues.get(owner) ?? [];
      this.#queues.set(owner, q);
      q.push(id);
    }
    this.#pump();
  }

  get runningCount(): number {
    return this.#running.size;
  }

  /** Aborts a job running here; false if it does not run here. */
  abortLocal(id: string): Promise<void> | false {
    const r = this.#running.get(id);
    if (!r) return false;
    r.controller.abort();
    return r.done;
  }

  /** Jobs whose lease this instance lost (lease.ts): stopped here, their end is not written here. */
  lose(ids: string[]): void {
    for (const id of ids) this.#running.get(id)?.controller.abort();
  }

  /** Asks whichever instance runs the job to stop it. */
  async abortRemote(id: string): Promise<void> {
    await this.#d.store.publish(CANCEL_CHANNEL, { id });
  }

  #pump(): void {
    if (this.#closing) return;
    const { concurrency, perOwner } = this.#d.limits;
    while (this.#running.size < concurrency) {
      const owners = [...this.#queues.keys()];
      let picked: string | undefined;
      for (let i = 0; i < owners.length; i++) {
        const owner = owners[(this.#turn + i) % owners.length] as string;
        if ((this.#perOwner.get(owner) ?? 0) < perOwner) {
          picked = owner;
          this.#turn = (this.#turn + i + 1) % Math.max(1, owners.length);
          break;
        }
      }
      if (picked === undefined) return;
      const q = this.#queues.get(picked) as string[];
      const id = q.shift() as string;
      if (q.length === 0) this.#queues.delete(picked);
      this.#launch(id, picked);
    }
  }

  #launch(id: string, owner: string): void {
    const r: Running = {
      owner,
      controller: new AbortController(),
      kernels: [],
      done: Promise.resolve(),
    };
    this.#running.set(id, r);
    this.#perOwner.set(owner, (this.#perOwner.get(owner) ?? 0) + 1);
    r.done = this.#run(id, r)
      .catch((err: unknown) => this.#d.log.error({ err, job: id }, 'job run failed'))
      .finally(() => {
        this.#d.leases.release(id);
        this.#running.delete(id);
        this.#known.delete(id);
        const n = (this.#perOwner.get(owner) ?? 1) - 1;
        if (n > 0) this.#perOwner.set(owner, n);
        else this.#perOwner.delete(owner);
        if (this.#running.size === 0) for (const f of this.#idle) f();
        this.#pump();
      });
  }

  async #move(
    id: string,
    owner: string,
    from: readonly State[],
    to: State,
    extra: { reason?: string | null; result?: Result; instance?: string } = {},
  ): Promise<boolean> {
    if (this.#abandoned) return false;
    let tries = 0;
    const ev = await this.#retry(`job ${to}`, () => {
      tries++;
      return this.#d.repo.transition(id, owner, from, to, extra);
    });
    let moved = ev !== null;
    if (!ev && tries > 1) {
      // A retry after a commit whose answer was lost finds the job already moved.
      const row = await this.#retry('job reread', () => this.#d.repo.load(id));
      moved = row?.state === to && (to !== 'launched' || row.instance === this.#d.instance);
    }
    if (moved) this.#d.events.published(owner);
    // Its dependants may now run, or be skipped.
    if (moved && isFinal(to)) this.#d.onEnded?.(owner, id);
    return moved;
  }

  /** A job's database work, riding out an unreachable database (retry.ts) until the write deadline. */
  #retry<T>(what: string, fn: () => Promise<T>): Promise<T> {
    return retryStore(fn, {
      deadline: () => this.#writeDeadline,
      stopped: () => this.#abandoned,
      log: this.#d.log,
      what,
    });
  }

  async #run(id: string, r: Running): Promise<void> {
    const { repo } = this.#d;
    const owner = r.owner;
    if (!(await this.#move(id, owner, ['queued'], 'launched', { instance: this.#d.instance }))) return;
    await this.#d.leases.hold(id);
    const job = (await this.#retry('job load', () => repo.load(id))) as JobRow;
    // Cancelled between the claim and now (by a client on another instance): honour it.
    if (job.cancel_requested) r.controller.abort();
    const fail = (reason: string) => this.#move(id, owner, ['launched', 'running'], 'failed', { reason });

    let inputs: InputSource[];
    let handed: InputSource[];
    try {
      inputs = await this.#retry('job inputs', () => uploadInputs(this.#d.uploads, job.files));
    } catch (e) {
      await fail(`an input file could not be read: ${e instanceof Error ? e.message : String(e)}`);
      return;
    }
    try {
      handed = await this.#retry('job handed files', () => handedInputs(this.#d.repo, this.#d.files, job));
    } catch (e) {
      await fail(
        `a file from a job it needs could not be read: ${e instanceof Error ? e.message : String(e)}`,
      );
      return;
    }
    // Every replica waits for the one transition to running before it sends its code.
    let running: Promise<void> | undefined;
    let runningAt: number | undefined;
    const onRunning = () =>
      (running ??= this.#move(id, owner, ['launched'], 'running').then((ok) => {
        runningAt = performance.now();
        if (!ok) r.controller.abort();
      }));
    const runs = await Promise.all(
      Array.from({ length: job.replicas }, (_, i) => this.#replica(job, i, r, inputs, handed, onRunning)),
    );
    if (this.#abandoned) return;
    // Shutting down before any kernel could be had: it ends aborted now, like a job stopped running.
    if (runs.every((x) => x === 'closed')) {
      await this.#move(id, owner, ['launched', 'running'], 'aborted', {
        reason: 'the server shut down before the job had a kernel; rerun it',
      });
      return;
    }
    const done = runs.map((x, index) =>
      x === 'closed'
        ? ({
            index,
            at: Number.POSITIVE_INFINITY,
            state: 'failed',
            reason: 'the server shut down before this replica had a kernel',
            result: null,
          } satisfies ReplicaRun)
        : x,
    );
    try {
      let { state, reason, result } = combine(done, job.pick);
      if (state === 'cancelled' && this.#closing) {
        state = 'aborted';
        reason = 'the server shut down before the job finished; rerun it';
      }
      const moved = await this.#move(id, owner, ['launched', 'running'], state, {
        reason,
        ...(result ? { result } : {}),
      });
      if (moved) {
        const queued =
          job.launched_at && job.created_at
            ? (job.launched_at.getTime() - job.created_at.getTime()) / 1000
            : null;
        this.#d.onFinished?.(
          state,
          runningAt === undefined ? null : (performance.now() - runningAt) / 1000,
          queued,
        );
      }
    } catch (e) {
      this.#d.log.error({ err: e, job: id }, 'job failed unexpectedly');
      await fail('internal error while running the job').catch(() => {});
    }
  }

  /** One run of the job's code on its own fresh kernel; 'closed' when the manager is shutting down. */
  async #replica(
    job: JobRow,
    index: number,
    r: Running,
    inputs: InputSource[],
    handed: InputSource[],
    onRunning: () => Promise<void>,
  ): Promise<ReplicaRun | 'closed'> {
    const { manager, limits, log } = this.#d;
    const t0 = performance.now();
    const ended = (state: ReplicaRun['state'], reason: string): ReplicaRun => ({
      index,
      at: performance.now(),
      state,
      reason,
      result: null,
    });
    let kernel: Kernel;
    try {
      kernel = await manager.start(job.kernel, { owner: `job:${job.owner}` });
    } catch (e) {
      if (e instanceof KernelManagerError && e.code === 'CLOSED') return 'closed';
      return ended('failed', `no kernel: ${e instanceof Error ? e.message : String(e)}`);
    }
    r.kernels.push(kernel);
    try {
      if (this.#abandoned || r.controller.signal.aborted) {
        return ended(this.#closing ? 'aborted' : 'cancelled', 'cancelled by a client');
      }
      const kernelMs = performance.now() - t0;
      const all = [...inputs, ...handed];
      let cleanup: (() => Promise<void>) | undefined;
      let placeMs = 0;
      if (!kernel.files.hostSide && !isPython(kernel)) {
        if (all.length > 0) return ended('failed', 'input files on a remote kernel need a Python kernel');
      } else {
        try {
          // A remote kernel first gets a private directory; a local one has its own work dir.
          cleanup = await privateWorkDir(kernel);
          const placed = await placeInputs(kernel, all, limits.maxInputBytes);
          placeMs = placed.ms;
          if (placed.bytes > 0) this.#d.onPlaced?.(placed.bytes, placed.ms / 1000);
        } catch (e) {
          return ended(
            'failed',
            `the input files could not be placed: ${e instanceof Error ? e.message : String(e)}`,
          );
        }
      }
      const outcome = await runJob(kernel, {
        code: job.code,
        timeoutMs: job.timeout_ms,
        files: all.map((f) => ({ name: f.name, sha256: f.sha256 })),
        signal: r.controller.signal,
        limits,
        onRunning,
      });
      const at = performance.now();
      if (cleanup && kernel.state !== 'dead') await cleanup().catch(() => undefined);
      if (this.#abandoned) return ended('aborted', 'abandoned');
      const files: OutputFile[] = [];
      for (const f of outcome.written) {
        const info = await this.#retry('job output file', () =>
          this.#d.files.put({ name: f.name, mediaType: f.mediaType, data: f.data, kernelId: kernel.id }),
        );
        files.push({
          id: info.id,
          name: info.name,
          size: info.size,
          sha256: info.sha256,
          media_type: info.mediaType,
        });
      }
      const t = outcome.result.timings;
      const result: Result = {
        ...outcome.result,
        files,
        timings: roundTimings({ ...t, files_in_ms: t.files_in_ms + placeMs, kernel_ms: kernelMs }),
      };
      return { index, at, state: outcome.state, reason: outcome.reason, result };
    } catch (e) {
      log.error({ err: e, job: job.id, replica: index }, 'job replica failed unexpectedly');
      return ended('failed', 'internal error while running the job');
    } finally {
      void kernel.shutdown('job finished').catch(() => {});
    }
  }

  /** Resolves when nothing runs here (or at once). */
  idle(): Promise<void> {
    if (this.#running.size === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const f = () => {
        this.#idle.delete(f);
        resolve();
      };
      this.#idle.add(f);
    });
  }

  /**
   * Graceful stop: claims nothing more, lets running jobs finish for up to graceMs, then ends the
   * rest as aborted (with the reason) so they can be rerun. Queued jobs stay queued in the database.
   */
  async close(graceMs: number, writeDeadline = Number.POSITIVE_INFINITY): Promise<void> {
    this.#closing = true;
    this.#writeDeadline = writeDeadline;
    this.#stopTimers();
    if (this.#running.size > 0 && graceMs > 0) {
      let t: NodeJS.Timeout | undefined;
      await Promise.race([this.idle(), new Promise((r) => (t = setTimeout(r, graceMs)))]);
      clearTimeout(t);
    }
    for (const r of this.#running.values()) r.controller.abort();
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
    await this.#unsubscribe?.().catch(() => {});
  }

  /** Stops as a crash would: no more writes; kernels are shut down; recovery sorts out the rest. */
  async abandon(): Promise<void> {
    this.#closing = true;
    this.#abandoned = true;
    this.#stopTimers();
    for (const r of this.#running.values()) {
      r.controller.abort();
      for (const k of r.kernels) void k.shutdown('the jobs service stopped').catch(() => {});
    }
    await Promise.allSettled([...this.#running.values()].map((r) => r.done));
    await this.#unsubscribe?.().catch(() => {});
  }

  #stopTimers(): void {
    if (this.#sweep) clearInterval(this.#sweep);
    this.#sweep = undefined;
    this.#queues.clear();
  }
}

export { uploadName } from './inputs.js';

export const roundTimings = (t: Result['timings']): Result['timings'] => ({
  kernel_ms: Math.round(t.kernel_ms * 10) / 10,
  files_in_ms: Math.round(t.files_in_ms * 10) / 10,
  execute_ms: Math.round(t.execute_ms * 10) / 10,
  files_out_ms: Math.round(t.files_out_ms * 10) / 10,
});
