// GET /api/stats against a real server with real kernels, on Postgres and on PGlite: executions
// (some failing) run over a websocket and the one-shot API, and the answer's counts, errors and
// percentiles match the execute records in the database; the sampler's rows show the kernel that is
// handed out, busy while it runs, and gone after its shutdown; the API needs a token and refuses
// bad ranges with 400 JSON.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../../server/store/db.js';
import {
  api,
  executeMsg,
  type Json,
  type Msg,
  newKernel,
  RawClient,
  startServer,
  type TestServer,
  TOKEN,
} from '../helpers.js';
import { percentileCont } from '../stats/helpers.js';
import { backends, type TestDb } from '../store/helpers.js';

const SLOT = 45;

/**
 * Runs code and waits for its reply and idle; the reply's status. stop_on_error is off: ipykernel
 * otherwise aborts a request that arrives soon after an error (a race on a loaded machine).
 */
async function run(c: RawClient, code: string): Promise<string> {
  const m = executeMsg(code, c.session);
  m.content.stop_on_error = false;
  const from = c.messages.length;
  c.send(m);
  const mine = (x: Msg) => x.parent_header?.msg_id === m.header.msg_id;
  const reply = await c.next((x) => mine(x) && x.header.msg_type === 'execute_reply', 20_000, from);
  await c.next(
    (x) => mine(x) && x.header.msg_type === 'status' && x.content.execution_state === 'idle',
    20_000,
    from,
  );
  return reply.content.status;
}

describe.each(backends)('GET /api/stats on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  let s: TestServer;

  beforeAll(async () => {
    db = await backend.create();
    store = await db.open({ records: { flushIntervalMs: 20 } });
    s = await startServer(SLOT, { statsSampleMs: 100, instanceId: 'stats-test' }, { store });
  });
  afterAll(async () => {
    await s?.stop();
    await store?.close();
    await db?.cleanup();
  });

  /** Polls the API until `ok` holds for its answer. */
  async function statsUntil(ok: (b: Json) => boolean, what: string, query = '') {
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await api(s, 'GET', `/api/stats${query}`);
      expect(r.status).toBe(200);
      if (ok(r.body)) return r.body;
      if (Date.now() > deadline)
        throw new Error(`timed out waiting for ${what}: ${JSON.stringify(r.body.current)}`);
      await new Promise((res) => setTimeout(res, 100));
    }
  }

  it('needs a configured API token: none or a wrong one is a 401 with a JSON error', async () => {
    for (const headers of [{}, { authorization: 'token not-the-right-token-at-all' }] as Record<
      string,
      string
    >[]) {
      const r = await api(s, 'GET', '/api/stats', undefined, headers);
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('RUNCELL_ERR_UNAUTHORIZED');
      expect(r.body).not.toHaveProperty('executions');
    }
    expect((await api(s, 'GET', '/api/stats?token=wrong-token-0123456789', undefined, {})).status).toBe(401);
    expect((await api(s, 'GET', '/api/stats')).status).toBe(200);
    expect((await api(s, 'GET', `/api/stats?token=${TOKEN}`, undefined, {})).status).toBe(200);
  });

  it('refuses a token issued to an account (not one of RUNCELL_TOKENS) with 403', async () => {
    const issued = await api(s, 'POST', '/api/tokens', { name: 'stats-test' });
    expect(issued.status).toBe(201);
    const headers = { authorization: `token ${issued.body.token}` };
    // The issued token is valid elsewhere, so the 403 is about the stats, not the token.
    expect((await api(s, 'GET', '/api/whoami', undefined, headers)).body.credential).toBe('issued');
    const r = await api(s, 'GET', '/api/stats', undefined, headers);
    expect(r.status).toBe(403);
    expect(r.body.code).toBe('RUNCELL_ERR_FORBIDDEN');
    expect(r.body.message).toMatch(/RUNCELL_TOKENS/);
    expect(r.body).not.toHaveProperty('executions');
  });

  it('refuses bad ranges and buckets with 400 JSON', async () => {
    const now = new Date().toISOString();
    for (const q of [
      `from=${now}&to=${now}`,
      `from=${now}&to=2000-01-01T00:00:00Z`,
      'from=yesterday',
      'bucket=0',
      'bucket=1.5',
      'from=2000-01-01T00:00:00Z&bucket=60',
    ]) {
      const r = await api(s, 'GET', `/api/stats?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.body.code, q).toBe('RUNCELL_ERR_BAD_REQUEST');
      expect(typeof r.body.message).toBe('string');
    }
  });

  it('counts real executions, their errors and latency percentiles as the records hold them', async () => {
    const id = await newKernel(s);
    const c = await RawClient.open(s, id);
    const runs: [string, 'ok' | 'error'][] = [
      ['1 + 1', 'ok'],
      ['1/0', 'error'],
      ['import time; time.sleep(0.3)', 'ok'],
      ['print("hello")', 'ok'],
      ['undefined_name', 'error'],
      ['x = [i * i for i in range(100000)]', 'ok'],
    ];
    for (const [code, status] of runs) expect(await run(c, code)).toBe(status);
    const one = await api(s, 'POST', '/api/execute', { code: '1/0' });
    expect(one.body.status).toBe('error');
    c.close();
    expect((await api(s, 'DELETE', `/api/kernels/${id}`)).status).toBe(204);

    const body = await statsUntil(
      (b) => b.totals.executions === 7 && b.totals.unfinished === 0,
      'seven finished records',
    );
    const rows = await store.sql<{ status: string; duration_ms: number }[]>`
      select status, duration_ms from execute_records`;
    expect(rows).toHaveLength(7);
    const durations = rows.map((r) => r.duration_ms);
    expect(body.totals.errors).toBe(3);
    expect(body.totals.errors_by_status).toEqual({ error: 3 });
    for (const [k, p] of [
      ['p50', 0.5],
      ['p90', 0.9],
      ['p99', 0.99],
    ] as const)
      expect(body.totals.latency_ms[k]).toBeCloseTo(percentileCont(durations, p) as number, 2);
    // The sleeping cell took 300 ms at least: it is the slowest, and p99 lies just below it.
    expect(Math.max(...durations)).toBeGreaterThanOrEqual(300);
    expect(body.totals.latency_ms.p99).toBeGreaterThan(body.totals.latency_ms.p90);
    // Default range: the last hour in one-minute buckets; the per-bucket series add up to the totals.
    expect(body.bucket).toBe(60);
    expect(body.time.length).toBeGreaterThanOrEqual(60);
    const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);
    expect(sum(body.executions)).toBe(7);
    expect(sum(body.errors)).toBe(3);
    expect(sum(body.errors_by_status.error)).toBe(3);
    const last = body.executions.findLastIndex((n: number) => n > 0);
    expect(body.latency_ms.p50[last]).not.toBeNull();
  });

  it('samples the kernels handed out (busy while running) and the connections', async () => {
    const id = await newKernel(s);
    const c = await RawClient.open(s, id);
    // (The earlier test's one-shot kernel may still be shutting down, handed out, for a moment.)
    const first = await statsUntil(
      (b) => b.current.kernels === 1 && b.current.websockets === 1 && b.current.pooled === 1,
      'a sample with one kernel, one websocket and a refilled pool',
    );
    const t0 = new Date(first.current.at);
    const running = c.run('import time; time.sleep(1.5)');
    const busy = await statsUntil((b) => b.current.busy === 1, 'a sample with the kernel busy');
    expect(busy.current.instances).toEqual(['stats-test']);
    await running;
    const idle = await statsUntil((b) => b.current.busy === 0, 'a sample with the kernel idle again');
    expect(idle.current.kernels).toBe(1);
    // The series: the newest bucket's mean has the kernel in it, sampled by this one instance.
    const i = idle.gauges.instances.findLastIndex((n: number) => n > 0);
    expect(idle.gauges.instances[i]).toBe(1);
    expect(idle.gauges.kernels[i]).toBeGreaterThan(0);
    // The busy samples may sit in the bucket before the newest (a minute boundary can fall between).
    expect(Math.max(...idle.gauges.busy.slice(Math.max(0, i - 1), i + 1).map(Number))).toBeGreaterThan(0);
    expect(idle.gauges.loop_lag_ms[i]).toBeGreaterThan(0);

    c.close();
    expect((await api(s, 'DELETE', `/api/kernels/${id}`)).status).toBe(204);
    await statsUntil((b) => b.current.kernels === 0 && b.current.websockets === 0, 'the kernel gone');
    const [counts] = await store.sql<{ n: number; kernels: number; busy: number }[]>`
      select count(*)::int as n, max(kernels)::int as kernels, max(busy)::int as busy
      from stats_samples where instance = 'stats-test' and at >= ${t0}`;
    expect(counts?.n).toBeGreaterThan(5);
    expect(counts).toMatchObject({ kernels: 1, busy: 1 });
  });
});
