// The soak run (issue #8, item 7): the built server in a child process under a steady mix of users for
// 30 minutes (websocket cells, long-poll cells, one-shot executes with permalinks, SDK jobs, tus uploads)
// with one attacker of each kind of test/security/hostile-code.test.ts in the mix, cycling, after a
// quiet first phase without attackers (the baseline). A benchmark, not a test: it prints figures and
// exits 0 whatever they are (non-zero only when the harness itself fails).
//   npm run bench -- soak [--minutes 30] [--interval SECONDS] [--quiet SECONDS] [--store postgres|pglite]
//                         [--attacks "fork bomb,forged iopub"]   (only these attacks: for checking the harness)
// Every interval (60 s; 20 s for runs under 10 minutes) a line on stderr: elapsed, operations, errors,
// p50/p99 of the interval (all user operations, and the cell round trip), server RSS and heap, kernels.
// At the end JSON and a summary line on stdout: operations and HTTP requests served, errors with a
// breakdown, p99 per interval, the baseline ratio (cell round trip p99 with attackers / quiet), memory
// over time with its least-squares slopes after the warm-up (the quiet phase and one full cycle of
// attacks), of every sample and of each interval's floor (MB/hour), the attacks' outcomes, and
// kernels leaked (listed or live beyond the pool before the stop; processes of the uid range after it).
// Everything it starts (server, kernels, database) is stopped and removed, on Ctrl-C too.
import { randomBytes } from 'node:crypto';
import { existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { ATTACKS as ALL_ATTACKS, type Attack, type AttackContext } from './lib/attacks.js';
import { call, KernelSocket, type Run } from './lib/soak-clients.js';
import {
  buildIsStale,
  killRange,
  processesInRange,
  type SoakServer,
  startSoakServer,
  summariseLog,
} from './lib/soak-server.js';
import {
  type Env,
  executeUser,
  jobsUser,
  longPollUser,
  uploadUser,
  websocketUser,
} from './lib/soak-users.js';
import { quantile, report } from './stats.js';

// ------------------------------------------------------------------------------------------ settings

function arg(name: string): string | undefined {
  const argv = process.argv.slice(2);
  const i = argv.findIndex((a) => a === `--${name}` || a.startsWith(`--${name}=`));
  if (i < 0) return undefined;
  const a = argv[i] as string;
  return a.includes('=') ? a.slice(a.indexOf('=') + 1) : argv[i + 1];
}

const MINUTES = Number(arg('minutes') ?? process.env.BENCH_SOAK_MINUTES ?? 30);
const DURATION_MS = MINUTES * 60_000;
const INTERVAL_MS = Number(arg('interval') ?? (MINUTES >= 10 ? 60 : 20)) * 1000;
/** The quiet first phase (no attackers): the baseline, and the warm-up the memory slope leaves out. */
const QUIET_MS = Number(arg('quiet') ?? Math.min(180, Math.max(60, MINUTES * 6))) * 1000;
const STORE = (arg('store') ?? 'postgres') as 'postgres' | 'pglite';
/** Only these attacks (comma-separated names), for checking the harness; default every one. */
const ONLY_ATTACKS = arg('attacks')
  ?.split(',')
  .map((x) => x.trim());
const ADMIN_URL = process.env.BENCH_PG_URL ?? 'postgres://postgres@127.0.0.1:5432/postgres';
const ATTACKS = ONLY_ATTACKS ? ALL_ATTACKS.filter((a) => ONLY_ATTACKS.includes(a.name)) : ALL_ATTACKS;
if (ATTACKS.length === 0) {
  console.error(
    `--attacks: none of ${ONLY_ATTACKS?.join(', ')}; have ${ALL_ATTACKS.map((a) => a.name).join(', ')}`,
  );
  process.exit(2);
}
if (!(MINUTES > 0) || !(INTERVAL_MS > 0) || !(QUIET_MS >= 0) || !['postgres', 'pglite'].includes(STORE)) {
  console.error(
    'usage: npm run bench -- soak [--minutes N] [--interval S] [--quiet S] [--store postgres|pglite] [--attacks a,b]',
  );
  process.exit(2);
}

// Kernel uids and runtime root of this bench alone: the tests use 61000-70999 (and a CI guard flags
// leftover processes there), the other benches 64000-68999.
const UIDS: [number, number] = [71_000, 71_999];
const RUNTIME_ROOT = '/run/rc-soak';
const POOL = 3;
const MiB = 2 ** 20;
const SETTINGS: Record<string, string> = {
  RUNCELL_POOL_SIZE: String(POOL),
  RUNCELL_MAX_KERNELS: '16',
  // Limits for attackers: a few seconds of wall time per run, 256 MiB per kernel, output caps.
  RUNCELL_EXECUTION_TIMEOUT_MS: '5000',
  RUNCELL_SANDBOX_MEMORY_BYTES: String(256 * MiB),
  RUNCELL_KERNEL_MESSAGE_BYTES: String(8 * MiB),
  RUNCELL_EXECUTION_OUTPUT_BYTES: String(16 * MiB),
  // Nothing is culled behind the bench's back: whatever is left at the end is a leak.
  RUNCELL_KERNEL_IDLE_TIMEOUT_MS: '0',
};
const SAMPLE_MS = 5_000;
const ATTACK_PAUSE_MS = 8_000;
/** Operations whose duration is a designed wait, left out of the latency figures. */
const NOT_LATENCY = new Set(['poll.hold']);

const here = dirname(fileURLToPath(import.meta.url));
const REPO = join(here, '..');
const TOKEN = randomBytes(16).toString('hex');
const MARKER = `rc-soak-marker-${randomBytes(6).toString('hex')}`;
const CANARY = join(tmpdir(), `rc-soak-canary-${process.pid}`);

// --------------------------------------------------------------------------------------- the record

interface Sample {
  t: number;
  op: string;
  ms: number;
  ok: boolean;
}
interface MemSample {
  t: number;
  rss: number;
  heap: number;
  live: number;
  pooled: number;
  sockets: number;
  lagP99Ms: number;
}
interface AttackStat {
  runs: number;
  expected: number;
  outcomes: Record<string, number>;
  problems: string[];
}

const samples: Sample[] = [];
const mem: MemSample[] = [];
const errors = new Map<string, number>();
const errorExamples: string[] = [];
const attacks = new Map<string, AttackStat>();
const intervals: Record<string, unknown>[] = [];
let t0 = 0;
let forged = 0;
let victim: KernelSocket | undefined;
const now = () => performance.now() - t0;

function recordError(op: string, message: string): void {
  // Numbers and ids vary; the kind of error does not.
  const key = `${op}: ${message
    .replace(/[0-9a-f]{8}-[0-9a-f-]{27}/gi, 'ID')
    .replace(/\d+/g, 'N')
    .slice(0, 160)}`;
  errors.set(key, (errors.get(key) ?? 0) + 1);
  if (errorExamples.length < 20)
    errorExamples.push(`${(now() / 1000).toFixed(0)} s ${op}: ${message.slice(0, 300)}`);
}

// ------------------------------------------------------------------------------------------ the run

let endAt = Number.POSITIVE_INFINITY;
let interrupted = false;
const wakers = new Set<() => void>();
const running = () => now() < endAt;
function sleep(ms: number): Promise<void> {
  return new Promise((resolve) => {
    const done = () => {
      clearTimeout(t);
      wakers.delete(done);
      resolve();
    };
    const t = setTimeout(done, Math.max(0, Math.min(ms, endAt - now())));
    wakers.add(done);
  });
}
function endNow(): void {
  endAt = Math.min(endAt, now());
  for (const w of [...wakers]) w();
}

async function op<T>(name: string, fn: () => Promise<T>): Promise<T | undefined> {
  const start = now();
  try {
    const v = await fn();
    samples.push({ t: start, op: name, ms: now() - start, ok: true });
    return v;
  } catch (e) {
    samples.push({ t: start, op: name, ms: now() - start, ok: false });
    recordError(name, e instanceof Error ? e.message : String(e));
    return undefined;
  }
}

function envFor(server: SoakServer): Env {
  return {
    base: server.base,
    wsBase: server.wsBase,
    headers: { authorization: `token ${TOKEN}` },
    token: TOKEN,
    running,
    sleep,
    op,
    watch(sock) {
      sock.onForged = () => forged++;
      victim = sock;
    },
  };
}

async function waitGone(uid: number, ms: number): Promise<number> {
  const deadline = Date.now() + ms;
  for (;;) {
    const left = processesInRange([uid, uid]).length;
    if (left === 0 || Date.now() > deadline) return left;
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** One attack through the public API as an anonymous browser would: its own kernel, then deleted. */
async function attack(server: SoakServer, a: Attack): Promise<void> {
  const headers = { origin: server.base };
  const api = (method: string, path: string, body?: unknown) =>
    call(server.base, method, path, headers, body);
  const stat = attacks.get(a.name) ?? { runs: 0, expected: 0, outcomes: {}, problems: [] };
  attacks.set(a.name, stat);
  const start = now();
  let problem: string | undefined;
  let outcome = 'not run';
  const made = await api('POST', '/api/kernels', {}).catch((e: Error) => e);
  if (made instanceof Error || made.status !== 201) {
    problem = `could not start its kernel: ${made instanceof Error ? made.message : `${made.status} ${JSON.stringify(made.body)}`}`;
  } else {
    const id = made.body.id as string;
    let uid = 0;
    let ctx: AttackContext | undefined;
    try {
      const sock = await KernelSocket.open(server.wsBase, id, headers);
      const who = await sock.run('import os; print(os.getuid())', 30_000);
      uid = Number(who.stdout.trim());
      if (!(uid >= UIDS[0] && uid <= UIDS[1]))
        throw new Error(`kernel uid ${who.stdout.trim()} outside the range`);
      ctx = {
        id,
        uid,
        sock,
        api,
        processes: () => processesInRange([uid, uid]).length,
        serverPid: server.pid,
        cwd: REPO,
        runtimeRoot: RUNTIME_ROOT,
        marker: MARKER,
        token: TOKEN,
        canary: CANARY,
        victim: () => ({ request: victim?.lastRequest, iopub: victim?.lastIopub }),
        forgedSeen: () => forged,
        forgedAtStart: forged,
      };
      const inFlight = sock.run(a.code(ctx), a.timeoutMs ?? 30_000);
      await new Promise((r) => setTimeout(r, a.settleMs ?? 300));
      const during = await a.during?.(ctx);
      const o: Run = await inFlight;
      outcome = o.dead
        ? `killed: ${o.dead}`
        : o.timedOut
          ? 'no end'
          : o.reply?.ename
            ? `error: ${o.reply.ename}`
            : 'ran, contained';
      problem =
        o.timedOut && !o.dead
          ? 'the attack neither finished nor was stopped'
          : (during ?? (await a.judge(o, ctx)));
      await sock.close();
    } catch (e) {
      problem = `harness: ${e instanceof Error ? e.message : String(e)}`;
    } finally {
      const del = await api('DELETE', `/api/kernels/${id}`).catch((e: Error) => e);
      if (del instanceof Error || ![204, 404].includes(del.status))
        problem ??= `delete: ${del instanceof Error ? del.message : del.status}`;
      if (uid) {
        const left = await waitGone(uid, 5_000);
        if (left) problem ??= `${left} processes of its uid ${uid} left 5 s after the delete`;
      }
    }
    if (!problem && ctx) problem = a.afterDelete?.(ctx);
  }
  const health = await fetch(`${server.base}/healthz`).catch(() => undefined);
  if (health?.status !== 200) problem ??= `/healthz answered ${health?.status ?? 'nothing'} after the attack`;
  stat.runs++;
  stat.outcomes[outcome] = (stat.outcomes[outcome] ?? 0) + 1;
  samples.push({ t: start, op: `attack`, ms: now() - start, ok: !problem });
  if (problem) {
    if (stat.problems.length < 5) stat.problems.push(problem.slice(0, 400));
    recordError(`attack ${a.name}`, problem);
  } else stat.expected++;
}

/** When every attack had run once: every code path of the server has been taken (memory warm-up). */
let firstCycleEnd: number | undefined;

async function attacker(server: SoakServer): Promise<void> {
  for (let i = 0; running(); i++) {
    await attack(server, ATTACKS[i % ATTACKS.length] as Attack);
    if (i === ATTACKS.length - 1) firstCycleEnd = now();
    await sleep(ATTACK_PAUSE_MS);
  }
}

// ------------------------------------------------------------------------------------------ figures

const r1 = (x: number) => Math.round(x * 10) / 10;
const MB = (b: number) => r1(b / 1e6);
const userLatency = (s: Sample) => s.ok && !s.op.startsWith('attack') && !NOT_LATENCY.has(s.op);
function pct(xs: Sample[], q: number): number | null {
  return xs.length
    ? r1(
        quantile(
          xs.map((s) => s.ms),
          q,
        ),
      )
    : null;
}

/** Least-squares slope of y over x. */
function slope(points: [number, number][]): number {
  const n = points.length;
  if (n < 3) return Number.NaN;
  const mx = points.reduce((a, p) => a + p[0], 0) / n;
  const my = points.reduce((a, p) => a + p[1], 0) / n;
  let num = 0;
  let den = 0;
  for (const [x, y] of points) {
    num += (x - mx) * (y - my);
    den += (x - mx) ** 2;
  }
  return den ? num / den : Number.NaN;
}

function clock(ms: number): string {
  const s = Math.round(ms / 1000);
  return `${Math.floor(s / 60)}:${String(s % 60).padStart(2, '0')}`;
}

let lastTick = 0;
function tick(): void {
  const to = now();
  const win = samples.filter((s) => s.t >= lastTick && s.t < to);
  const lat = win.filter(userLatency);
  const cells = lat.filter((s) => s.op === 'cell');
  const m = mem.at(-1);
  const att = [...attacks.values()];
  const row = {
    t_s: Math.round(to / 1000),
    phase: lastTick < QUIET_MS ? 'quiet' : 'attack',
    ops: win.length,
    errors: win.filter((s) => !s.ok).length,
    p50_ms: pct(lat, 0.5),
    p99_ms: pct(lat, 0.99),
    cell_p50_ms: pct(cells, 0.5),
    cell_p99_ms: pct(cells, 0.99),
    rss_mb: m ? MB(m.rss) : null,
    heap_mb: m ? MB(m.heap) : null,
    kernels_live: m?.live ?? null,
    kernels_pooled: m?.pooled ?? null,
  };
  intervals.push(row);
  const total = samples.length;
  const errs = samples.filter((s) => !s.ok).length;
  console.error(
    `[soak] ${clock(to)} ${row.phase.padEnd(6)} | ops ${total} (+${row.ops}) errors ${errs} (+${row.errors}) | ` +
      `all p50 ${row.p50_ms ?? '-'} p99 ${row.p99_ms ?? '-'} ms | ` +
      `cell p50 ${row.cell_p50_ms ?? '-'} p99 ${row.cell_p99_ms ?? '-'} ms | ` +
      `rss ${row.rss_mb} MB heap ${row.heap_mb} MB | kernels ${row.kernels_live} live (${row.kernels_pooled} pooled) | ` +
      `attacks ${att.reduce((a, s) => a + s.runs, 0)} (${att.reduce((a, s) => a + s.expected, 0)} as expected)`,
  );
  lastTick = to;
}

async function sampleServer(server: SoakServer): Promise<void> {
  const rss = server.rss();
  try {
    const m = await server.metrics();
    mem.push({
      t: now(),
      rss,
      heap: m.get('runcell_nodejs_heap_size_used_bytes') ?? 0,
      live: m.get('runcell_kernels_live') ?? 0,
      pooled: m.get('runcell_kernels_pooled') ?? 0,
      sockets: m.get('runcell_websockets') ?? 0,
      lagP99Ms: r1((m.get('runcell_nodejs_eventloop_lag_p99_seconds') ?? 0) * 1000),
    });
  } catch (e) {
    recordError('metrics', e instanceof Error ? e.message : String(e));
  }
}

// ------------------------------------------------------------------------------------------- main

let server: SoakServer | undefined;

function lastResort(): void {
  server?.killNow();
  killRange(UIDS);
}
process.on('exit', lastResort);
for (const sig of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) {
  process.on(sig, () => {
    if (interrupted) {
      console.error('[soak] second signal: killing everything now');
      lastResort();
      process.exit(130);
    }
    interrupted = true;
    console.error(
      `[soak] ${sig}: ending the run, stopping the server and its kernels (again to kill at once)`,
    );
    endNow();
  });
}

async function main(): Promise<void> {
  if (buildIsStale(REPO))
    console.error('[soak] note: dist/ is older than server/ or kernel-manager/ sources; run npm run build');
  const before = processesInRange(UIDS);
  if (before.length) {
    console.error(
      `[soak] ${before.length} processes of uids ${UIDS.join('-')} left by an earlier run: killed`,
    );
    killRange(UIDS);
  }
  mkdirSync(CANARY, { recursive: true });
  writeFileSync(join(CANARY, 'keep'), 'keep');
  let store = STORE;
  const options = {
    repo: REPO,
    token: TOKEN,
    uidRange: UIDS,
    runtimeRoot: RUNTIME_ROOT,
    adminUrl: ADMIN_URL,
    settings: SETTINGS,
    env: { SOAK_MARKER: MARKER },
  };
  try {
    server = await startSoakServer({ ...options, store });
  } catch (e) {
    if (store !== 'postgres' || !/ECONNREFUSED|connect/i.test(String(e))) throw e;
    console.error(`[soak] Postgres at ${ADMIN_URL} unreachable (${e}); using embedded PGlite`);
    store = 'pglite';
    server = await startSoakServer({ ...options, store });
  }
  const s = server;
  try {
    // A full pool before the clock starts.
    for (let i = 0; i < 600; i++) {
      if (((await s.metrics()).get('runcell_kernels_pooled') ?? 0) >= POOL) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    console.error(
      `[soak] server pid ${s.pid} at ${s.base}, store ${s.store}; ${MINUTES} min, quiet phase ${QUIET_MS / 1000} s, ` +
        `line every ${INTERVAL_MS / 1000} s; log ${s.logPath}`,
    );
    t0 = performance.now();
    endAt = Math.min(endAt, DURATION_MS);
    const env = envFor(s);
    const users = [
      websocketUser(env),
      websocketUser(env),
      longPollUser(env),
      executeUser(env),
      jobsUser(env),
      uploadUser(env),
    ];
    let attackerDone: Promise<void> = Promise.resolve();
    const startAttacker = setTimeout(() => {
      if (running()) attackerDone = attacker(s);
    }, QUIET_MS);
    await sampleServer(s);
    const sampler = setInterval(() => {
      if (s.exited) {
        recordError('server', `the server exited (${s.exited.code ?? s.exited.signal}) during the run`);
        endNow();
        return;
      }
      void sampleServer(s);
    }, SAMPLE_MS);
    const ticker = setInterval(tick, INTERVAL_MS);
    await sleep(DURATION_MS);
    clearTimeout(startAttacker);
    // The users finish the step they are in and delete their kernels.
    const drained = await Promise.race([
      Promise.allSettled([...users, attackerDone]).then(() => true),
      new Promise<boolean>((r) => setTimeout(() => r(false), 120_000)),
    ]);
    clearInterval(sampler);
    clearInterval(ticker);
    const runMs = now();
    if (runMs - lastTick > 1_000) tick();
    if (!drained) console.error('[soak] some users did not finish within 120 s of the end');

    // Leaks before the stop: kernels still listed, or live beyond the pool once it has settled.
    let listed: unknown[] = [];
    let beyondPool = Number.NaN;
    if (!s.exited) {
      for (let i = 0; i < 60; i++) {
        const m = await s.metrics().catch(() => undefined);
        if (m) beyondPool = (m.get('runcell_kernels_live') ?? 0) - (m.get('runcell_kernels_pooled') ?? 0);
        if (beyondPool === 0) break;
        await new Promise((r) => setTimeout(r, 1_000));
      }
      const k = await call(s.base, 'GET', '/api/kernels', { authorization: `token ${TOKEN}` }).catch(
        () => undefined,
      );
      listed = Array.isArray(k?.body) ? k.body : [];
    }
    const final = s.exited ? undefined : await s.metrics().catch(() => undefined);
    const exit = await s.stop();
    // Leaks after the stop: processes of the uid range, runtime dirs left.
    let leftProcs = processesInRange(UIDS);
    for (let i = 0; i < 100 && leftProcs.length; i++) {
      await new Promise((r) => setTimeout(r, 100));
      leftProcs = processesInRange(UIDS);
    }
    const killed = killRange(UIDS);
    const leftDirs = existsSync(RUNTIME_ROOT) ? readdirSync(RUNTIME_ROOT) : [];
    const log = summariseLog(s.logPath);
    const keepLog = log.warn + log.error + log.fatal > 0;
    await s.cleanup(keepLog);
    server = undefined;

    // Figures.
    const quiet = samples.filter((x) => x.t < QUIET_MS);
    const loud = samples.filter((x) => x.t >= QUIET_MS);
    const cellsOf = (xs: Sample[]) => xs.filter((x) => userLatency(x) && x.op === 'cell');
    const ratio = (a: number, b: number) => (b > 0 ? Math.round((a / b) * 100) / 100 : null);
    const q = (xs: Sample[], p: number) =>
      quantile(
        xs.map((x) => x.ms),
        p,
      );
    const qc = cellsOf(quiet);
    const lc = cellsOf(loud);
    const ql = quiet.filter(userLatency);
    const ll = loud.filter(userLatency);
    // Memory after the warm-up (the quiet phase and one full cycle of attacks; at most half the run):
    // the slope of every sample, and of each interval's lowest (the floor under GC's sawtooth).
    const fitFrom = Math.min(Math.max(QUIET_MS, firstCycleEnd ?? 0), runMs / 2);
    const after = mem.filter((m) => m.t >= fitFrom);
    const hours = (m: MemSample) => m.t / 3.6e6;
    const rssSlope = slope(after.map((m) => [hours(m), m.rss / 1e6]));
    const heapSlope = slope(after.map((m) => [hours(m), m.heap / 1e6]));
    const floors = new Map<number, MemSample[]>();
    for (const m of after) {
      const k = Math.floor((m.t - fitFrom) / INTERVAL_MS);
      floors.set(k, [...(floors.get(k) ?? []), m]);
    }
    const floorOf = (xs: MemSample[], f: (m: MemSample) => number): [number, number] => {
      const low = xs.reduce((a, b) => (f(b) < f(a) ? b : a));
      return [hours(low), f(low) / 1e6];
    };
    const rssFloor = [...floors.values()].map((xs) => floorOf(xs, (m) => m.rss));
    const heapFloor = [...floors.values()].map((xs) => floorOf(xs, (m) => m.heap));
    const byOp: Record<string, unknown> = {};
    for (const name of [...new Set(samples.map((x) => x.op))].sort()) {
      const xs = samples.filter((x) => x.op === name);
      const okd = xs.filter((x) => x.ok);
      byOp[name] = {
        n: xs.length,
        errors: xs.length - okd.length,
        p50_ms: pct(okd, 0.5),
        p99_ms: pct(okd, 0.99),
      };
    }
    const errCount = samples.filter((x) => !x.ok).length + (errors.get('metrics') ?? 0);
    const http = final?.get('runcell_http_request_duration_seconds_count') ?? Number.NaN;
    const wsIn = final?.get('runcell_kernel_messages_total{direction="in"}') ?? Number.NaN;
    const leakedListed = listed.length;
    const leakedProcs = leftProcs.length;
    const attackRuns = [...attacks.values()].reduce((a, x) => a + x.runs, 0);
    const attackOk = [...attacks.values()].reduce((a, x) => a + x.expected, 0);
    const memEvery = Math.max(1, Math.round(INTERVAL_MS / SAMPLE_MS));
    const result = {
      machine: `${process.platform} ${(await import('node:os')).cpus().length} cores, node ${process.version}`,
      minutes: r1(runMs / 60_000),
      interrupted,
      store: s.store,
      settings: { ...SETTINGS, uids: UIDS.join('-'), runtime_root: RUNTIME_ROOT, quiet_s: QUIET_MS / 1000 },
      operations: samples.length,
      http_requests_served: http,
      websocket_messages_in: wsIn,
      errors: errCount,
      error_breakdown: Object.fromEntries([...errors.entries()].sort((a, b) => b[1] - a[1])),
      error_examples: errorExamples,
      latency: {
        all: {
          p50_ms: pct(samples.filter(userLatency), 0.5),
          p99_ms: pct(samples.filter(userLatency), 0.99),
        },
        by_op: byOp,
      },
      baseline: {
        quiet_cell: { n: qc.length, p50_ms: pct(qc, 0.5), p99_ms: pct(qc, 0.99) },
        attack_cell: { n: lc.length, p50_ms: pct(lc, 0.5), p99_ms: pct(lc, 0.99) },
        cell_p99_ratio: ratio(q(lc, 0.99), q(qc, 0.99)),
        cell_p50_ratio: ratio(q(lc, 0.5), q(qc, 0.5)),
        all_p99_ratio: ratio(q(ll, 0.99), q(ql, 0.99)),
      },
      intervals,
      memory: {
        samples: mem
          .filter((_, i) => i % memEvery === 0)
          .map((m) => ({
            t_s: Math.round(m.t / 1000),
            rss_mb: MB(m.rss),
            heap_mb: MB(m.heap),
            kernels_live: m.live,
            websockets: m.sockets,
            lag_p99_ms: m.lagP99Ms,
          })),
        rss_slope_mb_per_hour: r1(rssSlope),
        heap_slope_mb_per_hour: r1(heapSlope),
        rss_floor_slope_mb_per_hour: r1(slope(rssFloor)),
        heap_floor_slope_mb_per_hour: r1(slope(heapFloor)),
        rss_floor_mb: rssFloor.map(([, y]) => r1(y)),
        heap_floor_mb: heapFloor.map(([, y]) => r1(y)),
        fitted_from_s: Math.round(fitFrom / 1000),
        rss_mb_first_last_max: after.length
          ? [MB(after[0]?.rss ?? 0), MB(after.at(-1)?.rss ?? 0), MB(Math.max(...after.map((m) => m.rss)))]
          : [],
      },
      attacks: Object.fromEntries(attacks),
      kernels_leaked: {
        listed_before_stop: leakedListed,
        live_beyond_pool_before_stop: beyondPool,
        processes_after_stop: leakedProcs,
        processes_killed_by_harness: killed,
        runtime_dirs_left: leftDirs.length,
        examples: leftProcs.slice(0, 5).map((p) => `${p.pid} uid ${p.uid} ${p.name}`),
      },
      server: {
        exit,
        log_warn: log.warn,
        log_error: log.error + log.fatal,
        log_top: log.top,
        log: keepLog ? s.logPath : 'empty (removed)',
      },
    };
    report(
      'soak',
      result,
      `${result.minutes} min, ${samples.length} operations (${http} HTTP requests, ${wsIn} websocket messages in), ` +
        `${errCount} errors; p99 all ${result.latency.all.p99_ms} ms, cell p99 quiet ${result.baseline.quiet_cell.p99_ms} ms ` +
        `vs with attackers ${result.baseline.attack_cell.p99_ms} ms (ratio ${result.baseline.cell_p99_ratio}); ` +
        `RSS slope ${result.memory.rss_slope_mb_per_hour} MB/h, floor ${result.memory.rss_floor_slope_mb_per_hour} MB/h ` +
        `(heap ${result.memory.heap_slope_mb_per_hour}, floor ${result.memory.heap_floor_slope_mb_per_hour} MB/h); ` +
        `attacks ${attackOk}/${attackRuns} as expected; kernels leaked ${leakedListed} listed, ${beyondPool} beyond the pool, ` +
        `${leakedProcs} processes after stop; server exit ${exit.code ?? exit.signal}, ${log.error + log.fatal} error log lines`,
    );
  } finally {
    if (server) {
      await server.stop().catch(() => {});
      killRange(UIDS);
      await server.cleanup();
    }
    rmSync(CANARY, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    // main's finally has stopped the server and dropped its database.
    console.error('[soak] harness failed:', e);
    process.exit(1);
  },
);
