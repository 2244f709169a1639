// Job ownership that survives database blips. The instance that claims a job holds a lease on it
// (jobs.lease_until, on the database's clock) and renews it every third of RUNCELL_JOBS_LEASE_MS for
// every job it runs. When the database is unreachable, renewals retry every second; the jobs keep
// running (nobody else can take them over while the database is down either).
//
// Recovery: on each renewal tick, every launched or running job whose lease lapsed (its instance
// crashed, was killed, or lost the database for longer than a lease) and that this instance does not
// hold is marked `aborted` with the reason, so it can be rerun. Bound: a job whose owner died ends
// aborted within leaseMs + leaseMs / 3 (plus one write) of its last renewal, on any instance still up.
//
// An owner that learns at a renewal that a job is no longer its own (recovered by another instance
// after the owner's own lease lapsed) stops it at once: no kernel runs a job nobody owns, and no job
// is left running with no kernel behind it.
import type { Logger } from 'pino';
import { isStoreUnavailable } from '../errors.js';
import type { JobEvents } from './events.js';
import type { Repository } from './repository.js';

export interface LeaseOptions {
  repo: Repository;
  events: JobEvents;
  instance: string;
  leaseMs: number;
  log: Logger;
  /** These jobs are no longer this instance's: stop running them (do not write their end). */
  onLost(ids: string[]): void;
  /** A job was recovered (marked aborted): its dependants may now be skipped. */
  onRecovered?(owner: string, id: string): void;
}

/** While the database is unreachable, renewals retry this often. */
const RETRY_MS = 1_000;

export class Leases {
  readonly #o: LeaseOptions;
  readonly #held = new Set<string>();
  #timer: NodeJS.Timeout | undefined;
  #running = false;
  #stopped = false;
  #unreachableSince: number | undefined;

  constructor(o: LeaseOptions) {
    this.#o = o;
  }

  get intervalMs(): number {
    return Math.max(100, Math.floor(this.#o.leaseMs / 3));
  }

  /** Takes a just-claimed job's lease (its first renewal is this write). */
  async hold(id: string): Promise<void> {
    this.#held.add(id);
    const { repo, instance, leaseMs } = this.#o;
    await repo.renewLeases(instance, [id], leaseMs).catch((err: unknown) => {
      // The tick retries; until then the claim's time stands in for the lease (repository.lapsed).
      if (!isStoreUnavailable(err)) throw err;
    });
  }

  release(id: string): void {
    this.#held.delete(id);
  }

  start(): void {
    this.#schedule(this.intervalMs);
  }

  stop(): void {
    this.#stopped = true;
    if (this.#timer) clearTimeout(this.#timer);
    this.#timer = undefined;
  }

  #schedule(ms: number): void {
    if (this.#stopped) return;
    this.#timer = setTimeout(() => void this.tick(), ms);
    this.#timer.unref();
  }

  /** One renewal of every held lease, then recovery of lapsed ones. */
  async tick(): Promise<void> {
    if (this.#running || this.#stopped) return;
    this.#running = true;
    let next = this.intervalMs;
    try {
      await this.#renew();
      await this.#recover();
      if (this.#unreachableSince !== undefined) {
        this.#o.log.info(
          { downMs: Date.now() - this.#unreachableSince, held: this.#held.size },
          'database reachable again: job leases renewed',
        );
        this.#unreachableSince = undefined;
      }
    } catch (err) {
      if (isStoreUnavailable(err)) {
        if (this.#unreachableSince === undefined) {
          this.#unreachableSince = Date.now();
          this.#o.log.warn({ err, held: this.#held.size }, 'database unreachable: cannot renew job leases');
        }
        next = Math.min(next, RETRY_MS);
      } else this.#o.log.error({ err }, 'renewing job leases failed');
    } finally {
      this.#running = false;
      this.#schedule(next);
    }
  }

  async #renew(): Promise<void> {
    const { repo, instance, leaseMs } = this.#o;
    const ids = [...this.#held];
    if (ids.length === 0) return;
    const kept = new Set(await repo.renewLeases(instance, ids, leaseMs));
    // Released meanwhile (the job ended and its final write committed): not a loss.
    const lost = ids.filter((id) => !kept.has(id) && this.#held.has(id));
    if (lost.length === 0) return;
    for (const id of lost) this.#held.delete(id);
    this.#o.log.warn({ jobs: lost }, 'job leases lost (recovered elsewhere or ended): stopping them here');
    this.#o.onLost(lost);
  }

  async #recover(): Promise<void> {
    const { repo, events, instance, leaseMs, log } = this.#o;
    const rows = await repo.lapsed([...this.#held], leaseMs);
    let n = 0;
    for (const j of rows) {
      const since = j.lease_until ? ` at ${j.lease_until.toISOString()}` : '';
      const who =
        j.instance === instance ? 'this instance (a previous run)' : `instance ${j.instance ?? '?'}`;
      const reason =
        `${who} stopped renewing the job's lease${since} while it was ${j.state} ` +
        '(it crashed, was stopped, or lost the database); its kernel is gone; rerun it';
      if (await repo.transition(j.id, j.owner, [j.state], 'aborted', { reason })) {
        events.published(j.owner);
        this.#o.onRecovered?.(j.owner, j.id);
        n++;
      }
    }
    if (n > 0) log.warn({ aborted: n, instance }, 'jobs whose lease lapsed were marked aborted');
  }
}
