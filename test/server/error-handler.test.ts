// The one error handler on a bare Fastify app: every kind of failure becomes { code, message } with
// the catalogue's status, and nothing of a stack, a host path or a database address reaches the body.
import { Writable } from 'node:stream';
import Fastify, { type FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelManagerError, type KernelManagerErrorCode } from '../../kernel-manager/index.js';
import { installErrorHandler } from '../../server/error-handler.js';
import { NoSuchKernel, PermalinkTooLargeError, withRetryAfter } from '../../server/errors.js';

describe('error handler', () => {
  let app: FastifyInstance;
  const logged: { level: number; err?: { message?: string }; msg: string }[] = [];
  let thrown: unknown;
  beforeAll(async () => {
    const sink = new Writable({
      write(chunk, _enc, done) {
        logged.push(JSON.parse(String(chunk)));
        done();
      },
    });
    app = Fastify({
      loggerInstance: pino({ level: 'info' }, sink),
      bodyLimit: 1024,
    }) as unknown as FastifyInstance;
    installErrorHandler(app);
    app.get('/throw', async () => {
      throw thrown;
    });
    app.post('/echo', { schema: { body: { type: 'object', required: ['a'] } } }, async (req) => req.body);
    // A plugin of its own, as the store's routes are: the app's handler still answers for it.
    await app.register(async (scope) => {
      scope.post('/scoped', { bodyLimit: 100 }, async () => ({ ok: true }));
    });
    await app.ready();
  });
  afterAll(() => app.close());

  const fail = async (err: unknown) => {
    thrown = err;
    logged.length = 0;
    const r = await app.inject('/throw');
    expect(Object.keys(r.json()).sort()).toEqual(['code', 'message']);
    expect(r.headers['cache-control']).toBe('no-store');
    return r;
  };
  const post = (url: string, type: string, payload: string) =>
    app.inject({ method: 'POST', url, headers: { 'content-type': type }, payload });
  const errno = (code: string, syscall: string) =>
    Object.assign(new Error(`connect ${code} /var/run/postgresql/.s.PGSQL.5432`), { code, syscall });

  it('passes the catalogue errors through, with Retry-After when they carry one', async () => {
    const r = await fail(new NoSuchKernel('no kernel abc'));
    expect(r.statusCode).toBe(404);
    expect(r.json()).toEqual({ code: 'RUNCELL_ERR_NO_SUCH_KERNEL', message: 'no kernel abc' });
    const t = await fail(withRetryAfter(new PermalinkTooLargeError('code'), 2.2));
    expect(t.statusCode).toBe(413);
    expect(t.headers['retry-after']).toBe('3');
  });

  it('answers a body over the limit 413 BODY_TOO_LARGE, on every route, with the limit that applied', async () => {
    for (const [url, limit] of [
      ['/echo', 1024],
      ['/scoped', 100],
    ] as const) {
      const r = await post(url, 'application/json', JSON.stringify({ a: 'x'.repeat(2000) }));
      expect(r.statusCode, url).toBe(413);
      expect(r.json()).toEqual({
        code: 'RUNCELL_ERR_BODY_TOO_LARGE',
        message: `the body is larger than ${limit} bytes`,
      });
    }
  });

  it('answers schema failures 400, unread media types 415, other framework client errors 400', async () => {
    const invalid = await app.inject({ method: 'POST', url: '/echo', payload: { b: 1 } });
    expect(invalid.statusCode).toBe(400);
    expect(invalid.json().code).toBe('RUNCELL_ERR_BAD_REQUEST');
    expect(invalid.json().message).toMatch(/^invalid request: /);
    const xml = await post('/echo', 'application/xml', '<a/>');
    expect(xml.statusCode).toBe(415);
    expect(xml.json().code).toBe('RUNCELL_ERR_UNSUPPORTED_MEDIA_TYPE');
    const broken = await post('/echo', 'application/json', '{');
    expect(broken.statusCode).toBe(400);
    expect(broken.json().code).toBe('RUNCELL_ERR_BAD_REQUEST');
  });

  it('answers an unreachable database 503 STORE_UNAVAILABLE with Retry-After, wherever it is thrown', async () => {
    for (const err of [
      errno('ECONNREFUSED', 'connect'),
      Object.assign(new Error('write CONNECTION_CLOSED 127.0.0.1:5432'), { code: 'CONNECTION_CLOSED' }),
      Object.assign(new Error('the database system is shutting down'), { code: '57P01' }),
      new AggregateError([errno('ECONNREFUSED', 'connect')], 'all failed'),
      errno('ENOENT', 'connect'),
    ]) {
      const r = await fail(err);
      expect(r.statusCode).toBe(503);
      expect(r.json()).toEqual({ code: 'RUNCELL_ERR_STORE_UNAVAILABLE', message: expect.any(String) });
      expect(r.body).not.toMatch(/127\.0\.0\.1|\/var\/run|ECONN/);
      expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
      expect(logged.some((l) => l.level === 50 && l.err?.message === err.message)).toBe(true);
    }
  });

  it('answers a full disk 507 STORE_FULL', async () => {
    const r = await fail(Object.assign(new Error('could not extend file'), { code: '53100' }));
    expect(r.statusCode).toBe(507);
    expect(r.json().code).toBe('RUNCELL_ERR_STORE_FULL');
  });

  it("maps kernel-manager's codes", async () => {
    const cases: [KernelManagerErrorCode, number, string][] = [
      ['NO_SUCH_SPEC', 400, 'RUNCELL_ERR_UNKNOWN_KERNEL_NAME'],
      ['CAPACITY', 503, 'RUNCELL_ERR_AT_CAPACITY'],
      ['QUEUE_TIMEOUT', 503, 'RUNCELL_ERR_AT_CAPACITY'],
      ['START_FAILED', 500, 'RUNCELL_ERR_KERNEL_START_FAILED'],
      ['DEAD', 409, 'RUNCELL_ERR_KERNEL_DEAD'],
      ['BUSY', 429, 'RUNCELL_ERR_RATE_LIMITED'],
      ['CLOSED', 503, 'RUNCELL_ERR_SHUTTING_DOWN'],
      ['FILE_REFUSED', 409, 'RUNCELL_ERR_FILE_REFUSED'],
      ['WIRE', 500, 'RUNCELL_ERR_INTERNAL'],
      ['GATEWAY', 500, 'RUNCELL_ERR_INTERNAL'],
    ];
    for (const [code, status, answer] of cases) {
      const r = await fail(new KernelManagerError(code, `failed at /run/runcell/k1 (${code})`));
      expect(r.statusCode, code).toBe(status);
      expect(r.json().code, code).toBe(answer);
      if (status === 429 || status === 503) expect(Number(r.headers['retry-after']), code).toBeGreaterThan(0);
    }
  });

  it('answers anything else 500 INTERNAL and logs the cause, never sending a stack or a path', async () => {
    const err = new TypeError("Cannot read properties of undefined (reading 'x') at /work/server/app.ts:1");
    const r = await fail(err);
    expect(r.statusCode).toBe(500);
    expect(r.json()).toEqual({ code: 'RUNCELL_ERR_INTERNAL', message: 'internal server error' });
    expect(logged.some((l) => l.level === 50 && l.err?.message === err.message)).toBe(true);
    // A missing file is not a database outage.
    expect((await fail(errno('ENOENT', 'open'))).statusCode).toBe(500);
    expect((await fail('a string')).statusCode).toBe(500);
  });
});
