// The execute-request recorder. `begin()` and `finish()` only put an entry in memory and return
// at once; a timer writes batches (one INSERT and one UPDATE per batch, the rows as one jsonb
// parameter), so recording adds no database round trip to an execution. A batch that fails stays
// queued and is retried with backoff; `close()` flushes what is left (graceful stop loses nothing).
// Raw client addresses live only in memory until the flush, where they become keyed hashes.
import { createHash, randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { toDbJson } from './json.js';
import type { Sql } from './types.js';

export type Transport = 'websocket' | 'longpoll' | 'oneshot' | 'job';

/** An execute_request as the server sent it to the kernel (after it set the header). */
export interface ExecuteRequestMessage {
  header: { msg_id: string; msg_type: string; [k: string]: unknown };
  content: { code: string; [k: string]: unknown };
  [k: string]: unknown;
}

export interface ExecuteBegin {
  /** Kept by reference until the next flush: pass an object you will not mutate. */
  message: ExecuteRequestMessage;
  kernelSpec: string;
  kernelId?: string | null;
  transport: Transport;
  /** The client's address; only its keyed hash is stored. */
  clientAddress?: string | null;
  /** The authenticated identity, or null/undefined for anonymous use (which retention expires). */
  principal?: string | null;
  permalinkId?: string | null;
  startedAt?: Date;
}

/** A message the kernel sent in reply (iopub or the execute_reply). */
export interface OutputMessage {
  msg_type?: string;
  header?: { msg_type?: string };
  content?: unknown;
}

export interface OutputSummary {
  messages: number;
  /** Size of the outputs' JSON content. */
  bytes: number;
  types: Record<string, number>;
  /** The beginning of the text output (streams, text/plain, tracebacks' ename: evalue). */
  text: string;
  truncated: boolean;
  error?: { ename: string; evalue: string };
}

export interface ExecuteFinish {
  /** e.g. 'ok', 'error', 'aborted', 'timeout', 'interrupted', 'lost'. */
  status: string;
  finishedAt?: Date;
  outputs?: readonly OutputMessage[];
  /** Instead of `outputs`: a summary built as the outputs went by (OutputSummarizer). */
  summary?: OutputSummary;
}

export interface RecorderStats {
  pending: number;
  written: number;
  dropped: number;
  failedFlushes: number;
}

export interface Recorder {
  /** Queues the record; returns its id for finish(). Never throws, never waits. */
  begin(entry: ExecuteBegin): string;
  finish(id: string, result: ExecuteFinish): void;
  /** Writes everything queued now (tests, and close()). */
  flush(): Promise<void>;
  stats(): RecorderStats;
  /** Stops the timer and flushes, retrying until `closeTimeoutMs`. */
  close(): Promise<void>;
}

export interface RecorderOptions {
  flushIntervalMs: number;
  batchSize: number;
  /** Beyond this many queued entries (database down for long), the oldest are dropped. */
  maxPending: number;
  closeTimeoutMs: number;
  summaryTextChars: number;
}

export const defaultRecorderOptions: RecorderOptions = {
  flushIntervalMs: 250,
  batchSize: 500,
  maxPending: 50_000,
  closeTimeoutMs: 10_000,
  summaryTextChars: 4096,
};

/** Builds an OutputSummary incrementally, so the server need not keep the outputs. */
export class OutputSummarizer {
  readonly #max: number;
  #s: OutputSummary = { messages: 0, bytes: 0, types: {}, text: '', truncated: false };
  constructor(maxTextChars = defaultRecorderOptions.summaryTextChars) {
    this.#max = maxTextChars;
  }
  add(msg: OutputMessage): void {
    const s = this.#s;
    const type = msg.msg_type ?? msg.header?.msg_type ?? 'unknown';
    s.messages++;
    s.types[type] = (s.types[type] ?? 0) + 1;
    s.bytes += JSON.stringify(msg.content ?? null)?.length ?? 0;
    const c = (msg.content ?? {}) as Record<string, unknown>;
    if (type === 'stream' && typeof c.text === 'string') this.#text(c.text);
    else if (type === 'execute_result' || type === 'display_data') {
      const plain = (c.data as Record<string, unknown> | undefined)?.['text/plain'];
      if (typeof plain === 'string') this.#text(`${plain}\n`);
    } else if (type === 'error' || (type === 'execute_reply' && c.status === 'error')) {
      const ename = String(c.ename ?? '');
      const evalue = String(c.evalue ?? '');
      s.error ??= { ename: ename.slice(0, 200), evalue: evalue.slice(0, 1000) };
      if (type === 'error') this.#text(`${ename}: ${evalue}\n`);
    }
  }
  #text(t: string): void {
    const room = this.#max - this.#s.text.length;
    if (t.length > room) this.#s.truncated = true;
    if (room > 0) this.#s.text += t.slice(0, room);
  }
  summary(): OutputSummary {
    return this.#s;
  }
}

export function summarizeOutputs(outputs: readonly OutputMessage[], maxTextChars?: number): OutputSummary {
  const s = new OutputSummarizer(maxTextChars);
  for (const m of outputs) s.add(m);
  return s.summary();
}

interface Entry {
  id: string;
  begin: ExecuteBegin;
  startedAt: Date;
  finish?: ExecuteFinish & { finishedAt: Date };
}

export function createRecorder(
  sql: Sql,
  options: Partial<RecorderOptions> & { hashClient: (address: string) => string; log: Logger },
): Recorder {
  const o = { ...defaultRecorderOptions, ...options };
  const log = options.log;
  /** Not yet inserted, in arrival order (a Map keeps insertion order). */
  const begins = new Map<string, Entry>();
  /** Inserted (or being inserted) without a finish yet; bounded like `begins`. */
  const waiting = new Map<string, Entry>();
  /** Finished after their insert: an UPDATE is due. */
  const updates = new Map<string, Entry>();
  const stats = { written: 0, dropped: 0, failedFlushes: 0 };
  let flushing: Promise<void> | null = null;
  let timer: NodeJS.Timeout | null = null;
  let backoffMs = 0;
  let closed = false;
  let lastDropLog = 0;

  const schedule = (ms: number) => {
    if (timer || closed) return;
    timer = setTimeout(() => {
      timer = null;
      void flush().catch(() => {});
    }, ms);
    timer.unref();
  };

  function dropOldest(): void {
    const oldest = begins.keys().next();
    if (oldest.done) return;
    begins.delete(oldest.value);
    stats.dropped++;
    if (Date.now() - lastDropLog > 10_000) {
      lastDropLog = Date.now();
      log.warn({ dropped: stats.dropped }, 'execute recorder queue full: dropping the oldest records');
    }
  }

  function row(e: Entry) {
    const b = e.begin;
    const f = e.finish;
    return {
      id: e.id,
      msg_id: b.message.header?.msg_id ?? null,
      kernel_id: b.kernelId ?? null,
      kernel_spec: b.kernelSpec,
      transport: b.transport,
      principal: b.principal ?? null,
      client_hash: b.clientAddress ? o.hashClient(b.clientAddress) : null,
      code_sha256: createHash('sha256')
        .update(typeof b.message.content?.code === 'string' ? b.message.content.code : '')
        .digest('hex'),
      message: b.message,
      permalink_id: b.permalinkId ?? null,
      started_at: e.startedAt.toISOString(),
      ...(f ? finishRow(e) : {}),
    };
  }

  function finishRow(e: Entry) {
    const f = e.finish as ExecuteFinish & { finishedAt: Date };
    return {
      id: e.id,
      finished_at: f.finishedAt.toISOString(),
      status: f.status.slice(0, 64),
      duration_ms: f.finishedAt.getTime() - e.startedAt.getTime(),
      outputs: f.summary ?? summarizeOutputs(f.outputs ?? [], o.summaryTextChars),
    };
  }

  async function writeBatch(): Promise<void> {
    const inserts = [...begins.values()].slice(0, o.batchSize);
    const done = [...updates.values()].slice(0, o.batchSize);
    if (!inserts.length && !done.length) return;
    for (const e of inserts) {
      begins.delete(e.id);
      // A finish arriving while the INSERT is in flight finds it here and becomes an UPDATE.
      if (!e.finish) waiting.set(e.id, e);
    }
    for (const e of done) updates.delete(e.id);
    while (waiting.size > o.maxPending) waiting.delete(waiting.keys().next().value as string);
    try {
      if (inserts.length)
        await sql`
          insert into execute_records
            (id, msg_id, kernel_id, kernel_spec, transport, principal, client_hash, code_sha256, message,
             permalink_id, started_at, finished_at, status, duration_ms, outputs)
          select x.id, x.msg_id, x.kernel_id, x.kernel_spec, x.transport, x.principal, x.client_hash,
                 x.code_sha256, x.message, x.permalink_id, x.started_at, x.finished_at, x.status,
                 x.duration_ms, x.outputs
          from jsonb_to_recordset(${toDbJson(inserts.map(row))}::text::jsonb) as x(
            id uuid, msg_id text, kernel_id text, kernel_spec text, transport text, principal text,
            client_hash text, code_sha256 text, message jsonb, permalink_id text, started_at timestamptz,
            finished_at timestamptz, status text, duration_ms float8, outputs jsonb)
          on conflict (id) do nothing`;
      if (done.length)
        await sql`
          update execute_records e
          set finished_at = x.finished_at, status = x.status, duration_ms = x.duration_ms, outputs = x.outputs
          from jsonb_to_recordset(${toDbJson(done.map(finishRow))}::text::jsonb) as x(
            id uuid, finished_at timestamptz, status text, duration_ms float8, outputs jsonb)
          where e.id = x.id`;
      stats.written += inserts.length;
    } catch (err) {
      // Put everything back, in front of newer entries, for the next attempt. The INSERT is
      // idempotent (on conflict do nothing), so a batch that did commit is harmless to repeat.
      const newer = [...begins.values()];
      begins.clear();
      for (const e of [...inserts, ...newer]) {
        begins.set(e.id, e);
        waiting.delete(e.id);
        updates.delete(e.id);
      }
      for (const e of done) if (!begins.has(e.id)) updates.set(e.id, e);
      while (begins.size > o.maxPending) dropOldest();
      throw err;
    }
  }

  const hasWork = () => begins.size > 0 || updates.size > 0;

  async function flushNow(): Promise<void> {
    while (hasWork()) await writeBatch();
  }

  function flush(): Promise<void> {
    if (flushing) return flushing.then(() => (hasWork() ? flush() : undefined));
    flushing = flushNow()
      .then(() => {
        backoffMs = 0;
      })
      .catch((err: unknown) => {
        stats.failedFlushes++;
        backoffMs = Math.min(Math.max(backoffMs * 2, 500), 30_000);
        log.warn({ err, pending: begins.size, retryInMs: backoffMs }, 'execute recorder flush failed');
        throw err;
      })
      .finally(() => {
        flushing = null;
        if (hasWork()) schedule(backoffMs || o.flushIntervalMs);
      });
    return flushing;
  }

  return {
    begin(entry) {
      const id = randomUUID();
      if (closed) {
        stats.dropped++;
        return id;
      }
      begins.set(id, { id, begin: entry, startedAt: entry.startedAt ?? new Date() });
      if (begins.size > o.maxPending) dropOldest();
      schedule(begins.size >= o.batchSize ? 0 : o.flushIntervalMs);
      return id;
    },
    finish(id, result) {
      const e = begins.get(id) ?? waiting.get(id);
      if (!e || e.finish) return;
      e.finish = { ...result, finishedAt: result.finishedAt ?? new Date() };
      if (waiting.delete(id)) updates.set(id, e);
      schedule(o.flushIntervalMs);
    },
    flush,
    stats: () => ({ pending: begins.size + updates.size, ...stats }),
    async close() {
      closed = true;
      if (timer) clearTimeout(timer);
      timer = null;
      const deadline = Date.now() + o.closeTimeoutMs;
      for (;;) {
        try {
          await flush();
          break;
        } catch {
          if (Date.now() > deadline) {
            log.error({ lost: begins.size }, 'execute recorder closed with unwritten records');
            break;
          }
          await new Promise((r) => setTimeout(r, 200));
        }
      }
      // A finish that never came: those rows stay open (status null) in the database.
      waiting.clear();
    },
  };
}
