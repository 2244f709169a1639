// Which held page polls a message should end. A page's poll carries the streams (kernel and session)
// the client knew when it sent it; a cell that starts a kernel meanwhile sends its first message on
// the page's other connection. That message ends every held poll of the page that lacks its stream,
// so the client polls again with it at once, never dropping the held request (a dropped response
// costs the browser its connection, and another to replace it). A poll still on its way when the
// message came is answered at once on arrival: the message leaves its stream pending until then.

/** How long a message's stream waits for a poll that carries it (a poll on its way arrives sooner). */
export const PENDING_MS = 30_000;

export const streamKey = (kernel: string, session: string): string => `${kernel}\n${session}`;

interface Held {
  streams: ReadonlySet<string>;
  wake(): void;
}

interface PageWaits {
  held: Set<Held>;
  /** Streams that sent while no held poll carried them, with their expiry timers. */
  pending: Map<string, NodeJS.Timeout>;
}

export class PageWakes {
  readonly #pages = new Map<string, PageWaits>();

  /** A poll of these pages carrying these streams is held; `wake` ends it. Returns its release. */
  hold(pages: Iterable<string>, streams: ReadonlySet<string>, wake: () => void): () => void {
    const me: Held = { streams, wake };
    const mine: [string, PageWaits][] = [];
    let late = false;
    for (const page of pages) {
      const w = this.#get(page);
      w.held.add(me);
      mine.push([page, w]);
      for (const [key, timer] of w.pending) {
        // This poll carries it, or will be followed by one that does: either way it is no longer owed.
        if (!streams.has(key)) late = true;
        clearTimeout(timer);
        w.pending.delete(key);
      }
    }
    if (late) wake();
    return () => {
      for (const [page, w] of mine) {
        w.held.delete(me);
        this.#drop(page, w);
      }
    };
  }

  /** A message of this stream of the page reached its kernel. */
  sent(page: string, key: string): void {
    const w = this.#get(page);
    let carried = false;
    for (const h of w.held) {
      if (h.streams.has(key)) carried = true;
      else h.wake();
    }
    if (carried || w.pending.has(key)) {
      this.#drop(page, w);
      return;
    }
    const timer = setTimeout(() => {
      w.pending.delete(key);
      this.#drop(page, w);
    }, PENDING_MS);
    timer.unref();
    w.pending.set(key, timer);
  }

  /** Pages with held polls or pending streams (for tests and leaks). */
  get size(): number {
    return this.#pages.size;
  }

  dispose(): void {
    for (const w of this.#pages.values()) for (const t of w.pending.values()) clearTimeout(t);
    this.#pages.clear();
  }

  #get(page: string): PageWaits {
    let w = this.#pages.get(page);
    if (!w) {
      w = { held: new Set(), pending: new Map() };
      this.#pages.set(page, w);
    }
    return w;
  }

  #drop(page: string, w: PageWaits): void {
    if (w.held.size === 0 && w.pending.size === 0 && this.#pages.get(page) === w) this.#pages.delete(page);
  }
}
