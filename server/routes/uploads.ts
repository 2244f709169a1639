// tus 1.0.0 resumable uploads (https://tus.io/protocols/resumable-upload), extensions creation,
// termination and checksum (sha1, sha256); the data goes to the database (store/uploads.ts).
//   OPTIONS /api/uploads        capabilities
//   POST    /api/uploads        creation: Upload-Length (+ Upload-Metadata) -> 201 Location
//   HEAD    /api/uploads/:id    Upload-Offset / Upload-Length, never cached
//   PATCH   /api/uploads/:id    application/offset+octet-stream at Upload-Offset -> 204 Upload-Offset
//   DELETE  /api/uploads/:id    termination -> 204
// Register as: app.register(uploadRoutes, { store, limits }).
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { allowPreflight } from '../cors.js';
import {
  BadRequest,
  TusVersionError,
  UploadContentTypeError,
  UploadNotFoundError,
  UploadTooLargeError,
} from '../errors.js';
import type { Store } from '../store/db.js';
import { safeFileName } from '../store/filename.js';
import type { ChecksumAlgorithm, UploadInfo } from '../store/uploads.js';

export interface UploadLimits {
  /** Largest single upload (Tus-Max-Size). */
  maxFileBytes: number;
  /** Total bytes one client may create within `clientWindowMs`. */
  clientMaxBytes: number;
  clientWindowMs: number;
}

export const defaultUploadLimits: UploadLimits = {
  maxFileBytes: 100 * 1024 * 1024,
  clientMaxBytes: 1024 * 1024 * 1024,
  clientWindowMs: 24 * 3600 * 1000,
};

export interface UploadRoutesOptions {
  store: Store;
  limits?: Partial<UploadLimits>;
}

/** Response headers a browser tus client must read: for the server's CORS expose list. */
export const tusExposedHeaders = [
  'location',
  'upload-offset',
  'upload-length',
  'upload-metadata',
  'tus-resumable',
  'tus-version',
  'tus-max-size',
  'tus-extension',
  'tus-checksum-algorithm',
] as const;

const tusVersion = '1.0.0';
const maxMetadataChars = 4096;

/** tus Upload-Metadata: comma-separated "key base64value" pairs (value optional); keys unique. */
export function parseMetadata(header: string | undefined): Record<string, string> {
  const out: Record<string, string> = {};
  if (header === undefined || header.trim() === '') return out;
  if (header.length > maxMetadataChars) throw new BadRequest('Upload-Metadata too long');
  for (const pair of header.split(',')) {
    const [key, value, extra] = pair.trim().split(' ');
    if (!key || extra !== undefined || !/^[\x21-\x7e]+$/.test(key) || key in out || key === '__proto__')
      throw new BadRequest('malformed Upload-Metadata');
    if (value !== undefined && !/^[A-Za-z0-9+/]*={0,2}$/.test(value))
      throw new BadRequest('malformed Upload-Metadata');
    out[key] = value === undefined ? '' : Buffer.from(value, 'base64').toString('utf8');
  }
  return out;
}

export function formatMetadata(metadata: Record<string, string>): string {
  return Object.entries(metadata)
    .map(([k, v]) => (v === '' ? k : `${k} ${Buffer.from(v).toString('base64')}`))
    .join(',');
}

/** A non-negative integer header, or a 400. */
function intHeader(request: FastifyRequest, name: string): number {
  const v = request.headers[name];
  if (typeof v !== 'string' || !/^\d{1,15}$/.test(v)) throw new BadRequest(`missing or invalid ${name}`);
  return Number(v);
}

/** tus checksum extension: "Upload-Checksum: <algorithm> <base64 digest>". */
function checksumHeader(
  request: FastifyRequest,
): { algorithm: ChecksumAlgorithm; digest: Buffer } | undefined {
  const v = request.headers['upload-checksum'];
  if (v === undefined) return undefined;
  const m = typeof v === 'string' ? /^(sha1|sha256) ([A-Za-z0-9+/]+={0,2})$/.exec(v.trim()) : null;
  if (!m) throw new BadRequest('unsupported or malformed Upload-Checksum');
  return { algorithm: m[1] as ChecksumAlgorithm, digest: Buffer.from(m[2] as string, 'base64') };
}

function offsetHeaders(reply: FastifyReply, info: UploadInfo): FastifyReply {
  return reply.header('upload-offset', String(info.offset)).header('upload-length', String(info.length));
}

export const uploadRoutes: FastifyPluginAsyncTypebox<UploadRoutesOptions> = async (app, opts) => {
  const { store } = opts;
  const limits = { ...defaultUploadLimits, ...opts.limits };

  // PATCH bodies are streamed to the store as they arrive: no parser reads them (so no body limit
  // applies here; Upload-Length bounds them). Other types are left unread too, and refused below.
  app.removeAllContentTypeParsers();
  app.addContentTypeParser('*', (_request, _payload, done) => done(null));

  // tus §Tus-Resumable: every request but OPTIONS carries the version; every response does too.
  app.addHook('onRequest', async (request, reply) => {
    reply.header('tus-resumable', tusVersion).header('cache-control', 'no-store');
    if (request.method === 'OPTIONS') return;
    if (request.headers['tus-resumable'] !== tusVersion) {
      reply.header('tus-version', tusVersion);
      throw new TusVersionError();
    }
  });

  // Also the browser's CORS preflight for a cross-origin upload (the Origin was checked on the way in).
  const options = async (request: FastifyRequest, reply: FastifyReply) =>
    allowPreflight(reply, request.headers['access-control-request-method'])
      .code(204)
      .header('tus-version', tusVersion)
      .header('tus-max-size', String(limits.maxFileBytes))
      .header('tus-extension', 'creation,termination,checksum')
      .header('tus-checksum-algorithm', 'sha1,sha256')
      .send();
  app.options('/api/uploads', options);
  app.options('/api/uploads/:id', options);

  // tus §creation
  app.post('/api/uploads', async (request, reply) => {
    if (request.headers['upload-defer-length'] !== undefined)
      throw new BadRequest('Upload-Defer-Length is not supported');
    const length = intHeader(request, 'upload-length');
    if (length > limits.maxFileBytes)
      throw new UploadTooLargeError(
        `the limit is ${limits.maxFileBytes} bytes (RUNCELL_UPLOAD_MAX_BYTES; the operator can raise it)`,
      );
    const metadata = parseMetadata(request.headers['upload-metadata'] as string | undefined);
    if (metadata.filename !== undefined) metadata.filename = safeFileName(metadata.filename);
    const info = await store.uploads.create({
      length,
      metadata,
      clientHash: store.hashClient(request.ip),
      quota: { maxBytes: limits.clientMaxBytes, windowMs: limits.clientWindowMs },
    });
    const base = (request.url.split('?')[0] ?? '').replace(/\/+$/, '');
    return reply
      .code(201)
      .header('location', `${base}/${info.id}`)
      .header('upload-offset', String(info.offset))
      .send();
  });

  // tus §HEAD: the committed offset; 404 for unknown (or terminated) uploads.
  app.head<{ Params: { id: string } }>('/api/uploads/:id', async (request, reply) => {
    const info = await store.uploads.get(request.params.id);
    if (!info) throw new UploadNotFoundError();
    offsetHeaders(reply, info);
    if (Object.keys(info.metadata).length) reply.header('upload-metadata', formatMetadata(info.metadata));
    return reply.code(200).send();
  });

  // tus §PATCH
  app.patch<{ Params: { id: string } }>('/api/uploads/:id', async (request, reply) => {
    if (request.headers['content-type'] !== 'application/offset+octet-stream')
      throw new UploadContentTypeError();
    const offset = intHeader(request, 'upload-offset');
    const checksum = checksumHeader(request);
    const info = await store.uploads.write(request.params.id, { offset, body: request.raw, checksum });
    return offsetHeaders(reply, info).code(204).send();
  });

  // tus §termination
  app.delete<{ Params: { id: string } }>('/api/uploads/:id', async (request, reply) => {
    if (!(await store.uploads.remove(request.params.id))) throw new UploadNotFoundError();
    return reply.code(204).send();
  });
};
