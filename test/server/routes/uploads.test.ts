// tus 1.0 over the routes: protocol details through inject(), and a real socket cut off at 40%
// then resumed from the server's offset, ending byte-identical.
import { createHash, randomBytes } from 'node:crypto';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { formatMetadata, parseMetadata } from '../../../server/routes/uploads.js';
import type { Store } from '../../../server/store/db.js';
import { backends, buildApp, collect, type TestDb } from '../store/helpers.js';

const tus = { 'tus-resumable': '1.0.0' };
const b64 = (s: string) => Buffer.from(s).toString('base64');

describe('Upload-Metadata', () => {
  it('parses and formats tus metadata', () => {
    const m = parseMetadata(
      `filename ${b64('résumé.pdf')},is_confidential,filetype ${b64('application/pdf')}`,
    );
    expect(m).toEqual({ filename: 'résumé.pdf', is_confidential: '', filetype: 'application/pdf' });
    expect(parseMetadata(formatMetadata(m))).toEqual(m);
    expect(() => parseMetadata('a x,a y')).toThrow(/Upload-Metadata/);
    expect(() => parseMetadata('__proto__ eA==')).toThrow(/Upload-Metadata/);
    expect(() => parseMetadata('a b c')).toThrow(/Upload-Metadata/);
  });
});

describe.each(backends)('tus uploads on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  let app: FastifyInstance;
  let base: string;
  beforeAll(async () => {
    db = await backend.create();
    store = await db.open({ chunkBytes: 64 * 1024 });
    app = await buildApp(store, {
      limits: { maxFileBytes: 8 * 1024 * 1024, clientMaxBytes: 12 * 1024 * 1024 },
    });
    await app.listen({ port: 0, host: '127.0.0.1' });
    base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await db?.cleanup();
  });

  async function create(length: number, metadata?: string): Promise<string> {
    const r = await app.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: {
        ...tus,
        'upload-length': String(length),
        ...(metadata ? { 'upload-metadata': metadata } : {}),
      },
    });
    expect(r.statusCode).toBe(201);
    expect(r.headers['tus-resumable']).toBe('1.0.0');
    return r.headers.location as string;
  }

  const patch = (url: string, offset: number, body: Buffer, headers: Record<string, string> = {}) =>
    app.inject({
      method: 'PATCH',
      url,
      headers: {
        ...tus,
        'content-type': 'application/offset+octet-stream',
        'upload-offset': String(offset),
        ...headers,
      },
      payload: body,
    });

  it('advertises its capabilities', async () => {
    const r = await app.inject({ method: 'OPTIONS', url: '/api/uploads' });
    expect(r.statusCode).toBe(204);
    expect(r.headers['tus-version']).toBe('1.0.0');
    expect(r.headers['tus-extension']).toBe('creation,termination,checksum');
    expect(r.headers['tus-checksum-algorithm']).toBe('sha1,sha256');
    expect(r.headers['tus-max-size']).toBe(String(8 * 1024 * 1024));
  });

  it('creates, appends, reports offsets, completes and reads back', async () => {
    const data = randomBytes(150_000);
    const url = await create(data.length, `filename ${b64('data.bin')}`);
    expect(url).toMatch(/^\/api\/uploads\/[A-Za-z0-9_-]{22}$/);
    let r = await patch(url, 0, data.subarray(0, 70_000));
    expect(r.statusCode).toBe(204);
    expect(r.headers['upload-offset']).toBe('70000');
    r = await app.inject({ method: 'HEAD', url, headers: tus });
    expect(r.statusCode).toBe(200);
    expect(r.headers['upload-offset']).toBe('70000');
    expect(r.headers['upload-length']).toBe(String(data.length));
    expect(r.headers['cache-control']).toBe('no-store');
    expect(parseMetadata(r.headers['upload-metadata'] as string)).toEqual({ filename: 'data.bin' });
    // Wrong offset: 409 with JSON.
    r = await patch(url, 0, data.subarray(0, 10));
    expect(r.statusCode).toBe(409);
    expect(r.json()).toMatchObject({ code: 'RUNCELL_ERR_UPLOAD_OFFSET_MISMATCH' });
    r = await patch(url, 70_000, data.subarray(70_000));
    expect(r.statusCode).toBe(204);
    expect(r.headers['upload-offset']).toBe(String(data.length));
    const { info, data: stream } = await store.uploads.read(url.split('/').pop() as string);
    expect(info.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect(info.metadata.filename).toBe('data.bin');
    expect((await collect(stream)).equals(data)).toBe(true);
  });

  it('verifies Upload-Checksum (sha1, sha256) and discards a mismatching body', async () => {
    const data = randomBytes(1000);
    const url = await create(data.length);
    let r = await patch(url, 0, data.subarray(0, 500), {
      'upload-checksum': `sha256 ${createHash('sha256').update('x').digest('base64')}`,
    });
    expect(r.statusCode).toBe(460);
    expect(r.json()).toMatchObject({ code: 'RUNCELL_ERR_UPLOAD_CHECKSUM_MISMATCH' });
    r = await app.inject({ method: 'HEAD', url, headers: tus });
    expect(r.headers['upload-offset']).toBe('0');
    r = await patch(url, 0, data.subarray(0, 500), {
      'upload-checksum': `sha1 ${createHash('sha1').update(data.subarray(0, 500)).digest('base64')}`,
    });
    expect(r.statusCode).toBe(204);
    r = await patch(url, 500, data.subarray(500), { 'upload-checksum': 'md5 AAAA' });
    expect(r.statusCode).toBe(400);
    r = await patch(url, 500, data.subarray(500), {
      'upload-checksum': `sha256 ${createHash('sha256').update(data.subarray(500)).digest('base64')}`,
    });
    expect(r.statusCode).toBe(204);
    expect(r.headers['upload-offset']).toBe('1000');
  });

  it('refuses what the protocol and the limits refuse', async () => {
    let r = await app.inject({ method: 'POST', url: '/api/uploads', headers: { 'upload-length': '10' } });
    expect(r.statusCode).toBe(412);
    expect(r.headers['tus-version']).toBe('1.0.0');
    expect(r.json()).toMatchObject({ code: 'RUNCELL_ERR_TUS_VERSION' });
    r = await app.inject({ method: 'POST', url: '/api/uploads', headers: tus });
    expect(r.statusCode).toBe(400);
    r = await app.inject({ method: 'POST', url: '/api/uploads', headers: { ...tus, 'upload-length': '-1' } });
    expect(r.statusCode).toBe(400);
    r = await app.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...tus, 'upload-length': String(9 * 1024 * 1024) },
    });
    expect(r.statusCode).toBe(413);
    expect(r.json()).toMatchObject({ code: 'RUNCELL_ERR_UPLOAD_TOO_LARGE' });
    const url = await create(10);
    r = await app.inject({
      method: 'PATCH',
      url,
      headers: { ...tus, 'content-type': 'application/json', 'upload-offset': '0' },
      payload: '{}',
    });
    expect(r.statusCode).toBe(415);
    r = await patch(url, 0, Buffer.alloc(11));
    expect(r.statusCode).toBe(413);
    r = await app.inject({ method: 'HEAD', url: '/api/uploads/AAAAAAAAAAAAAAAAAAAAAA', headers: tus });
    expect(r.statusCode).toBe(404);
    r = await patch('/api/uploads/nope', 0, Buffer.alloc(1));
    expect(r.json()).toMatchObject({ code: 'RUNCELL_ERR_UPLOAD_NOT_FOUND' });
  });

  it('refuses traversal and control characters in file names', async () => {
    for (const name of [
      '../../etc/passwd',
      'a/b',
      '.hidden',
      'x\u0000y',
      'evil\u202Etxt.exe',
      'line\nbreak',
    ]) {
      const r = await app.inject({
        method: 'POST',
        url: '/api/uploads',
        headers: { ...tus, 'upload-length': '1', 'upload-metadata': `filename ${b64(name)}` },
      });
      expect(r.statusCode).toBe(400);
      expect(r.json()).toMatchObject({ code: 'RUNCELL_ERR_INVALID_FILE_NAME' });
    }
  });

  it('enforces the per-client quota', async () => {
    const big = 5 * 1024 * 1024;
    // Earlier tests used a little; two of these fit in 12 MiB, a third does not.
    await create(big);
    const r = await app.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...tus, 'upload-length': String(big) },
    });
    expect(r.statusCode).toBe(201);
    const r3 = await app.inject({
      method: 'POST',
      url: '/api/uploads',
      headers: { ...tus, 'upload-length': String(big) },
    });
    expect(r3.statusCode).toBe(413);
    expect(r3.json()).toMatchObject({ code: 'RUNCELL_ERR_UPLOAD_QUOTA' });
    // Termination frees the upload (and its data).
    const d = await app.inject({ method: 'DELETE', url: r.headers.location as string, headers: tus });
    expect(d.statusCode).toBe(204);
    const h = await app.inject({ method: 'HEAD', url: r.headers.location as string, headers: tus });
    expect(h.statusCode).toBe(404);
  });

  it('resumes an upload cut off at 40% and ends byte-identical', async () => {
    const data = randomBytes(1024 * 1024);
    const url = await create(data.length);
    const cut = Math.floor(data.length * 0.4);
    // Send 40% of the body over a real socket, then destroy the connection mid-request.
    await new Promise<void>((resolve) => {
      const req = http.request(`${base}${url}`, {
        method: 'PATCH',
        headers: {
          ...tus,
          'content-type': 'application/offset+octet-stream',
          'upload-offset': '0',
          'content-length': String(data.length),
        },
      });
      req.on('error', () => resolve());
      req.write(data.subarray(0, cut), () => setTimeout(() => req.destroy(), 100));
    });
    // The server keeps what it received: HEAD settles on the committed offset.
    let offset = -1;
    await expect
      .poll(
        async () => {
          const r = await fetch(`${base}${url}`, { method: 'HEAD', headers: tus });
          const o = Number(r.headers.get('upload-offset'));
          const stable = o === offset;
          offset = o;
          return stable && o > 0;
        },
        { timeout: 5000, interval: 100 },
      )
      .toBe(true);
    expect(offset).toBe(cut);
    const r = await fetch(`${base}${url}`, {
      method: 'PATCH',
      headers: { ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) },
      body: data.subarray(offset),
    });
    expect(r.status).toBe(204);
    expect(r.headers.get('upload-offset')).toBe(String(data.length));
    const { info, data: stream } = await store.uploads.read(url.split('/').pop() as string);
    expect(info.sha256).toBe(createHash('sha256').update(data).digest('hex'));
    expect((await collect(stream)).equals(data)).toBe(true);
  });
});
