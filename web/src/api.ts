// The runcell server's REST API as the embed uses it. Errors carry the server's own message
// ({code, message}), which the cell shows to the visitor as is.
import type { KernelAPI } from '@jupyterlab/services';
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
 * The page's requests to one server other than its long-poll, at most `limit` at a time: while the
 * page long-polls it holds one connection for the poll and needs only one more (browsers open at most
 * six HTTP/1.1 connections per host, shared with everything else the page loads).
 */
export class Lane {
  limit = 4;
  #active = 0;
  readonly #waiting: (() => void)[] = [];

  async run<T>(f: () => Promise<T>): Promise<T> {
    while (this.#active >= this.limit) await new Promise<void>((r) => this.#waiting.push(r));
    this.#active++;
    try {
      return await f();
    } finally {
      this.#active--;
      this.#waiting.shift()?.();
    }
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
      navigator.sendBeacon(u.href);
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
