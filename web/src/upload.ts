// Resumable uploads with tus 1.0.0 (core protocol + creation extension): POST creates the upload,
// PATCH sends chunks at Upload-Offset, and after a failure HEAD tells where to resume. XHR rather than
// fetch because only XHR reports upload progress.

import { Backoff, sleep } from '../../shared/backoff.js';
import type { Api } from './api.js';

const TUS = { 'Tus-Resumable': '1.0.0' };
const CHUNK = 4 * 1024 * 1024;

export interface UploadProgress {
  sent: number;
  total: number;
}

function b64(s: string): string {
  return btoa(String.fromCharCode(...new TextEncoder().encode(s)));
}

function xhr(
  method: string,
  url: string,
  headers: Record<string, string>,
  body: Blob | null,
  onProgress?: (loaded: number) => void,
  signal?: AbortSignal,
): Promise<XMLHttpRequest> {
  return new Promise((resolve, reject) => {
    const r = new XMLHttpRequest();
    r.open(method, url);
    for (const [k, v] of Object.entries(headers)) r.setRequestHeader(k, v);
    if (onProgress) r.upload.onprogress = (e) => onProgress(e.loaded);
    r.onload = () => resolve(r);
    r.onerror = () => reject(new Error('network error'));
    r.onabort = () => reject(new Error('aborted'));
    signal?.addEventListener('abort', () => r.abort(), { once: true });
    r.send(body);
  });
}

/** Uploads `file`; resolves with the upload id once every byte is stored. */
export async function tusUpload(
  api: Api,
  file: Blob & { name?: string },
  onProgress: (p: UploadProgress) => void,
  signal?: AbortSignal,
): Promise<string> {
  const total = file.size;
  const create = await xhr(
    'POST',
    api.url('/api/uploads'),
    api.headers({
      ...TUS,
      'Upload-Length': String(total),
      'Upload-Metadata': `filename ${b64(file.name ?? 'upload')}`,
    }),
    null,
    undefined,
    signal,
  );
  if (create.status !== 201) throw new Error(uploadError(create));
  const location = create.getResponseHeader('Location');
  if (!location) throw new Error('the server did not say where to upload');
  const url = new URL(location, api.url('/api/uploads/')).href;
  const id = url.replace(/\/+$/, '').split('/').pop() as string;
  const backoff = new Backoff({ baseMs: 500, capMs: 10_000 });
  let offset = 0;
  onProgress({ sent: 0, total });
  while (offset < total) {
    try {
      const chunk = file.slice(offset, Math.min(total, offset + CHUNK));
      const r = await xhr(
        'PATCH',
        url,
        api.headers({
          ...TUS,
          'Upload-Offset': String(offset),
          'Content-Type': 'application/offset+octet-stream',
        }),
        chunk,
        (loaded) => onProgress({ sent: offset + loaded, total }),
        signal,
      );
      if (r.status === 204) {
        offset = Number(r.getResponseHeader('Upload-Offset') ?? offset + chunk.size);
        backoff.reset();
        onProgress({ sent: offset, total });
        continue;
      }
      if (r.status >= 400 && r.status < 500 && r.status !== 409 && r.status !== 429)
        throw new Fatal(uploadError(r));
      throw new Error(uploadError(r));
    } catch (e) {
      if (e instanceof Fatal || signal?.aborted) throw e;
      if (backoff.attempt >= 8) throw e;
      await sleep(backoff.next(), signal);
      // tus §HEAD: the server's offset is the truth after an interrupted PATCH.
      const head = await xhr('HEAD', url, api.headers(TUS), null, undefined, signal).catch(() => undefined);
      const o = Number(head?.getResponseHeader('Upload-Offset'));
      if (head?.status === 200 && Number.isFinite(o)) offset = o;
    }
  }
  return id;
}

class Fatal extends Error {}

function uploadError(r: XMLHttpRequest): string {
  try {
    const b = JSON.parse(r.responseText) as { message?: string };
    if (b.message) return b.message;
  } catch {
    // not JSON
  }
  return `the upload failed (HTTP ${r.status})`;
}
