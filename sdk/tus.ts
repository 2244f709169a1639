// A tus 1.0.0 client (https://tus.io/protocols/resumable-upload) for POST /api/uploads: creation,
// then PATCH chunks from the committed offset; an interrupted upload resumes from the offset the
// server reports (HEAD), so nothing is sent twice.
import { authHeaders, connectionError, type HttpOptions, RunCellError } from './http.js';

const TUS = { 'tus-resumable': '1.0.0' };

export interface UploadOptions {
  /** Stored as the file name (tus Upload-Metadata `filename`): the name a job sees. */
  name: string;
  /** Resume this upload (its URL from an earlier, interrupted call) instead of creating one. */
  resumeUrl?: string;
  chunkBytes?: number;
  /** Called with the upload URL as soon as it exists (to remember it for a resume). */
  onCreated?(url: string): void;
  onProgress?(sent: number, total: number): void;
}

export interface Uploaded {
  id: string;
  url: string;
  size: number;
}

async function call(
  o: HttpOptions,
  method: string,
  url: string,
  headers: Record<string, string>,
  body?: Uint8Array,
) {
  let res: Response;
  try {
    res = await fetch(url, {
      method,
      headers: { ...authHeaders(o), ...TUS, ...headers },
      ...(body ? { body } : {}),
    });
  } catch (e) {
    throw connectionError(o.url, e);
  }
  if (res.status >= 400) {
    const text = await res.text();
    let e: { code?: string; message?: string } = {};
    try {
      e = JSON.parse(text);
    } catch {}
    throw new RunCellError(
      e.code ?? `HTTP_${res.status}`,
      e.message ?? `${method} upload: HTTP ${res.status}`,
      res.status,
    );
  }
  await res.arrayBuffer().catch(() => undefined);
  return res;
}

/** The name an earlier upload will be placed under in a job's work dir (its `filename` metadata). */
export async function uploadName(o: HttpOptions, id: string): Promise<string | undefined> {
  const res = await call(o, 'HEAD', new URL(`/api/uploads/${encodeURIComponent(id)}`, o.url).toString(), {});
  for (const pair of (res.headers.get('upload-metadata') ?? '').split(',')) {
    const [k, v] = pair.trim().split(' ');
    if (k === 'filename' && v) return Buffer.from(v, 'base64').toString();
  }
  return undefined;
}

export async function tusUpload(o: HttpOptions, data: Uint8Array, u: UploadOptions): Promise<Uploaded> {
  const size = data.byteLength;
  const chunk = u.chunkBytes ?? 4 * 1024 * 1024;
  let url = u.resumeUrl;
  let offset = 0;
  if (url) {
    try {
      const head = await call(o, 'HEAD', url, {});
      offset = Number(head.headers.get('upload-offset') ?? 0);
      if (Number(head.headers.get('upload-length')) !== size) url = undefined;
    } catch (e) {
      // Gone (expired or removed): start over.
      if (!(e instanceof RunCellError) || e.status === 0) throw e;
      url = undefined;
    }
  }
  if (!url) {
    const res = await call(o, 'POST', new URL('/api/uploads', o.url).toString(), {
      'upload-length': String(size),
      'upload-metadata': `filename ${Buffer.from(u.name).toString('base64')}`,
    });
    const loc = res.headers.get('location');
    if (!loc)
      throw new RunCellError('RUNCELL_ERR_UPLOAD', 'the server did not say where to upload', res.status);
    url = new URL(loc, o.url).toString();
    offset = 0;
    u.onCreated?.(url);
  }
  u.onProgress?.(offset, size);
  let conflicts = 0;
  while (offset < size) {
    const piece = data.subarray(offset, Math.min(size, offset + chunk));
    let res: Response;
    try {
      res = await call(
        o,
        'PATCH',
        url,
        { 'upload-offset': String(offset), 'content-type': 'application/offset+octet-stream' },
        piece,
      );
    } catch (e) {
      // After a cut connection the server may still be committing what arrived (409: the offset
      // moved on; 423: that request still holds the upload): ask where it stands and go on from there.
      if (!(e instanceof RunCellError) || (e.status !== 409 && e.status !== 423) || ++conflicts > 20) throw e;
      await new Promise((r) => setTimeout(r, Math.min(2000, 50 * 2 ** Math.min(conflicts, 6))));
      const head = await call(o, 'HEAD', url, {});
      offset = Number(head.headers.get('upload-offset') ?? offset);
      continue;
    }
    conflicts = 0;
    offset = Number(res.headers.get('upload-offset') ?? offset + piece.byteLength);
    u.onProgress?.(offset, size);
  }
  const id = new URL(url).pathname.split('/').pop() ?? '';
  return { id, url, size };
}
