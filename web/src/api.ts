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

export class Api {
  constructor(
    readonly server: string,
    readonly token?: string,
  ) {}

  headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.token ? { ...extra, authorization: `token ${this.token}` } : extra;
  }

  url(path: string): string {
    return new URL(path, this.server).href;
  }

  #json<T>(method: string, path: string, body?: unknown): Promise<T> {
    return fetchJson<T>({
      method,
      url: this.url(path),
      token: this.token,
      body,
      // JSON sent as text/plain (the server reads both) keeps cross-origin calls "simple": no CORS
      // preflight round trip before each one. The server checks Origin on every request regardless.
      contentType: 'text/plain;charset=UTF-8',
      unreachable: `cannot reach the runcell server at ${this.server}`,
    });
  }

  startKernel(name?: string): Promise<KernelModel> {
    return this.#json('POST', '/api/kernels', name ? { name } : {});
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
