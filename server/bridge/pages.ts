// Pages: the embed names the page its cells live on (a random id per page load), and the server ties
// the kernels a page started to that page's connections. A page is alive while any connection of it
// is open (a websocket to one of its kernels, or its long-poll); once the last one closes and none
// returns within the grace period (a reload, a closed tab, a crashed browser, a network gone), its
// kernels are shut down. The page's pagehide beacon only makes that immediate.

/** Page ids the embed makes (newId(): 32 hex digits); anything else is refused. */
export const PAGE_ID = /^[A-Za-z0-9_-]{16,64}$/;

interface PageState {
  kernels: Set<string>;
  connections: number;
  timer: NodeJS.Timeout | undefined;
}

export interface PagesDeps {
  /** After the last connection closed (ms). */
  graceMs: number;
  /** A page that never connected keeps its kernels this long (a client still falling back to long-poll). */
  firstConnectMs: number;
  /** Shuts these kernels down. */
  shutdown(kernelIds: string[], reason: string): void;
}

export class Pages {
  readonly #pages = new Map<string, PageState>();
  readonly #deps: PagesDeps;

  constructor(deps: PagesDeps) {
    this.#deps = deps;
  }

  /** Live pages (with at least one kernel). */
  get size(): number {
    return this.#pages.size;
  }

  kernels(page: string): string[] {
    return [...(this.#pages.get(page)?.kernels ?? [])];
  }

  /** A kernel started for this page; it lives as long as the page keeps a connection. */
  add(page: string, kernelId: string): void {
    let p = this.#pages.get(page);
    if (!p) {
      p = { kernels: new Set(), connections: 0, timer: undefined };
      this.#pages.set(page, p);
    }
    p.kernels.add(kernelId);
    if (p.connections === 0 && !p.timer) this.#arm(page, p, this.#deps.firstConnectMs);
  }

  /** The kernel is gone (dead or shut down). */
  remove(page: string, kernelId: string): void {
    const p = this.#pages.get(page);
    if (!p) return;
    p.kernels.delete(kernelId);
    if (p.kernels.size === 0 && p.connections === 0) this.#forget(page, p);
  }

  /** A connection of the page opened; call the result when it closes (more calls do nothing). */
  connect(page: string): () => void {
    const p = this.#pages.get(page);
    if (!p) return () => undefined;
    p.connections++;
    clearTimeout(p.timer);
    p.timer = undefined;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      p.connections--;
      if (p.connections > 0 || this.#pages.get(page) !== p) return;
      if (p.kernels.size === 0) this.#forget(page, p);
      else this.#arm(page, p, this.#deps.graceMs);
    };
  }

  /** The page said it is going away (its pagehide beacon): its kernels end now. */
  close(page: string, reason: string): number {
    const p = this.#pages.get(page);
    if (!p) return 0;
    const ids = [...p.kernels];
    this.#forget(page, p);
    if (ids.length) this.#deps.shutdown(ids, reason);
    return ids.length;
  }

  dispose(): void {
    for (const p of this.#pages.values()) clearTimeout(p.timer);
    this.#pages.clear();
  }

  #arm(page: string, p: PageState, ms: number): void {
    clearTimeout(p.timer);
    p.timer = setTimeout(() => {
      p.timer = undefined;
      if (p.connections === 0 && this.#pages.get(page) === p)
        this.close(page, 'the page closed or lost its connection to the server');
    }, ms);
    p.timer.unref();
  }

  #forget(page: string, p: PageState): void {
    clearTimeout(p.timer);
    this.#pages.delete(page);
  }
}
