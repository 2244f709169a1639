// The REST API through fastify.inject() (real kernels behind it): Jupyter Server's shapes and status
// codes, errors as {code, message}, visibility, per-IP limits, sessions.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, auth, type Json, RawClient, startServer, type TestServer } from '../helpers.js';

let s: TestServer;

beforeAll(async () => {
  s = await startServer(4, { poolSize: 2, ipKernelCreatesPerMinute: 3, ipMaxKernels: 2 });
});
afterAll(async () => {
  await s?.stop();
});

const inject = async (
  method: string,
  url: string,
  opts: { body?: unknown; headers?: Record<string, string>; ip?: string } = {},
) => {
  const r = await s.app.inject({
    method: method as 'GET',
    url,
    headers: opts.headers ?? auth,
    remoteAddress: opts.ip ?? '127.0.0.1',
    ...(opts.body === undefined ? {} : { payload: opts.body as Json }),
  });
  return { status: r.statusCode, body: r.body ? (r.json() as Json) : undefined, headers: r.headers };
};

describe('REST API', () => {
  it('GET /api answers without auth; /api/status counts kernels', async () => {
    const r = await inject('GET', '/api?1795416458508', { headers: {} });
    expect(r.status).toBe(200);
    expect(typeof r.body.version).toBe('string');
    const st = await inject('GET', '/api/status');
    expect(st.body).toMatchObject({ connections: expect.any(Number), kernels: expect.any(Number) });
  });

  it('lists kernelspecs with argv hidden', async () => {
    const r = await inject('GET', '/api/kernelspecs?1795416458508');
    expect(r.body.default).toBe('python3');
    expect(r.body.kernelspecs.python3.spec).toMatchObject({
      argv: [],
      language: 'python',
      display_name: expect.any(String),
    });
    expect((await inject('GET', '/api/kernelspecs/python3')).body.name).toBe('python3');
    const none = await inject('GET', '/api/kernelspecs/nope');
    expect(none).toMatchObject({ status: 404, body: { code: 'RUNCELL_ERR_NO_SUCH_SPEC' } });
  });

  it('starts, shows, interrupts, restarts and deletes a kernel', async () => {
    // Empty body with a JSON content type (what an authenticated Jupyter client sends): default spec.
    const created = await s.app.inject({
      method: 'POST',
      url: '/api/kernels?1795416458508',
      headers: { ...auth, 'content-type': 'application/json' },
    });
    expect(created.statusCode).toBe(201);
    const model = created.json();
    expect(created.headers.location).toBe(`/api/kernels/${model.id}`);
    expect(model).toMatchObject({ name: 'python3', execution_state: expect.any(String), connections: 0 });
    expect(Date.parse(model.last_activity)).not.toBeNaN();
    const list = await inject('GET', '/api/kernels?1795416458508');
    expect(list.body.map((k: Json) => k.id)).toContain(model.id);
    expect((await inject('GET', `/api/kernels/${model.id}`)).body.id).toBe(model.id);
    expect((await inject('POST', `/api/kernels/${model.id}/interrupt`)).status).toBe(204);
    const restarted = await inject('POST', `/api/kernels/${model.id}/restart`);
    expect(restarted.status).toBe(200);
    expect(restarted.body.id).toBe(model.id);
    expect((await inject('DELETE', `/api/kernels/${model.id}`)).status).toBe(204);
    expect((await inject('GET', `/api/kernels/${model.id}`)).status).toBe(404);
  });

  it('answers unknown ids, names, routes and bad bodies with {code, message}', async () => {
    const id = randomUUID();
    for (const [method, url] of [
      ['GET', `/api/kernels/${id}`],
      ['DELETE', `/api/kernels/${id}`],
      ['POST', `/api/kernels/${id}/interrupt`],
      ['POST', `/api/kernels/${id}/restart`],
    ] as const) {
      expect(await inject(method, url)).toMatchObject({
        status: 404,
        body: { code: 'RUNCELL_ERR_NO_SUCH_KERNEL' },
      });
    }
    const badName = await inject('POST', '/api/kernels', { body: { name: 'cobol' } });
    expect(badName).toMatchObject({ status: 400, body: { code: 'RUNCELL_ERR_UNKNOWN_KERNEL_NAME' } });
    const badJson = await s.app.inject({
      method: 'POST',
      url: '/api/kernels',
      headers: { ...auth, 'content-type': 'application/json' },
      payload: '{"name":',
    });
    expect(badJson.statusCode).toBe(400);
    expect(badJson.json().code).toBe('RUNCELL_ERR_BAD_REQUEST');
    const route = await inject('GET', '/api/nothing');
    expect(route).toMatchObject({ status: 404, body: { code: 'RUNCELL_ERR_NOT_FOUND' } });
    const badType = await inject('POST', '/api/execute', { body: { code: { x: 1 } } });
    expect(badType.status).toBe(400);
    for (const r of [badName, badType, route]) {
      expect(Object.keys(r.body).sort()).toEqual(['code', 'message']);
      expect(JSON.stringify(r.body)).not.toMatch(/\/work\/|\/usr\/|at .*\.ts/);
    }
  });

  it('refuses bad tokens and foreign origins', async () => {
    const bad = await inject('GET', '/api/kernels', {
      headers: { authorization: 'token not-the-token-at-all' },
    });
    expect(bad).toMatchObject({ status: 401, body: { code: 'RUNCELL_ERR_UNAUTHORIZED' } });
    const q = await inject('GET', '/api/kernels?token=not-the-token-at-all', { headers: {} });
    expect(q.status).toBe(401);
    const bearer = await inject('GET', '/api/kernels', {
      headers: { authorization: `Bearer ${auth.authorization.slice(6)}` },
    });
    expect(bearer.status).toBe(200);
    const foreign = await inject('POST', '/api/kernels', {
      headers: { origin: 'https://evil.example' },
      body: {},
    });
    expect(foreign).toMatchObject({ status: 403, body: { code: 'RUNCELL_ERR_FORBIDDEN_ORIGIN' } });
    // /metrics needs the token when tokens are configured.
    expect((await inject('GET', '/metrics', { headers: {} })).status).toBe(401);
    const metrics = await s.app.inject({ method: 'GET', url: '/metrics', headers: auth });
    expect(metrics.body).toMatch(/runcell_kernels_live/);
    expect((await inject('GET', '/healthz', { headers: {} })).status).toBe(200);
    expect((await inject('GET', '/readyz', { headers: {} })).status).toBe(200);
  });

  it('shows anonymous callers their own kernels and the ones they are connected to', async () => {
    const theirs = await inject('POST', '/api/kernels', { headers: {}, ip: '203.0.113.9', body: {} });
    expect(theirs.status).toBe(201);
    const mine = await inject('POST', '/api/kernels', { headers: {}, ip: '2001:db8:1:2::5', body: {} });
    // Same /64: same caller for limits and visibility.
    const list = await inject('GET', '/api/kernels', { headers: {}, ip: '2001:db8:1:2:ffff::1' });
    expect(list.body.map((k: Json) => k.id)).toEqual([mine.body.id]);
    // A kernel started with a token is invisible to 127.0.0.1 until it connects to it.
    const tokenKernel = (await api(s, 'POST', '/api/kernels', {})).body.id;
    const anonList = async () =>
      (await api(s, 'GET', '/api/kernels', undefined, {})).body.map((k: Json) => k.id);
    expect(await anonList()).not.toContain(tokenKernel);
    const c = await RawClient.open(s, tokenKernel, { headers: { origin: s.base } });
    expect(await anonList()).toContain(tokenKernel);
    expect((await api(s, 'GET', `/api/kernels/${tokenKernel}`)).body.connections).toBe(1);
    c.close();
    for (const id of [theirs.body.id, mine.body.id, tokenKernel])
      await inject('DELETE', `/api/kernels/${id}`);
  });

  it('limits kernel starts and live kernels per address with 429 and Retry-After', async () => {
    const ip = '198.51.100.7';
    const ids: string[] = [];
    const start = () => inject('POST', '/api/kernels', { headers: {}, ip, body: {} });
    for (let i = 0; i < 2; i++) ids.push((await start()).body.id);
    const tooMany = await start(); // ipMaxKernels = 2
    expect(tooMany).toMatchObject({ status: 429, body: { code: 'RUNCELL_ERR_RATE_LIMITED' } });
    expect(Number(tooMany.headers['retry-after'])).toBeGreaterThan(0);
    await inject('DELETE', `/api/kernels/${ids.pop()}`, { headers: {}, ip });
    const tooFast = await start(); // the 4th start this minute (3 allowed)
    expect(tooFast.status).toBe(429);
    expect(Number(tooFast.headers['retry-after'])).toBeGreaterThan(0);
    for (const id of ids) await inject('DELETE', `/api/kernels/${id}`, { headers: {}, ip });
  });

  it('manages sessions', async () => {
    const created = await inject('POST', '/api/sessions', {
      body: { path: 'a.ipynb', name: 'a', type: 'notebook', kernel: { name: 'python3' } },
    });
    expect(created.status).toBe(201);
    const sess = created.body;
    expect(sess).toMatchObject({ path: 'a.ipynb', name: 'a', type: 'notebook', kernel: { name: 'python3' } });
    // Same path: the same session.
    expect(
      (await inject('POST', '/api/sessions', { body: { path: 'a.ipynb', kernel: { name: 'python3' } } })).body
        .id,
    ).toBe(sess.id);
    expect((await inject('GET', '/api/sessions')).body.map((x: Json) => x.id)).toContain(sess.id);
    const renamed = await inject('PATCH', `/api/sessions/${sess.id}`, { body: { path: 'b.ipynb' } });
    expect(renamed.body.path).toBe('b.ipynb');
    const moved = await inject('PATCH', `/api/sessions/${sess.id}`, {
      body: { kernel: { name: 'python3' } },
    });
    expect(moved.body.kernel.id).not.toBe(sess.kernel.id);
    expect((await inject('GET', `/api/kernels/${sess.kernel.id}`)).status).toBe(404);
    expect((await inject('DELETE', `/api/sessions/${sess.id}`)).status).toBe(204);
    expect((await inject('GET', `/api/sessions/${sess.id}`)).body.code).toBe('RUNCELL_ERR_NO_SUCH_SESSION');
    expect((await inject('GET', `/api/kernels/${moved.body.kernel.id}`)).status).toBe(404);
  });
});

describe('a server without anonymous access', () => {
  let locked: TestServer;
  beforeAll(async () => {
    locked = await startServer(5, { poolSize: 0, anonymous: false });
  });
  afterAll(async () => {
    await locked?.stop();
  });

  it('needs a token for everything but /api, /healthz and /readyz', async () => {
    const get = (url: string, headers: Record<string, string> = {}) =>
      locked.app.inject({ method: 'GET', url, headers }).then((r) => r.statusCode);
    expect(await get('/api')).toBe(200);
    expect(await get('/healthz')).toBe(200);
    expect(await get('/api/kernels')).toBe(401);
    expect(await get('/api/kernelspecs')).toBe(401);
    expect(await get('/api/kernels', auth)).toBe(200);
  });
});
