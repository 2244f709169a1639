// The state-change stream. Every transition is a job_events row with a seq; readers ask for the
// owner's events after a cursor (long-poll or server-sent events) and resume from the last seq
// they saw. Writers wake readers in this process directly and other instances through the store's
// events (NOTIFY on Postgres); a wake-up only says "look again", the rows are the truth.
import type { Events } from '../store/events.js';
import type { Repository } from './repository.js';
import type { JobEvent } from './schemas.js';

const CHANNEL = 'runcell_jobs';

export interface ReadOptions {
  batch?: string;
  job?: string;
  limit?: number;
  /** Hold the read this long when nothing is new (0: answer at once). */
  waitMs?: number;
  signal?: AbortSignal;
}

export class JobEvents {
  readonly #repo: Repository;
  readonly #store: Events;
  /** Per owner: a counter bumped on every wake-up, and who waits for the next bump. */
  readonly #gen = new Map<string, number>();
  readonly #waiters = new Map<string, Set<() => void>>();
  #unsubscribe: (() => Promise<void>) | undefined;
  #closed = false;

  constructor(repo: Repository, store: Events) {
    this.#repo = repo;
    this.#store = store;
  }

  async start(): Promise<void> {
    this.#unsubscribe = await this.#store.subscribe(CHANNEL, (p) => {
      const owner = (p as { owner?: unknown } | null)?.owner;
      if (typeof owner === 'string') this.#wake(owner);
    });
  }

  /**
   * Called after a transition commits. Other instances hear of it from the database itself (the
   * transition's pg_notify on channel runcell_jobs, delivered at commit); this one wakes at once.
   */
  published(owner: string): void {
    this.#wake(owner);
  }

  #wake(owner: string): void {
    this.#gen.set(owner, (this.#gen.get(owner) ?? 0) + 1);
    const ws = this.#waiters.get(owner);
    if (!ws) return;
    this.#waiters.delete(owner);
    for (const w of ws) w();
  }

  #changed(owner: string, gen: number, ms: number, signal?: AbortSignal): Promise<void> {
    if ((this.#gen.get(owner) ?? 0) !== gen || this.#closed || signal?.aborted) return Promise.resolve();
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        signal?.removeEventListener('abort', done);
        this.#waiters.get(owner)?.delete(done);
        resolve();
      };
      const t = setTimeout(done, ms);
      signal?.addEventListener('abort', done, { once: true });
      const ws = this.#waiters.get(owner) ?? new Set();
      this.#waiters.set(owner, ws);
      ws.add(done);
    });
  }

  /** The owner's events after `after`; waits up to waitMs for the first one. */
  async read(
    owner: string,
    after: number,
    o: ReadOptions = {},
  ): Promise<{ events: JobEvent[]; cursor: number }> {
    const limit = o.limit ?? 500;
    const deadline = Date.now() + (o.waitMs ?? 0);
    for (;;) {
      // Take the counter before querying, so a commit between the query and the wait is not missed.
      const gen = this.#gen.get(owner) ?? 0;
      const events = await this.#repo.events(owner, after, limit, o);
      const left = deadline - Date.now();
      if (events.length > 0 || left <= 0 || this.#closed || o.signal?.aborted) {
        return { events, cursor: events.at(-1)?.seq ?? after };
      }
      await this.#changed(owner, gen, left, o.signal);
    }
  }

  /**
   * Every event after `after`, as it commits, until the signal aborts; `null` after each quiet
   * `idleMs` (so a server-sent-events stream can send a keep-alive).
   */
  async *follow(
    owner: string,
    after: number,
    o: Omit<ReadOptions, 'waitMs'> & { idleMs?: number } = {},
  ): AsyncGenerator<JobEvent | null> {
    let cursor = after;
    while (!this.#closed && !o.signal?.aborted) {
      const r = await this.read(owner, cursor, { ...o, waitMs: o.idleMs ?? 15_000 });
      cursor = r.cursor;
      if (r.events.length === 0) yield null;
      else yield* r.events;
    }
  }

  async close(): Promise<void> {
    this.#closed = true;
    for (const owner of [...this.#waiters.keys()]) this.#wake(owner);
    await this.#unsubscribe?.().catch(() => {});
  }
}
