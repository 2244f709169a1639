import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MissLimiter } from '../../../server/routes/permalinks.js';
import type { Store } from '../../../server/store/db.js';
import { encodeInline } from '../../../server/store/permalinks.js';
import { backends, buildApp, type TestDb } from '../store/helpers.js';

describe('MissLimiter', () => {
  it('refuses a client over its budget until the window ends', () => {
    const l = new MissLimiter({ max: 2, windowMs: 1000 });
    l.check('a', 0);
    l.miss('a', 0);
    l.miss('a', 10);
    expect(() => l.check('a', 20)).toThrow(expect.objectContaining({ statusCode: 429, retryAfter: 1 }));
    l.check('b', 20);
    l.check('a', 1000);
  });
});

describe.each(backends)('permalink routes on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  let app: FastifyInstance;
  beforeAll(async () => {
    db = await backend.create();
    store = await db.open();
    app = await buildApp(store, { missLimit: { max: 5, windowMs: 60_000 } });
  });
  afterAll(async () => {
    await app?.close();
    await store?.close();
    await db?.cleanup();
  });

  const evil = '</code></pre><script>alert(1)</script><img src=x onerror=alert(2)>';
  const post = (type: string, payload: string) =>
    app.inject({ method: 'POST', url: '/api/permalinks', headers: { 'content-type': type }, payload });

  it('creates and reads back a permalink (JSON, page, raw code)', async () => {
    const r = await app.inject({
      method: 'POST',
      url: '/api/permalinks',
      payload: {
        code: evil,
        kernel: 'python3',
        outputs: [{ output_type: 'stream', name: 'stdout', text: '<b>out</b>' }],
      },
    });
    expect(r.statusCode).toBe(201);
    const p = r.json();
    expect(p.id).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(p.url).toBe(`/p/${p.id}`);

    const j = await app.inject(`/api/permalinks/${p.id}`);
    expect(j.statusCode).toBe(200);
    expect(j.json()).toMatchObject({
      id: p.id,
      code: evil,
      kernel: 'python3',
      outputs: [{ text: '<b>out</b>' }],
    });
    expect(new Date(j.json().created).getTime()).toBeGreaterThan(0);

    const page = await app.inject(`/p/${p.id}`);
    expect(page.statusCode).toBe(200);
    expect(page.headers['content-type']).toBe('text/html; charset=utf-8');
    expect(page.headers['content-security-policy']).toMatch(/default-src 'none'/);
    expect(page.headers['content-security-policy']).not.toMatch(/unsafe-inline/);
    expect(page.headers['x-content-type-options']).toBe('nosniff');
    expect(page.body).not.toContain('<script>');
    expect(page.body).not.toContain('<img');
    expect(page.body).toContain('&lt;/code&gt;&lt;/pre&gt;&lt;script&gt;');
    expect(page.body).toContain('&lt;b&gt;out&lt;/b&gt;');

    const code = await app.inject(`/p/${p.id}/code`);
    expect(code.body).toBe(evil);
    expect(code.headers['content-type']).toBe('text/plain; charset=utf-8');
    expect(code.headers['x-content-type-options']).toBe('nosniff');
  });

  it('gives the same code and kernel the same id', async () => {
    const body = { code: 'print(2)', kernel: 'python3' };
    const rs = await Promise.all(
      Array.from({ length: 5 }, () => app.inject({ method: 'POST', url: '/api/permalinks', payload: body })),
    );
    expect(new Set(rs.map((r) => r.json().id)).size).toBe(1);
  });

  it('validates the request body', async () => {
    for (const payload of [
      { code: 'x' },
      { code: 'x', kernel: '../etc' },
      { code: 'x', kernel: 'python3', outputs: { a: 1 } },
    ]) {
      const r = await app.inject({ method: 'POST', url: '/api/permalinks', payload });
      expect(r.statusCode).toBe(400);
      expect(Object.keys(r.json()).sort()).toEqual(['code', 'message']);
    }
    const bad = await post('application/json', '{');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toMatch(/^RUNCELL_ERR_/);
  });

  it('answers the framework failures as every route does: 413 BODY_TOO_LARGE, 415 UNSUPPORTED_MEDIA_TYPE', async () => {
    // Over the route's own body limit (code + outputs + 64 KiB): the app-wide answer, not a store one.
    const big = await post(
      'application/json',
      JSON.stringify({ code: 'x'.repeat(3 * 1024 * 1024), kernel: 'python3' }),
    );
    expect(big.statusCode).toBe(413);
    expect(big.json()).toEqual({ code: 'RUNCELL_ERR_BODY_TOO_LARGE', message: expect.any(String) });
    expect(big.json().message).not.toMatch(/FST_/);
    const xml = await post('application/xml', '<code/>');
    expect(xml.statusCode).toBe(415);
    expect(xml.json().code).toBe('RUNCELL_ERR_UNSUPPORTED_MEDIA_TYPE');
  });

  it('serves the code-in-URL form without the database', async () => {
    const data = encodeInline({ kernel: 'python3', code: evil });
    const page = await app.inject(`/p/z/${data}`);
    expect(page.statusCode).toBe(200);
    expect(page.body).not.toContain('<script>');
    const code = await app.inject(`/p/z/${data}/code`);
    expect(code.body).toBe(evil);
    const bad = await app.inject('/p/z/!!!');
    expect(bad.statusCode).toBe(400);
    expect(bad.json()).toMatchObject({ code: expect.stringMatching(/^RUNCELL_ERR_/) });
  });

  it('answers unknown ids with 404 JSON, then 429 + Retry-After per client', async () => {
    const headers = { 'x-forwarded-for': 'ignored' };
    for (let i = 0; i < 5; i++) {
      const r = await app.inject({
        url: `/api/permalinks/AAAAAAAAAAAAAAA${i}`,
        headers,
        remoteAddress: '203.0.113.50',
      });
      expect(r.statusCode).toBe(404);
      expect(r.json()).toEqual({ code: 'RUNCELL_ERR_PERMALINK_NOT_FOUND', message: 'No such permalink' });
    }
    const r = await app.inject({ url: '/p/AAAAAAAAAAAAAAAA', remoteAddress: '203.0.113.50' });
    expect(r.statusCode).toBe(429);
    expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
    expect(r.json().code).toBe('RUNCELL_ERR_RATE_LIMITED');
    // Another client is unaffected.
    const other = await app.inject({
      url: '/api/permalinks/AAAAAAAAAAAAAAAA',
      remoteAddress: '203.0.113.51',
    });
    expect(other.statusCode).toBe(404);
  });
});
