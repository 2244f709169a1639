import { randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { contentDisposition, parseRange } from '../../../server/routes/files.js';
import type { FileInfo } from '../../../server/store/blobs.js';
import type { Store } from '../../../server/store/db.js';
import { backends, buildApp, type TestDb } from '../store/helpers.js';

describe('Range and Content-Disposition', () => {
  it('parses single byte ranges (RFC 9110 §14.1.2)', () => {
    expect(parseRange(undefined, 10)).toBeNull();
    expect(parseRange('bytes=0-4', 10)).toEqual([0, 4]);
    expect(parseRange('bytes=5-', 10)).toEqual([5, 9]);
    expect(parseRange('bytes=-3', 10)).toEqual([7, 9]);
    expect(parseRange('bytes=-30', 10)).toEqual([0, 9]);
    expect(parseRange('bytes=8-100', 10)).toEqual([8, 9]);
    expect(parseRange('bytes=10-', 10)).toBe('unsatisfiable');
    expect(parseRange('bytes=0-1,3-4', 10)).toBeNull();
    expect(parseRange('items=0-1', 10)).toBeNull();
    expect(parseRange('bytes=5-2', 10)).toBeNull();
  });

  it('quotes names safely', () => {
    expect(contentDisposition('attachment', 'a"b\\c.html')).toBe(
      `attachment; filename="a_b_c.html"; filename*=UTF-8''a%22b%5Cc.html`,
    );
    expect(contentDisposition('inline', 'é.png')).toBe(
      `inline; filename="_.png"; filename*=UTF-8''%C3%A9.png`,
    );
  });
});

describe.each(backends)('file routes on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  let app: FastifyInstance;
  let png: FileInfo;
  let html: FileInfo;
  let unknown: FileInfo;
  const data = randomBytes(3000);
  beforeAll(async () => {
    db = await backend.create();
    store = await db.open({ chunkBytes: 1024 });
    app = await buildApp(store);
    png = await store.files.put({ name: 'plot.png', mediaType: 'image/png', data });
    html = await store.files.put({
      name: 'page.html',
      mediaType: 'text/html; charset=utf-8',
      data: Buffer.from('<script>alert(1)</script>'),
    });
    unknown = await store.files.put({ name: 'x.weird', mediaType: 'bogus type!', data: Buffer.from('?') });
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await db?.cleanup();
  });

  it('serves passive types inline with ETag and nosniff', async () => {
    const r = await app.inject(`/files/${png.id}/plot.png`);
    expect(r.statusCode).toBe(200);
    expect(r.rawPayload.equals(data)).toBe(true);
    expect(r.headers['content-type']).toBe('image/png');
    expect(r.headers['content-length']).toBe('3000');
    expect(r.headers.etag).toBe(`"${png.sha256}"`);
    expect(r.headers['x-content-type-options']).toBe('nosniff');
    expect(r.headers['content-disposition']).toMatch(/^inline;/);
    expect(r.headers['accept-ranges']).toBe('bytes');
    const again = await app.inject({
      url: `/files/${png.id}/plot.png`,
      headers: { 'if-none-match': `W/"x", "${png.sha256}"` },
    });
    expect(again.statusCode).toBe(304);
    expect(again.body).toBe('');
    const head = await app.inject({ method: 'HEAD', url: `/files/${png.id}/plot.png` });
    expect(head.statusCode).toBe(200);
    expect(head.body).toBe('');
  });

  it('serves HTML, SVG and unknown types as sandboxed attachments', async () => {
    const r = await app.inject(`/files/${html.id}/page.html`);
    expect(r.headers['content-disposition']).toMatch(/^attachment;/);
    expect(r.headers['content-security-policy']).toMatch(/sandbox/);
    const u = await app.inject(`/files/${unknown.id}/x.weird`);
    expect(u.headers['content-type']).toBe('application/octet-stream');
    expect(u.headers['content-disposition']).toMatch(/^attachment;/);
  });

  it('answers ranges with 206 and impossible ones with 416', async () => {
    let r = await app.inject({ url: `/files/${png.id}/plot.png`, headers: { range: 'bytes=1000-2099' } });
    expect(r.statusCode).toBe(206);
    expect(r.headers['content-range']).toBe('bytes 1000-2099/3000');
    expect(r.rawPayload.equals(data.subarray(1000, 2100))).toBe(true);
    r = await app.inject({ url: `/files/${png.id}/plot.png`, headers: { range: 'bytes=-10' } });
    expect(r.rawPayload.equals(data.subarray(2990))).toBe(true);
    r = await app.inject({
      url: `/files/${png.id}/plot.png`,
      headers: { range: 'bytes=0-0', 'if-range': '"other"' },
    });
    expect(r.statusCode).toBe(200);
    r = await app.inject({ url: `/files/${png.id}/plot.png`, headers: { range: 'bytes=5000-' } });
    expect(r.statusCode).toBe(416);
    expect(r.headers['content-range']).toBe('bytes */3000');
    expect(r.json().code).toBe('RUNCELL_ERR_RANGE_NOT_SATISFIABLE');
  });

  it('answers 404 JSON for unknown ids and wrong names', async () => {
    for (const url of [
      `/files/${png.id}/other.png`,
      '/files/AAAAAAAAAAAAAAAAAAAAAA/plot.png',
      '/files/..%2F..%2Fetc/passwd',
    ]) {
      const r = await app.inject(url);
      expect(r.statusCode).toBe(404);
      expect(r.json()).toMatchObject({ code: expect.stringMatching(/^RUNCELL_ERR_|^FST_/) });
    }
  });

  it('redirects active types to the content origin, which renders them sandboxed', async () => {
    const app2 = await buildApp(store, { contentOrigin: 'https://usercontent.example' });
    try {
      const r = await app2.inject(`/files/${html.id}/page.html`);
      expect(r.statusCode).toBe(302);
      expect(r.headers.location).toBe(`https://usercontent.example/files/${html.id}/page.html`);
      const c = await app2.inject({
        url: `/files/${html.id}/page.html`,
        headers: { host: 'usercontent.example' },
      });
      expect(c.statusCode).toBe(200);
      expect(c.headers['content-disposition']).toMatch(/^inline;/);
      expect(c.headers['content-security-policy']).toBe('sandbox allow-scripts');
      const p = await app2.inject(`/files/${png.id}/plot.png`);
      expect(p.statusCode).toBe(200);
    } finally {
      await app2.close();
    }
  });
});
