// The per-kernel replay log: every message the server sends towards clients gets the next sequence
// number and stays here, bounded by count and bytes, so a client that reconnects (websocket with the
// same session id, or long-poll with ?after=SEQ) gets what it missed, or is told exactly how much fell
// out of the log.

export interface LogEntry<T> {
  seq: number;
  value: T;
  bytes: number;
}

export interface Since<T> {
  entries: LogEntry<T>[];
  /** Messages after the cursor that are no longer in the log (0: nothing lost). */
  lost: number;
  /** Cursor to resume from. */
  next: number;
  /** More entries are waiting beyond `next` (the read was capped). */
  more: boolean;
}

export class ReplayLog<T> {
  #items: LogEntry<T>[] = [];
  #start = 0; // index of the oldest live item in #items
  #bytes = 0;
  #lastSeq = 0;

  constructor(
    readonly maxMessages: number,
    readonly maxBytes: number,
  ) {}

  /** Sequence number of the newest message (0 before the first). */
  get lastSeq(): number {
    return this.#lastSeq;
  }
  /** Sequence number of the oldest message kept (lastSeq + 1 when empty). */
  get firstSeq(): number {
    return this.#items[this.#start]?.seq ?? this.#lastSeq + 1;
  }
  get size(): number {
    return this.#items.length - this.#start;
  }
  get bytes(): number {
    return this.#bytes;
  }

  append(value: T, bytes: number): LogEntry<T> {
    const e = { seq: ++this.#lastSeq, value, bytes };
    this.#items.push(e);
    this.#bytes += bytes;
    // Keep at least the newest entry, however big, so a live client can still be sent it.
    while (this.size > 1 && (this.size > this.maxMessages || this.#bytes > this.maxBytes)) {
      const old = this.#items[this.#start++];
      if (old) this.#bytes -= old.bytes;
    }
    if (this.#start > 1024 && this.#start * 2 > this.#items.length) {
      this.#items = this.#items.slice(this.#start);
      this.#start = 0;
    }
    return e;
  }

  /**
   * Entries with seq > cursor that `visible` accepts, at most `max` of them. A cursor ahead of the log
   * (a stale cursor from before a server restart) is treated as "from now on".
   */
  since(cursor: number, visible: (v: T) => boolean = () => true, max = Number.POSITIVE_INFINITY): Since<T> {
    const c = Math.max(0, Math.min(Math.floor(cursor), this.#lastSeq));
    const first = this.firstSeq;
    const lost = Math.max(0, first - (c + 1));
    const entries: LogEntry<T>[] = [];
    let i = this.#start + Math.max(0, c + 1 - first);
    let next = Math.max(c, first - 1);
    for (; i < this.#items.length; i++) {
      const e = this.#items[i];
      if (!e) break;
      if (visible(e.value)) {
        if (entries.length >= max) return { entries, lost, next, more: true };
        entries.push(e);
      }
      next = e.seq;
    }
    return { entries, lost, next, more: false };
  }
}
