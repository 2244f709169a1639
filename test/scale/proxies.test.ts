// Scale-out with the real thing: nginx (ops/nginx/runcell.conf) in front of HAProxy (the config
// ops/haproxy/generate.sh writes) in front of three runcell processes sharing one Postgres.
//  1. 200 sessions through nginx + HAProxy (websocket and long-poll), 20 at a time, plus sessions
//     straight to one instance for a latency baseline: no errors, and no request reaches an instance
//     that does not own the kernel or session it names (checked in every instance's own log and in
//     HAProxy's log).
//  2. One instance is SIGKILLed: sessions on the others go on untouched, its permalinks are still
//     served, its clients get RUNCELL_ERR_KERNEL_LOST (REST, long-poll) or a closed websocket, new
//     kernels go to the living. Restarted, it rejoins and gets new kernels again.
// Prints the figures (requests per instance, errors, p99 execute latency proxied vs direct).
import { randomUUID } from 'node:crypto';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { auth, executeMsg, type Json, RawClient, type TestServer, TOKEN } from '../server/helpers.js';
import {
  createDatabase,
  freePort,
  haproxyLog,
  Instance,
  type Proc,
  REPO,
  serverCommand,
  startHaproxy,
  startNginx,
  until,
} from './stack.js';

const POOL = 3;
const SESSIONS = 200;
const DIRECT = 30;
const CONCURRENCY = 20;
const EXECUTES = 2;
const NAMES = ['r1', 'r2', 'r3'];

interface Endpoint {
  label: 'proxied' | 'direct';
  http: string;
  ws: string;
}

let dir: string;
let db: { url: string; drop(): Promise<void> } | undefined;
const instances: Instance[] = [];
let haproxy: Proc | undefined;
let nginx: Proc | undefined;
let proxied: Endpoint;
let nginxPort: number;
const CONTENT_HOST = 'content.localhost';

async function call(
  ep: Endpoint,
  method: string,
  path: string,
  body?: unknown,
): Promise<{ status: number; body: Json; headers: Headers }> {
  const res = await fetch(ep.http + path, {
    method,
    headers: body === undefined ? auth : { ...auth, 'content-type': 'application/json' },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let parsed: Json = text;
  try {
    parsed = text ? JSON.parse(text) : undefined;
  } catch {
    // Not JSON: kept as text.
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

/** A plain GET with a chosen Host header (fetch cannot set Host), for nginx's second server name. */
function getWithHost(
  port: number,
  path: string,
  host: string,
  headers: Record<string, string> = {},
): Promise<{ status: number; headers: Record<string, string | string[] | undefined>; body: string }> {
  return new Promise((res, rej) => {
    const req = request({ host: '127.0.0.1', port, path, headers: { host, ...headers } }, (r) => {
      let body = '';
      r.setEncoding('utf8');
      r.on('data', (d: string) => {
        body += d;
      });
      r.on('end', () => res({ status: r.statusCode ?? 0, headers: r.headers, body }));
    });
    req.on('error', rej);
    req.end();
  });
}

function p99(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.ceil(s.length * 0.99) - 1)] ?? Number.NaN;
}
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? Number.NaN;

/** Runs code over a websocket; returns the latencies execute_request -> execute_reply (ms). */
async function runWs(c: RawClient, codes: string[]): Promise<number[]> {
  const out: number[] = [];
  for (const code of codes) {
    const m = executeMsg(code, c.session);
    const from = c.messages.length;
    const t0 = performance.now();
    c.send(m);
    const mine = (x: { parent_header: Json }) => x.parent_header?.msg_id === m.header.msg_id;
    const reply = await c.next((x) => mine(x) && x.header.msg_type === 'execute_reply', 30_000, from);
    out.push(performance.now() - t0);
    expect(reply.content.status).toBe('ok');
    await c.next(
      (x) => mine(x) && x.header.msg_type === 'status' && x.content.execution_state === 'idle',
      30_000,
      from,
    );
    const stdout = c.messages
      .slice(from)
      .filter((x) => mine(x) && x.header.msg_type === 'stream')
      .map((x) => x.content.text)
      .join('');
    expect(stdout).toBe(`${code.match(/print\((\d+)\)/)?.[1]}\n`);
  }
  return out;
}

/** A long-poll client: a cursor and a session id. */
class Poller {
  cursor = 0;
  readonly sid = `lp-${randomUUID()}`;
  constructor(
    readonly ep: Endpoint,
    readonly kernel: string,
  ) {}

  async poll(timeoutS: number): Promise<{ status: number; body: Json }> {
    const r = await call(
      this.ep,
      'GET',
      `/api/kernels/${this.kernel}/messages?session_id=${this.sid}&after=${this.cursor}&timeout=${timeoutS}`,
    );
    if (r.status === 200) this.cursor = r.body.next;
    return r;
  }

  /** Runs code; latency from the POST to the poll that brought the execute_reply (ms). */
  async run(code: string): Promise<number> {
    const first = await this.poll(0);
    expect(first.status, JSON.stringify(first.body)).toBe(200);
    const m = executeMsg(code, this.sid);
    const msgs: Json[] = [];
    const t0 = performance.now();
    let pending = this.poll(20);
    const posted = await call(
      this.ep,
      'POST',
      `/api/kernels/${this.kernel}/messages?session_id=${this.sid}`,
      m,
    );
    expect(posted.status, JSON.stringify(posted.body)).toBe(200);
    let latency = 0;
    const deadline = Date.now() + 30_000;
    for (;;) {
      const r = await pending;
      expect(r.status, JSON.stringify(r.body)).toBe(200);
      const mine = (r.body.messages as Json[]).filter((x) => x.parent_header?.msg_id === m.header.msg_id);
      msgs.push(...mine);
      if (!latency && mine.some((x) => x.header.msg_type === 'execute_reply'))
        latency = performance.now() - t0;
      const idle = msgs.some((x) => x.header.msg_type === 'status' && x.content.execution_state === 'idle');
      if (latency && idle) break;
      if (Date.now() > deadline) throw new Error(`long-poll: no reply; got ${JSON.stringify(msgs)}`);
      pending = this.poll(20);
    }
    const reply = msgs.find((x) => x.header.msg_type === 'execute_reply');
    expect(reply.content.status).toBe('ok');
    const stdout = msgs
      .filter((x) => x.header.msg_type === 'stream')
      .map((x) => x.content.text)
      .join('');
    expect(stdout).toBe(`${code.match(/print\((\d+)\)/)?.[1]}\n`);
    return latency;
  }
}

const wsServer = (ep: Endpoint) => ({ wsBase: ep.ws }) as TestServer;

interface SessionResult {
  ep: Endpoint['label'];
  transport: 'websocket' | 'longpoll';
  owner: string;
  latencies: number[];
}

/** One user session: create (kernel from the least-loaded instance), execute, look it up, delete. */
async function session(ep: Endpoint, i: number): Promise<SessionResult> {
  const created = await call(ep, 'POST', '/api/sessions', {
    path: `scale/${ep.label}-${i}.ipynb`,
    name: `s${i}`,
    type: 'notebook',
    kernel: { name: 'python3' },
  });
  expect(created.status, JSON.stringify(created.body)).toBe(201);
  const sid = created.body.id as string;
  const kid = created.body.kernel.id as string;
  const owner = kid.split('-')[0] as string;
  expect(NAMES).toContain(owner);
  expect(sid.startsWith(`${owner}-`), `session ${sid} and kernel ${kid} on one instance`).toBe(true);
  const transport = i % 2 === 0 ? 'websocket' : 'longpoll';
  const codes = Array.from({ length: EXECUTES }, (_, k) => `print(${i * 10 + k})`);
  let latencies: number[];
  if (transport === 'websocket') {
    const c = await RawClient.open(wsServer(ep), kid, { headers: auth });
    try {
      latencies = await runWs(c, codes);
    } finally {
      c.close();
    }
  } else {
    const p = new Poller(ep, kid);
    latencies = [];
    for (const code of codes) latencies.push(await p.run(code));
  }
  const got = await call(ep, 'GET', `/api/sessions/${sid}`);
  expect(got.status).toBe(200);
  expect(got.body.kernel.id).toBe(kid);
  const k = await call(ep, 'GET', `/api/kernels/${kid}`);
  expect(k.status).toBe(200);
  const del = await call(ep, 'DELETE', `/api/sessions/${sid}`);
  expect(del.status, JSON.stringify(del.body)).toBe(204);
  return { ep: ep.label, transport, owner, latencies };
}

/** Runs tasks with at most `n` in flight; the first failure fails the whole run. */
async function bounded<T>(tasks: (() => Promise<T>)[], n: number): Promise<T[]> {
  const out: T[] = [];
  let next = 0;
  const worker = async () => {
    while (next < tasks.length) {
      const i = next++;
      out[i] = await (tasks[i] as () => Promise<T>)();
    }
  };
  await Promise.all(Array.from({ length: n }, worker));
  return out;
}

/** Every logged request that names a kernel or session must name one of this instance's. */
function misrouted(inst: Instance): string[] {
  const bad: string[] = [];
  for (const r of inst.requests()) {
    const m = /^\/api\/(kernels|sessions)\/([^/?]+)/.exec(r.url);
    if (m && !(m[2] as string).startsWith(inst.prefix)) bad.push(`${r.method} ${r.url}`);
  }
  return bad;
}

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'runcell-scale-'));
  db = await createDatabase();
  const ports = await Promise.all([freePort(), freePort(), freePort(), freePort(), freePort()]);
  const [hPort, nPort, ...iPorts] = ports as [number, number, number, number, number];
  nginxPort = nPort;
  const env = (k: number): Record<string, string> => ({
    DATABASE_URL: db?.url as string,
    RUNCELL_TOKENS: TOKEN,
    RUNCELL_POOL_SIZE: String(POOL),
    RUNCELL_MAX_KERNELS: '40',
    RUNCELL_TRUST_PROXY: 'true',
    RUNCELL_CONTENT_ORIGIN: `http://${CONTENT_HOST}:${nPort}`,
    // Three blocks of 67000-67999, one per instance; each its own runtime root.
    RUNCELL_SANDBOX_UID_RANGE: `${67_000 + k * 333}-${67_000 + k * 333 + 332}`,
    RUNCELL_SANDBOX_RUNTIME_ROOT: `/run/rc-scale-${NAMES[k]}`,
    RUNCELL_LOG_LEVEL: 'info',
    RUNCELL_DB_POOL_MAX: '4',
  });
  NAMES.forEach((name, k) => {
    instances.push(new Instance(name, iPorts[k] as number, env(k)));
  });
  // One at a time: three cold pools at once on two cores only make each slower.
  for (const inst of instances) {
    inst.start();
    await inst.ready(TOKEN, POOL);
  }
  haproxy = startHaproxy(dir, `127.0.0.1:${hPort}`, instances);
  nginx = startNginx(join(dir, 'nginx'), {
    RUNCELL_LISTEN: `127.0.0.1:${nPort}`,
    RUNCELL_SERVER_NAME: '127.0.0.1',
    RUNCELL_CONTENT_SERVER_NAME: CONTENT_HOST,
    RUNCELL_UPSTREAM: `127.0.0.1:${hPort}`,
    RUNCELL_WEB_DIST: join(REPO, 'web/dist'),
  });
  proxied = { label: 'proxied', http: `http://127.0.0.1:${nPort}`, ws: `ws://127.0.0.1:${nPort}` };
  // HAProxy starts with every server up; its checks take them out if not.
  await until(async () => (await fetch(`${proxied.http}/api`)).status === 200, 30_000, 'the proxies');
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([nginx?.stop(), haproxy?.stop()]);
  await Promise.allSettled(instances.map((i) => i.stop()));
  // The processes' logs, for a look after a failure (test-output/ is ignored by git).
  const out = join(REPO, 'test-output/scale');
  mkdirSync(out, { recursive: true });
  if (haproxy) writeFileSync(join(out, 'haproxy.log'), haproxy.lines.join('\n'));
  for (const i of instances) writeFileSync(join(out, `${i.name}.log`), i.lines.join('\n'));
  await db?.drop();
  if (dir) rmSync(dir, { recursive: true, force: true });
}, 120_000);

describe('nginx + HAProxy + three runcell instances', () => {
  it('nginx serves the web assets itself, the API through HAProxy, user content on its own name', async () => {
    const js = await fetch(`${proxied.http}/static/runcell.js`);
    expect(js.status).toBe(200);
    expect(js.headers.get('access-control-allow-origin')).toBe('*');
    expect(js.headers.get('cross-origin-resource-policy')).toBe('cross-origin');
    expect(js.headers.get('x-content-type-options')).toBe('nosniff');
    expect(js.headers.get('cache-control')).toContain('max-age=300');
    const frame = await fetch(`${proxied.http}/static/frame.html`);
    expect(frame.status).toBe(200);
    expect(frame.headers.get('content-security-policy')).toMatch(/^sandbox allow-scripts/);
    expect((await fetch(`${proxied.http}/static/../package.json`)).status).toBe(404);
    // nginx answered from disk: no instance saw a /static request.
    for (const inst of instances)
      expect(inst.requests().filter((r) => r.url.startsWith('/static/'))).toEqual([]);

    const api = await call(proxied, 'GET', '/api/kernelspecs');
    expect(api.status).toBe(200);
    expect(api.headers.get('x-content-type-options')).toBe('nosniff');
    expect((await fetch(`${proxied.http}/metrics`, { headers: auth })).status).toBe(404);

    // The content name serves the output frame and files, and nothing else of runcell.
    const cf = await getWithHost(nginxPort, '/static/frame.html', CONTENT_HOST);
    expect(cf.status).toBe(200);
    expect(String(cf.headers['content-security-policy'])).toMatch(/^sandbox allow-scripts/);
    expect((await getWithHost(nginxPort, '/api/kernels', CONTENT_HOST)).status).toBe(404);
    const file = await getWithHost(nginxPort, '/files/nosuchfile/a.html', CONTENT_HOST);
    expect(file.status).toBe(404);
    expect(JSON.parse(file.body).code).toMatch(/^RUNCELL_ERR_/);

    // tus uploads stream through; an oversized body is refused by nginx before it is read.
    const created = await fetch(`${proxied.http}/api/uploads`, {
      method: 'POST',
      headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-length': String(1 << 20) },
    });
    expect(created.status).toBe(201);
    const location = new URL(created.headers.get('location') as string, proxied.http).pathname;
    const patched = await fetch(`${proxied.http}${location}`, {
      method: 'PATCH',
      headers: {
        ...auth,
        'tus-resumable': '1.0.0',
        'upload-offset': '0',
        'content-type': 'application/offset+octet-stream',
      },
      body: Buffer.alloc(1 << 20, 7),
    });
    expect(patched.status).toBe(204);
    expect(patched.headers.get('upload-offset')).toBe(String(1 << 20));
    const big = await new Promise<number>((res, rej) => {
      const req = request(
        {
          host: '127.0.0.1',
          port: nginxPort,
          method: 'PATCH',
          path: location,
          headers: { ...auth, 'content-length': String(101 * 1024 * 1024), 'tus-resumable': '1.0.0' },
        },
        (r) => {
          r.resume();
          res(r.statusCode ?? 0);
          req.destroy();
        },
      );
      req.on('error', rej);
      req.flushHeaders();
    });
    expect(big).toBe(413);
  });

  const results: SessionResult[] = [];

  it(`${SESSIONS} sessions through nginx and HAProxy, none misrouted, no errors`, async () => {
    const direct: Endpoint = {
      label: 'direct',
      http: (instances[0] as Instance).base,
      ws: (instances[0] as Instance).base.replace('http', 'ws'),
    };
    const tasks: (() => Promise<SessionResult>)[] = [];
    // Direct sessions spread through the run so both kinds see the same load.
    const every = Math.floor(SESSIONS / DIRECT);
    for (let i = 0, d = 0; i < SESSIONS; i++) {
      tasks.push(() => session(proxied, i));
      if (i % every === every - 1 && d < DIRECT) {
        const k = d++;
        tasks.push(() => session(direct, 10_000 + k));
      }
    }
    const t0 = Date.now();
    results.push(...(await bounded(tasks, CONCURRENCY)));
    const seconds = (Date.now() - t0) / 1000;

    const viaProxy = results.filter((r) => r.ep === 'proxied');
    expect(viaProxy).toHaveLength(SESSIONS);
    const kernelsPer = Object.fromEntries(
      NAMES.map((n) => [n, viaProxy.filter((r) => r.owner === n).length]),
    );
    // Least-connections spreads new kernels over all three.
    for (const n of NAMES) expect(kernelsPer[n]).toBeGreaterThan(SESSIONS / 10);

    // No instance ever saw a request for a kernel or session it does not own.
    for (const inst of instances) expect(misrouted(inst), inst.name).toEqual([]);
    const log = haproxyLog(haproxy as Proc);
    const owned = log.filter((l) => /^\/api\/(kernels|sessions)\/[^/]+/.test(l.path));
    expect(owned.length).toBeGreaterThan(SESSIONS * 3);
    for (const l of owned) {
      const owner = l.path.split('/')[3]?.split('-')[0];
      expect(`${l.backend}/${l.server}`, l.path).toBe(`be_${owner}/${owner}`);
    }
    const errors = log.filter((l) => l.status >= 500);
    expect(errors).toEqual([]);

    const lat = (label: string) => results.filter((r) => r.ep === label).flatMap((r) => r.latencies);
    const px = lat('proxied');
    const dx = lat('direct');
    const figures = {
      sessions: { proxied: viaProxy.length, direct: results.length - viaProxy.length },
      seconds,
      kernelsPerInstance: kernelsPer,
      requestsPerInstance: Object.fromEntries(instances.map((i) => [i.name, i.requests().length])),
      haproxyRequestsPerBackend: log.reduce<Record<string, number>>((a, l) => {
        a[l.backend] = (a[l.backend] ?? 0) + 1;
        return a;
      }, {}),
      errors: errors.length,
      misrouted: instances.reduce((a, i) => a + misrouted(i).length, 0),
      executeMs: {
        proxied: { n: px.length, median: median(px), p99: p99(px) },
        direct: { n: dx.length, median: median(dx), p99: p99(dx) },
        p99Ratio: p99(px) / p99(dx),
      },
      server: serverCommand().built ? 'dist' : 'tsx',
    };
    console.log(
      `scale figures ${JSON.stringify(figures, (_k, v) => (typeof v === 'number' ? Math.round(v * 100) / 100 : v))}`,
    );
  }, 400_000);

  it("a page's close beacon ends its kernels on every instance, whichever instance it reaches", async () => {
    // The beacon names no kernel, so HAProxy sends it to the least-loaded instance; the page's kernels
    // are on several. Without the word passed between instances, the others would keep theirs for the
    // 30 s a page that never connected gets.
    const page = randomUUID().replaceAll('-', '');
    const kernels: string[] = [];
    const owners = () => new Set(kernels.map((k) => k.split('-')[0]));
    for (let i = 0; owners().size < NAMES.length; i++) {
      expect(i).toBeLessThan(12);
      const r = await call(proxied, 'POST', `/api/kernels?page=${page}`, { name: 'python3' });
      expect(r.status, JSON.stringify(r.body)).toBe(201);
      kernels.push(r.body.id as string);
    }
    const beacon = await call(proxied, 'POST', `/api/pages/${page}/close`);
    expect(beacon.status).toBe(204);
    await until(
      async () =>
        (await Promise.all(kernels.map((k) => call(proxied, 'GET', `/api/kernels/${k}`)))).every(
          (r) => r.status === 404,
        ),
      15_000,
      `the page's ${kernels.length} kernels on ${owners().size} instances gone`,
    );
  }, 60_000);

  it('an instance killed: others untouched, its permalinks served, its clients told; restarted, it rejoins', async () => {
    const victim = instances[1] as Instance;
    // Live sessions on every instance: one websocket and one long-poll client each.
    const live: { owner: string; kid: string; sid: string; ws: RawClient; lp: Poller }[] = [];
    for (let i = 0; live.length < 6 || NAMES.some((n) => !live.some((l) => l.owner === n)); i++) {
      expect(i).toBeLessThan(30);
      const c = await call(proxied, 'POST', '/api/sessions', {
        path: `live/${i}`,
        kernel: { name: 'python3' },
      });
      expect(c.status, JSON.stringify(c.body)).toBe(201);
      const kid = c.body.kernel.id as string;
      const ws = await RawClient.open(wsServer(proxied), kid, { headers: auth });
      const lp = new Poller(proxied, kid);
      await runWs(ws, ['print(1)']);
      await lp.run('print(2)');
      live.push({ owner: kid.split('-')[0] as string, kid, sid: c.body.id, ws, lp });
    }
    // A permalink made by the instance about to die.
    const link = await call({ label: 'direct', http: victim.base, ws: '' }, 'POST', '/api/permalinks', {
      code: 'print("kept")',
      kernel: 'python3',
    });
    expect(link.status, JSON.stringify(link.body)).toBe(201);

    await victim.stop('SIGKILL');

    const theirs = live.filter((l) => l.owner === victim.name);
    const ours = live.filter((l) => l.owner !== victim.name);
    expect(theirs.length).toBeGreaterThan(0);
    // The victim's websockets close; its REST and long-poll clients get KERNEL_LOST.
    for (const l of theirs) {
      const closed = await l.ws.closed;
      expect(closed.code).not.toBe(1000);
      const poll = await l.lp.poll(1);
      expect(poll.status).toBe(503);
      expect(poll.body.code).toBe('RUNCELL_ERR_KERNEL_LOST');
      const rest = await call(proxied, 'GET', `/api/kernels/${l.kid}`);
      expect(rest.status).toBe(503);
      expect(rest.body.code).toBe('RUNCELL_ERR_KERNEL_LOST');
      const sess = await call(proxied, 'GET', `/api/sessions/${l.sid}`);
      expect(sess.body.code).toBe('RUNCELL_ERR_KERNEL_LOST');
      l.ws.close();
    }
    // The others go on over the connections they already had.
    for (const l of ours) {
      expect(l.ws.ws.readyState).toBe(l.ws.ws.OPEN);
      await runWs(l.ws, ['print(3)']);
      await l.lp.run('print(4)');
    }
    // Permalinks live in Postgres: any instance serves them.
    const code = await fetch(`${proxied.http}/p/${link.body.id}/code`, { headers: auth });
    expect(code.status).toBe(200);
    expect(await code.text()).toBe('print("kept")');
    // New kernels go to the living.
    for (let i = 0; i < 6; i++) {
      const r = await session(proxied, 20_000 + i);
      expect(r.owner).not.toBe(victim.name);
    }

    // Back: HAProxy sees /readyz 200 again and new kernels land on it.
    victim.start();
    await victim.ready(TOKEN, POOL);
    const owners: string[] = [];
    await until(
      async () => {
        owners.push((await session(proxied, 30_000 + owners.length)).owner);
        return owners.includes(victim.name);
      },
      60_000,
      `a new kernel on the restarted ${victim.name}`,
    );
    for (const l of ours) {
      await runWs(l.ws, ['print(5)']);
      l.ws.close();
      expect((await call(proxied, 'DELETE', `/api/sessions/${l.sid}`)).status).toBe(204);
    }
    for (const inst of instances) expect(misrouted(inst), inst.name).toEqual([]);
    console.log(`scale rejoin ${JSON.stringify({ victim: victim.name, sessionsUntilRejoined: owners })}`);
  }, 300_000);
});
