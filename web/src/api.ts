// The runcell server's REST API as the embed uses it. Errors carry the server's own message
// ({code, message}), which the cell shows to the visitor as is.
import type { KernelAPI } from '@jupyterlab/services';
import { DEFAULT_SERVER } from './base.js';
import { ApiError, fetchJson } from './fetch.js';
import type { Output } from './messages.js';

/** A kernel as the Jupyter Server kernels API answers it (runcell keeps that API's shapes). */
export type KernelModel = KernelAPI.IModel;

export interface KernelSpecs {
  default: string;
  kernelspecs: Record<string, { name: string; spec: { display_name: string; language: string } }>;
}

export interface PermalinkModel {
  id: string;
  code: string;
  kernel: string;
  created?: string;
  outputs: Output[] | null;
}

/**
 * The page's requests to one server other than its long-poll, at most four at a time, or one while the
 * page long-polls it: then it holds one connection for the poll and needs only one more (browsers open
 * at most six HTTP/1.1 connections per host, shared with everything else the page loads). Requests
 * beyond that wait here, in order, rather than in the browser's socket pool.
 */
export class Lane {
  #narrowed = 0;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  get limit(): number {
    return this.#narrowed > 0 ? 1 : 4;
  }

  /** One request at a time until the result is called (long-poll in use; calls nest). */
  narrow(): () => void {
    this.#narrowed++;
    let done = false;
    return () => {
      if (done) return;
      done = true;
      this.#narrowed--;
      this.#wake();
    };
  }

  async run<T>(f: () => Promise<T>): Promise<T> {
    while (this.#active >= this.limit) await new Promise<void>((r) => this.#waiting.push(r));
    this.#active++;
    try {
      return await f();
    } finally {
      this.#active--;
      this.#wake();
    }
  }

  #wake(): void {
    for (let free = this.limit - this.#active; free > 0 && this.#waiting.length > 0; free--)
      this.#waiting.shift()?.();
  }
}

const lanes = new Map<string, Lane>();
export function laneFor(server: string): Lane {
  let l = lanes.get(server);
  if (!l) {
    l = new Lane();
    lanes.set(server, l);
  }
  return l;
}

/**
 * Loads one of the embed's lazy chunks (the editor, KaTeX, markdown-it, widgets) in the lane of the
 * server that served runcell.js: they come over the same connections as the page's requests.
 */
export function loadChunk<T>(load: () => Promise<T>): Promise<T> {
  return laneFor(DEFAULT_SERVER).run(load);
}

export class Api {
  readonly lane: Lane;
  constructor(
    readonly server: string,
    readonly token?: string,
  ) {
    this.lane = laneFor(server);
  }

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, authorization: `token ${this.token}` } : extra;
  }

  url(path: string): string {
    return new URL(path, this.server).href;
  }

  #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return this.lane.run(() =>
      fetchJson<T>({
        method,
        url: this.url(path),
        token: this.token,
        body,
        // JSON sent as text/plain (the server reads both) keeps cross-origin calls "simple": no CORS
        // preflight round trip before each one. The server checks Origin on every request regardless.
        contentType: 'text/plain;charset=UTF-8',
        unreachable: `cannot reach the runcell server at ${this.server}`,
      }),
    );
  }

  /** A kernel for a cell of `page` (it counts as that page's, and ends with the page's connections). */
  startKernel(name?: string, page?: string): Promise<KernelModel> {
    const q = page ? `?page=${encodeURIComponent(page)}` : '';
    return this.#json('POST', `/api/kernels${q}`, name ? { name } : {});
  }

  getKernel(id: string): Promise<KernelModel> {
    return this.#json('GET', `/api/kernels/${encodeURIComponent(id)}`);
  }

  /** False only when the server says the kernel does not exist; network trouble counts as alive. */
  async kernelExists(id: string): Promise<boolean> {
    try {
      await this.getKernel(id);
      return true;
    } catch (e) {
      return !(e instanceof ApiError && e.status === 404);
    }
  }

  interrupt(id: string): Promise<void> {
    return this.#json('POST', `/api/kernels/${encodeURIComponent(id)}/interrupt`);
  }

  restart(id: string): Promise<KernelModel> {
    return this.#json('POST', `/api/kernels/${encodeURIComponent(id)}/restart`);
  }

  /** Fire-and-forget shutdown that survives page unload. */
  shutdownOnUnload(id: string): void {
    try {
      void fetch(this.url(`/api/kernels/${encodeURIComponent(id)}`), {
        method: 'DELETE',
        keepalive: true,
        headers: this.headers(),
      }).catch(() => undefined);
    } catch {
      // Unloading: nothing to report to.
    }
  }

  /** The page is going away (pagehide): its kernels end now rather than after the server's grace. */
  closePage(page: string): void {
    const u = new URL(`/api/pages/${encodeURIComponent(page)}/close`, this.server);
    if (this.token) u.searchParams.set('token', this.token);
    try {
      // A keepalive fetch rather than sendBeacon: a beacon always goes with credentials, on a connection
      // of its own, while this one reuses the page's idle connection (still at most two).
      void fetch(u.href, { method: 'POST', keepalive: true, cache: 'no-store' }).catch(() => undefined);
    } catch {
      // Unloading: nothing to report to; the server frees the kernels when the connections go.
    }
  }

  kernelspecs(): Promise<KernelSpecs> {
    return this.#json('GET', '/api/kernelspecs');
  }

  createPermalink(body: { code: string; kernel: string; outputs?: Output[] }): Promise<PermalinkModel> {
    return this.#json('POST', '/api/permalinks', body);
  }

  getPermalink(id: string): Promise<PermalinkModel> {
    return this.#json('GET', `/api/permalinks/${encodeURIComponent(id)}`);
  }

  /** Places a finished upload into the kernel's working directory. */
  attachFile(kernelId: string, upload: string, name: string): Promise<{ path?: string; name?: string }> {
    return this.#json('POST', `/api/kernels/${encodeURIComponent(kernelId)}/files`, { upload, name });
  }
}
