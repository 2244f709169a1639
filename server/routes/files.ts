// GET /files/:id/:name: files a kernel wrote, from the content-addressed store.
// The bytes are untrusted: nosniff always; only types a browser renders passively (images, plain
// text, JSON, audio, video) are inline; HTML, SVG, XML and anything unknown is an attachment,
// under a CSP sandbox. With a separate content origin configured, active types are served inline
// there only (sandboxed, without same-origin), and requests for them elsewhere are redirected.
// ETag is the sha256; Range per RFC 9110 §14 (one range; several are answered with the whole file).
// Register as: app.register(fileRoutes, { store, contentOrigin? }).
import { Readable } from 'node:stream';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import { Type } from 'typebox';
import { FileNotFoundError, RangeNotSatisfiableError } from '../errors.js';
import type { FileInfo } from '../store/blobs.js';
import type { Store } from '../store/db.js';

export interface FileRoutesOptions {
  store: Store;
  /** e.g. https://usercontent.example.org: where HTML and SVG may render (sandboxed). */
  contentOrigin?: string | undefined;
}

const Params = Type.Object({ id: Type.String({ maxLength: 64 }), name: Type.String({ maxLength: 1024 }) });

const passive = new Set([
  'image/png',
  'image/jpeg',
  'image/gif',
  'image/webp',
  'image/avif',
  'image/bmp',
  'text/plain',
  'text/csv',
  'application/json',
]);
const active = new Set([
  'text/html',
  'image/svg+xml',
  'application/xhtml+xml',
  'text/xml',
  'application/xml',
]);
const mediaTypePattern = /^[a-z0-9][a-z0-9!#$&^_.+-]{0,126}\/[a-z0-9][a-z0-9!#$&^_.+-]{0,126}$/;

/** The media type as sent, lower-cased; anything malformed becomes application/octet-stream. */
export function essence(mediaType: string): string {
  const t = (mediaType.split(';')[0] ?? '').trim().toLowerCase();
  return mediaTypePattern.test(t) ? t : 'application/octet-stream';
}

function isPassive(type: string): boolean {
  return passive.has(type) || /^(audio|video)\/[a-z0-9.+-]+$/.test(type);
}

/** RFC 6266 / RFC 8187: an ASCII fallback plus the UTF-8 name. */
export function contentDisposition(kind: 'inline' | 'attachment', name: string): string {
  const fallback = name.replace(/[^\x20-\x7e]|["\\%]/g, '_');
  const encoded = encodeURIComponent(name).replace(
    /['()*]/g,
    (c) => `%${c.charCodeAt(0).toString(16).toUpperCase()}`,
  );
  return `${kind}; filename="${fallback}"; filename*=UTF-8''${encoded}`;
}

/**
 * Parses a Range header against `size`. Returns null to serve the whole file (no header, another
 * unit, several ranges, or syntax we ignore), a [start, end] pair, or 'unsatisfiable'.
 */
export function parseRange(
  header: string | undefined,
  size: number,
): [number, number] | null | 'unsatisfiable' {
  if (!header) return null;
  const m = /^bytes=(\d*)-(\d*)$/.exec(header.trim());
  if (!m) return null;
  const [, a = '', b = ''] = m;
  if (a === '' && b === '') return null;
  if (a === '') {
    // Suffix range: the last N bytes.
    const n = Number(b);
    if (n === 0) return 'unsatisfiable';
    return size === 0 ? 'unsatisfiable' : [Math.max(0, size - n), size - 1];
  }
  const start = Number(a);
  const end = b === '' ? size - 1 : Math.min(Number(b), size - 1);
  if (b !== '' && Number(b) < start) return null;
  if (start >= size) return 'unsatisfiable';
  return [start, end];
}

function etagOf(f: FileInfo): string {
  return `"${f.sha256}"`;
}

/** If-None-Match: any listed tag (weak comparison) or '*'. */
function matches(header: string | undefined, etag: string): boolean {
  if (!header) return false;
  if (header.trim() === '*') return true;
  return header.split(',').some((t) => t.trim().replace(/^W\//, '') === etag);
}

export const fileRoutes: FastifyPluginAsyncTypebox<FileRoutesOptions> = async (app, opts) => {
  const { store } = opts;
  const contentHost = opts.contentOrigin ? new URL(opts.contentOrigin).host : null;

  app.get('/files/:id/:name', { schema: { params: Params } }, async (request, reply) => {
    const { id, name } = request.params;
    const file = await store.files.get(id);
    if (!file || file.name.normalize('NFC') !== name.normalize('NFC')) throw new FileNotFoundError();

    const type = essence(file.mediaType);
    const onContentOrigin = contentHost !== null && request.host === contentHost;
    if (contentHost && !onContentOrigin && active.has(type)) {
      return reply.redirect(new URL(request.url, opts.contentOrigin).toString(), 302);
    }
    const inline = isPassive(type) || (onContentOrigin && active.has(type));
    const etag = etagOf(file);
    reply
      .header('etag', etag)
      .header('x-content-type-options', 'nosniff')
      .header('accept-ranges', 'bytes')
      .header('cache-control', 'private, max-age=86400, immutable')
      .header('cross-origin-resource-policy', 'cross-origin')
      // Sandboxed without allow-same-origin: even rendered, the content gets an opaque origin.
      .header(
        'content-security-policy',
        onContentOrigin ? 'sandbox allow-scripts' : "default-src 'none'; sandbox",
      )
      .header('content-disposition', contentDisposition(inline ? 'inline' : 'attachment', file.name));
    if (matches(request.headers['if-none-match'], etag)) return reply.code(304).send();

    const ifRange = request.headers['if-range'];
    const range = ifRange && ifRange !== etag ? null : parseRange(request.headers.range, file.size);
    if (range === 'unsatisfiable') {
      reply.header('content-range', `bytes */${file.size}`).removeHeader('content-disposition');
      throw new RangeNotSatisfiableError();
    }
    const [start, end] = range ?? [0, file.size - 1];
    const length = file.size === 0 ? 0 : end - start + 1;
    if (range) reply.code(206).header('content-range', `bytes ${start}-${end}/${file.size}`);
    reply
      .type(inline || active.has(type) ? type : 'application/octet-stream')
      .header('content-length', length);
    if (request.method === 'HEAD' || length === 0) return reply.send();
    return reply.send(Readable.from(store.files.read(id, start, end)));
  });
};
