// Request validation on a bare Fastify app with runcell's validator factory and error handler: a JSON
// body is checked as sent (a number, null or boolean where a string belongs is a 400, never coerced
// into code that then runs), while the query string and path, which are text, are still coerced.
// Defaults still apply to every part.
import fc from 'fast-check';
import Fastify, { type FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installErrorHandler } from '../../server/error-handler.js';
import { validatorFactory } from '../../server/validation.js';

const Body = Type.Object({
  code: Type.String(),
  silent: Type.Optional(Type.Boolean({ default: false })),
  files: Type.Optional(Type.Array(Type.String())),
  timeout: Type.Optional(Type.Integer({ minimum: 1 })),
});

describe('request validation', () => {
  let app: FastifyInstance;
  beforeAll(async () => {
    app = Fastify({
      schemaController: { compilersFactory: { buildValidator: validatorFactory() } },
    }) as unknown as FastifyInstance;
    installErrorHandler(app);
    app.post('/run', { schema: { body: Body } }, async (req) => ({ got: req.body }));
    app.get(
      '/items/:n',
      {
        schema: {
          params: Type.Object({ n: Type.Integer() }),
          querystring: Type.Object({
            timeout: Type.Optional(Type.Integer()),
            all: Type.Optional(Type.Boolean()),
          }),
        },
      },
      async (req) => ({ params: req.params, query: req.query }),
    );
    await app.ready();
  });
  afterAll(() => app.close());

  const run = (payload: unknown) => app.inject({ method: 'POST', url: '/run', payload: payload as object });

  it('refuses a body field of the wrong type with 400 BAD_REQUEST instead of coercing it', async () => {
    for (const payload of [
      { code: 5 },
      { code: null },
      { code: true },
      { code: ['print(1)'] },
      { code: 'x', files: 'a.csv' },
      { code: 'x', timeout: '10' },
      { code: 'x', silent: 'false' },
    ]) {
      const r = await run(payload);
      expect(r.statusCode, JSON.stringify(payload)).toBe(400);
      expect(r.json().code).toBe('RUNCELL_ERR_BAD_REQUEST');
      expect(Object.keys(r.json()).sort()).toEqual(['code', 'message']);
    }
  });

  it('any JSON value but a string as the code is refused', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.jsonValue().filter((v) => typeof v !== 'string'),
        async (code) => {
          const r = await run({ code });
          expect(r.statusCode).toBe(400);
        },
      ),
      { numRuns: 60 },
    );
  });

  it('passes a valid body on as sent, with its defaults filled in', async () => {
    const r = await run({ code: '1+1', timeout: 3, files: [] });
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ got: { code: '1+1', silent: false, timeout: 3, files: [] } });
  });

  it('still coerces the query string and path, which are text', async () => {
    const r = await app.inject('/items/7?timeout=5&all=true');
    expect(r.statusCode).toBe(200);
    expect(r.json()).toEqual({ params: { n: 7 }, query: { timeout: 5, all: true } });
    const bad = await app.inject('/items/7?timeout=soon');
    expect(bad.statusCode).toBe(400);
    expect(bad.json().code).toBe('RUNCELL_ERR_BAD_REQUEST');
  });
});
