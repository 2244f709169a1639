// Property-based fuzzing of every route's inputs (path parameters, query strings, headers, bodies) through
// inject() on the real app with a PGlite store, and of both websocket framings (the decoders directly, and
// random frames over a real socket). The properties: never a 5xx, every error is {code, message}, no
// unhandled rejection, the process stays up. Case counts go to test-output/security-fuzz.jsonl.
import { execFileSync } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { join } from 'node:path';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { decodeFrame, FramingError } from '../../server/bridge/framing.js';
import { auth, healthy, RawClient, record, startSecurityServer, Tenant, type TestServer } from './helpers.js';

const SLOT = 52;
const RUNS = 200;
let s: TestServer;
let k: Tenant;
const rejections: unknown[] = [];
const onRejection = (e: unknown) => rejections.push(e);

beforeAll(async () => {
  process.on('unhandledRejection', onRejection);
  s = await startSecurityServer(
    SLOT,
    {
      poolSize: 1,
      // The victim tenant, the pool, one job at a time and one anonymous kernel.
      maxKernels: 4,
      jobsConcurrency: 1,
      jobsConcurrencyPerOwner: 1,
      // Fuzzed job event polls return at once instead of holding for their timeout.
      jobsMaxPollWaitMs: 100,
      // Likewise fuzzed long-polls: token callers are served from any origin, so many reach the hold.
      pollTimeoutMs: 100,
      // Anonymous fuzz cases may reach the kernel-starting routes: a couple may start, the rest are 429.
      ipKernelCreatesPerMinute: 1,
      ipMaxKernels: 1,
      ipExecutionsPerMinute: 2,
      executeTimeoutMs: 2_000,
      queueTimeoutMs: 1_000,
    },
    { store: true, jobs: true },
  );
  k = await Tenant.open(s);
});
afterAll(async () => {
  process.off('unhandledRejection', onRejection);
  await k?.destroy();
  await s?.stop();
});

const text = fc.string({ unit: 'binary', maxLength: 40 });
const id = fc.oneof(
  fc.uuid(),
  text,
  fc.constantFrom('..', '%2e%2e', '%00', '%ff', 'x'.repeat(300), '__proto__', 'constructor'),
);
const jsonish = fc.oneof(
  fc.jsonValue({ maxDepth: 4 }),
  fc.dictionary(
    fc.constantFrom(
      '__proto__',
      'constructor',
      'prototype',
      'name',
      'code',
      'kernel',
      'path',
      'type',
      'upload',
      'timeout',
      'id',
    ),
    fc.jsonValue({ maxDepth: 3 }),
  ),
);
const body = fc.oneof(
  jsonish.map((v) => JSON.stringify(v)),
  text,
  fc.uint8Array({ maxLength: 200 }).map((b) => Buffer.from(b)),
  fc.constant('{"a":'),
  fc.constant(`${'['.repeat(5000)}${']'.repeat(5000)}`),
);
const query = fc.dictionary(
  fc.constantFrom('token', 'session_id', 'after', 'timeout', 'x', '__proto__', '1795416458508'),
  fc.oneof(text, fc.integer().map(String), fc.constant('')),
  { maxKeys: 4 },
);
const contentType = fc.constantFrom(
  'application/json',
  'text/plain',
  'application/offset+octet-stream',
  'application/x-www-form-urlencoded',
  'multipart/form-data; boundary=x',
  'application/json; charset=utf-16',
  '',
);
const headers = fc.record(
  {
    'content-type': contentType,
    origin: fc.constantFrom('https://evil.example', 'null', 'http://localhost'),
    authorization: fc.constantFrom(auth.authorization, 'token nope', 'Bearer ', 'Basic x', ''),
    'tus-resumable': fc.constantFrom('1.0.0', '0.2', ''),
    'upload-length': fc.oneof(fc.integer().map(String), text),
    'upload-offset': fc.oneof(fc.nat().map(String), text),
    'upload-metadata': text,
    'upload-checksum': text,
    'x-forwarded-for': fc.constantFrom('1.2.3.4', 'garbage', '::1'),
  },
  { requiredKeys: [] },
);

type Method = 'GET' | 'POST' | 'PATCH' | 'DELETE' | 'HEAD' | 'OPTIONS' | 'PUT';
const ROUTES: [Method, string][] = [
  ['GET', '/api'],
  ['GET', '/api/status'],
  ['GET', '/api/kernelspecs'],
  ['GET', '/api/kernelspecs/:id'],
  ['GET', '/api/environments'],
  ['POST', '/api/poll/:id'],
  ['POST', '/api/poll/:id/messages'],
  ['POST', '/api/pages/:id/close'],
  ['GET', '/kernelspecs/:id/:id'],
  ['GET', '/api/kernels'],
  ['POST', '/api/kernels'],
  ['GET', '/api/kernels/:id'],
  ['DELETE', '/api/kernels/:id'],
  ['POST', '/api/kernels/:id/interrupt'],
  ['POST', '/api/kernels/:id/restart'],
  ['POST', '/api/kernels/:id/files'],
  ['GET', '/api/kernels/:id/channels'],
  ['GET', '/api/kernels/:id/messages'],
  ['POST', '/api/kernels/:id/messages'],
  ['GET', '/api/sessions'],
  ['POST', '/api/sessions'],
  ['GET', '/api/sessions/:id'],
  ['PATCH', '/api/sessions/:id'],
  ['DELETE', '/api/sessions/:id'],
  ['POST', '/api/execute'],
  ['POST', '/api/permalinks'],
  ['GET', '/api/permalinks/:id'],
  ['GET', '/p/:id'],
  ['GET', '/p/:id/code'],
  ['GET', '/p/z/:id'],
  ['OPTIONS', '/api/uploads'],
  ['POST', '/api/uploads'],
  ['HEAD', '/api/uploads/:id'],
  ['PATCH', '/api/uploads/:id'],
  ['DELETE', '/api/uploads/:id'],
  ['GET', '/files/:id/:id'],
  ['GET', '/static/:id'],
  ['GET', '/'],
  ['GET', '/embed'],
  ['GET', '/healthz'],
  ['GET', '/readyz'],
  ['GET', '/metrics'],
  ['PUT', '/api/kernels/:id'],
  ['GET', '/api/jobs'],
  ['POST', '/api/jobs'],
  ['GET', '/api/jobs/events'],
  ['POST', '/api/jobs/rerun'],
  ['GET', '/api/jobs/:id'],
  ['GET', '/api/jobs/:id/files/:id'],
  ['POST', '/api/jobs/:id/cancel'],
  ['POST', '/api/jobs/:id/rerun'],
  ['GET', '/jobs'],
  ['GET', '/api/whoami'],
  ['GET', '/api/tokens'],
  ['POST', '/api/tokens'],
  ['DELETE', '/api/tokens/current'],
  ['DELETE', '/api/tokens/:id'],
  ['POST', '/api/login/codes'],
  ['POST', '/api/login/token'],
  ['GET', '/tokens'],
  ['GET', '/login'],
  ['GET', '/api/stats'],
  ['GET', '/stats'],
  ['OPTIONS', '/api/uploads/:id'],
];

/** Every route the server's sources register (app.get('/path', …) and the like), as "METHOD /path". */
function registeredRoutes(): string[] {
  const out = execFileSync(
    'grep',
    ['-rhoPz', String.raw`app\.(get|post|put|patch|delete|head|options)(<[^>]*>)?\(\s*'[^']+'`, 'server'],
    {
      cwd: join(import.meta.dirname, '..', '..'),
      encoding: 'utf8',
    },
  );
  // OPTIONS * is the CORS preflight for every path.
  return [...out.matchAll(/app\.(\w+)(?:<[^>]*>)?\(\s*'([^']+)'/g)]
    .filter((m) => m[2] !== '*')
    .map((m) => `${(m[1] as string).toUpperCase()} ${normal(m[2] as string)}`);
}
const normal = (path: string) => path.replace(/:[A-Za-z_]+|\*/g, ':');

describe('fuzzing every route through inject()', () => {
  let total = 0;
  const fives: string[] = [];

  it('the list covers every route the server registers', () => {
    const registered = registeredRoutes();
    expect(registered.length).toBeGreaterThan(50);
    const listed = new Set(ROUTES.map(([m, p]) => `${m} ${normal(p)}`));
    expect(registered.filter((r) => !listed.has(r))).toEqual([]);
  });

  it.each(ROUTES)('%s %s: never a 5xx, errors are {code, message}', async (method, template) => {
    let cases = 0;
    await fc.assert(
      fc.asyncProperty(
        fc.array(id, { minLength: 2, maxLength: 2 }),
        query,
        headers,
        body,
        fc.boolean(),
        async ([a, b], q, h, payload, realKernel) => {
          cases++;
          let n = 0;
          const url =
            template.replace(/:id/g, () =>
              encodeURIComponent(realKernel && n++ === 0 ? k.id : ((n++ === 0 ? a : b) as string)),
            ) +
            (Object.keys(q).length ? `?${new URLSearchParams(q as Record<string, string>).toString()}` : '');
          // Never shut the shared kernel down or restart it: those are covered by their own tests.
          if (realKernel && /DELETE|restart|interrupt/.test(`${method} ${template}`)) return;
          const withBody = method !== 'GET' && method !== 'HEAD' && method !== 'OPTIONS';
          const r = await s.app.inject({
            method,
            url,
            headers: h as Record<string, string>,
            ...(withBody ? { payload } : {}),
          });
          // /readyz answers 503 by contract when the pool cannot serve (fuzzed kernel creations can
          // fill it): that is its answer, not a failure, and it still says why.
          if (template === '/readyz' && r.statusCode === 503) {
            expect(r.json()).toMatchObject({ status: 'not ready' });
            return;
          }
          // Load shedding is an answer, not a failure: token callers may start kernels, and when every
          // kernel is taken a request waits its queue timeout and gets 503 AT_CAPACITY with Retry-After.
          if (r.statusCode === 503 && r.json().code === 'RUNCELL_ERR_AT_CAPACITY') {
            expect(Number(r.headers['retry-after'])).toBeGreaterThan(0);
            return;
          }
          if (r.statusCode >= 500) fives.push(`${method} ${url} -> ${r.statusCode} ${r.body.slice(0, 200)}`);
          expect(r.statusCode, `${method} ${url}: ${r.body.slice(0, 300)}`).toBeLessThan(500);
          if (
            r.statusCode >= 400 &&
            method !== 'HEAD' &&
            r.headers['content-type']?.toString().includes('json')
          ) {
            expect(r.json()).toMatchObject({
              code: expect.stringMatching(/^[A-Z_]+$/),
              message: expect.any(String),
            });
            expect(r.body).not.toMatch(/\/work\/|node_modules|at [A-Za-z.]+ \(/);
          }
        },
      ),
      { numRuns: RUNS },
    );
    total += cases;
    record('fuzz', { route: `${method} ${template}`, cases });
  });

  it('left no unhandled rejection, no 5xx, and the server serves', async () => {
    record('fuzz', { total, fives: fives.length, rejections: rejections.length });
    expect(fives).toEqual([]);
    expect(rejections).toEqual([]);
    await healthy(s);
    expect(total).toBeGreaterThanOrEqual(ROUTES.length * RUNS * 0.9);
  });
});

describe('fuzzing both websocket framings', () => {
  it('the decoders throw only FramingError on any bytes, in both framings', () => {
    let cases = 0;
    const frame = fc.oneof(
      fc.uint8Array({ maxLength: 300 }).map((b) => Buffer.from(b)),
      // Plausible headers with random offsets, so the bounds checks are exercised.
      fc
        .tuple(
          fc.nat({ max: 12 }),
          fc.array(fc.bigInt({ min: 0n, max: 2n ** 64n - 1n }), { maxLength: 12 }),
          fc.uint8Array({ maxLength: 100 }),
        )
        .map(([n, offs, rest]) => {
          const h = Buffer.alloc(8 * (offs.length + 1));
          h.writeBigUInt64LE(BigInt(n), 0);
          offs.forEach((o, i) => {
            h.writeBigUInt64LE(o, 8 * (i + 1));
          });
          return Buffer.concat([h, Buffer.from(rest)]);
        }),
      fc
        .tuple(fc.nat({ max: 12 }), fc.array(fc.nat(), { maxLength: 12 }), fc.string())
        .map(([n, offs, json]) => {
          const h = Buffer.alloc(4 * (offs.length + 1));
          h.writeUInt32BE(n, 0);
          offs.forEach((o, i) => {
            h.writeUInt32BE(o >>> 0, 4 * (i + 1));
          });
          return Buffer.concat([h, Buffer.from(json)]);
        }),
    );
    fc.assert(
      fc.property(
        frame,
        fc.boolean(),
        fc.constantFrom('' as const, 'v1.kernel.websocket.jupyter.org' as const),
        (buf, isBinary, protocol) => {
          cases++;
          try {
            decodeFrame(buf, isBinary, protocol);
          } catch (e) {
            expect(e).toBeInstanceOf(FramingError);
          }
        },
      ),
      { numRuns: 5_000 },
    );
    fc.assert(
      fc.property(fc.jsonValue({ maxDepth: 5 }), (v) => {
        cases++;
        try {
          decodeFrame(Buffer.from(JSON.stringify(v)), false, '');
        } catch (e) {
          expect(e).toBeInstanceOf(FramingError);
        }
      }),
      { numRuns: 2_000 },
    );
    record('fuzz', { route: 'websocket framings (decoders)', cases });
  });

  it('random frames over real sockets never crash the server; the connection stays or closes cleanly', async () => {
    let frames = 0;
    for (const protocol of [undefined, 'v1.kernel.websocket.jupyter.org']) {
      const c = await RawClient.open(s, k.id, { session: randomUUID(), ...(protocol ? { protocol } : {}) });
      const samples = fc.sample(
        fc.oneof(
          fc.uint8Array({ maxLength: 400 }).map((b) => Buffer.from(b)),
          fc.jsonValue({ maxDepth: 4 }).map((v) => JSON.stringify(v)),
          fc
            .record({
              channel: fc.constantFrom('shell', 'stdin', 'control', 'iopub', 'hb', 'x'),
              header: fc.record({
                msg_id: fc.string(),
                msg_type: fc.constantFrom(
                  'comm_msg',
                  'kernel_info_request',
                  'input_reply',
                  'complete_request',
                  'x',
                ),
              }),
              content: fc.dictionary(fc.string(), fc.jsonValue({ maxDepth: 2 })),
            })
            .map((m) => JSON.stringify(m)),
        ),
        1_000,
      );
      for (const f of samples) c.ws.send(f);
      frames += samples.length;
      const r = await c.run('print("still")').catch(() => undefined);
      if (r) expect(r.stdout).toBe('still\n');
      c.close();
    }
    record('fuzz', { route: 'websocket framings (live sockets)', cases: frames });
    await healthy(s);
    expect((await k.client.run('print(1)')).stdout).toBe('1\n');
  });
});
