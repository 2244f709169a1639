// runcell side by side with Debian's Jupyter Server (apt-get install -y jupyter-server), on this machine,
// in one run. Three servers: Jupyter Server (unsandboxed ipykernels, a kernel started per POST), runcell
// with its warm pool of sandboxed ipykernels ("runcell"), and runcell whose pool holds fork-server
// kernels ("runcell-fork"). Each runcell runs in its own node process (bench/lib/runcell-child.ts) so the
// load generator here shares neither its event loop nor its heap; all clients are websocket clients
// with the JSON framing both servers speak. Sections (BENCH_ONLY=ttfo,roundtrip,load,memory,flood):
//   ttfo       new visitor: POST /api/kernels, websocket, print('hi'), until the text arrives
//   roundtrip  execute 1+1 over an open websocket, until execute_reply and idle
//   load       100 sessions (10 per kernel on 10 kernels) executing 1+1 back to back (saturation);
//              executes/s, latency, and runcell's own event-loop lag over the window
//   paced      the same sessions, each starting one 1+1 per second (100 executes/s offered)
//   memory     PSS per idle kernel and in total for 50 idle kernels
//   flood      100,000 printed lines: time to idle, bytes delivered, server peak RSS
// BENCH_RUNS (default 1) repeats every section with the same servers and reports per-run figures and
// medians across runs. BENCH_TIMEOUT_S (default 600 per run) bounds the whole bench; everything started
// is stopped on exit, error, timeout or SIGINT/SIGTERM. Runs as root (real sandboxes, /proc of others).
//   npm run bench -- vs-jupyter        BENCH_RUNS=3 npm run bench -- vs-jupyter
import { randomUUID } from 'node:crypto';
import { cpus, release, totalmem } from 'node:os';
import { jupyterAvailable } from './lib/jupyter.js';
import {
  cpuMs,
  createKernel,
  deleteKernel,
  type LagFigure,
  peakRss,
  pss,
  resetPeakRss,
  rss,
  Session,
  sleep,
  startJupyterTarget,
  startRuncell,
  type Target,
  within,
} from './lib/perf.js';
import { figure, quantile, report } from './stats.js';

const env = (k: string, d: number) => Number(process.env[k] ?? d);
const RUNS = env('BENCH_RUNS', 1);
const TTFO_N = env('BENCH_TTFO_N', 10);
const RT_N = env('BENCH_RT_N', 300);
const SESSIONS = env('BENCH_SESSIONS', 100);
const LOAD_KERNELS = env('BENCH_LOAD_KERNELS', 10);
const LOAD_S = env('BENCH_LOAD_S', 12);
const LOAD_WARM_S = env('BENCH_LOAD_WARM_S', 3);
const PACE_MS = env('BENCH_PACE_MS', 1_000);
const IDLE_KERNELS = env('BENCH_IDLE_KERNELS', 50);
const FLOOD_LINES = env('BENCH_FLOOD_LINES', 100_000);
const FLOOD_N = env('BENCH_FLOOD_N', 3);
const POOL = env('BENCH_POOL', 2);
const TIMEOUT_S = env('BENCH_TIMEOUT_S', 600 * RUNS + 120);
const ONLY = new Set(
  (process.env.BENCH_ONLY ?? 'ttfo,roundtrip,load,paced,memory,flood').split(',').map((s) => s.trim()),
);
const NODE_ARGS = (process.env.BENCH_RUNCELL_NODE_ARGS ?? '').split(' ').filter(Boolean);
const TOKEN = `bench-${randomUUID()}`;
const MiB = 2 ** 20;
const r1 = (x: number) => Math.round(x * 10) / 10;
const r3 = (x: number) => Math.round(x * 1000) / 1000;

const targets: Target[] = [];
let cleaning: Promise<void> | undefined;
const cleanup = () => {
  cleaning ??= Promise.allSettled(targets.map((t) => t.stop())).then(() => {});
  return cleaning;
};
const bail = (why: string, code: number) => {
  console.error(`vs-jupyter: ${why}; stopping servers`);
  void cleanup().finally(() => process.exit(code));
};
const deadline = setTimeout(() => bail(`over the ${TIMEOUT_S} s budget`, 1), TIMEOUT_S * 1000);
deadline.unref();
process.once('SIGINT', () => bail('interrupted', 130));
process.once('SIGTERM', () => bail('terminated', 143));

/** Runs fn over items with at most `n` in flight. */
async function pool<T, R>(items: T[], n: number, fn: (x: T) => Promise<R>): Promise<R[]> {
  const out: R[] = new Array(items.length);
  let i = 0;
  await Promise.all(
    Array.from({ length: Math.min(n, items.length) }, async () => {
      while (i < items.length) {
        const j = i++;
        out[j] = await fn(items[j] as T);
      }
    }),
  );
  return out;
}

const quiesceAll = () => Promise.all(targets.map((t) => t.quiesce()));

// ------------------------------------------------------------------------------------ sections

async function ttfo() {
  const samples = new Map<string, { all: number[]; create: number[]; open: number[]; output: number[] }>(
    targets.map((t) => [t.name, { all: [], create: [], open: [], output: [] }]),
  );
  for (let i = 0; i < TTFO_N; i++) {
    // Rotate the order so drift and the previous delete's after-effects hit every server alike.
    for (let j = 0; j < targets.length; j++) {
      const t = targets[(i + j) % targets.length] as Target;
      await quiesceAll();
      const t0 = performance.now();
      const id = await createKernel(t);
      const created = performance.now();
      const s = await Session.open(t, id);
      const sent = performance.now();
      const r = await s.run("print('hi')", { timeoutMs: 60_000 });
      if (r.firstOutputMs === undefined) throw new Error(`${t.name}: print('hi') printed nothing`);
      const x = samples.get(t.name);
      x?.all.push(sent - t0 + r.firstOutputMs);
      x?.create.push(created - t0);
      x?.open.push(sent - created);
      x?.output.push(r.firstOutputMs);
      await s.close();
      await deleteKernel(t, id);
    }
  }
  const p50 = (xs: number[]) => r3(quantile(xs, 0.5));
  return Object.fromEntries(
    [...samples].map(([k, v]) => [
      k,
      {
        ...figure(v.all),
        p50_parts_ms: { create: p50(v.create), websocket: p50(v.open), first_output: p50(v.output) },
      },
    ]),
  );
}

async function roundtrip() {
  const open = await Promise.all(
    targets.map(async (t) => {
      const id = await createKernel(t);
      return { t, id, s: await Session.open(t, id) };
    }),
  );
  await quiesceAll();
  const samples = new Map<string, number[]>(targets.map((t) => [t.name, []]));
  try {
    for (let i = 0; i < 20; i++) for (const o of open) await o.s.run('1+1');
    for (let i = 0; i < RT_N; i++)
      for (const o of open) samples.get(o.t.name)?.push((await o.s.run('1+1')).doneMs);
  } finally {
    for (const o of open) {
      await o.s.close();
      await deleteKernel(o.t, o.id);
    }
  }
  return Object.fromEntries([...samples].map(([k, v]) => [k, figure(v)]));
}

/**
 * `periodMs` 0: every session executes back to back (saturation). Otherwise each session starts one
 * execution every periodMs (random phase; late ones start at once): a fixed offered load.
 */
async function load(t: Target, periodMs: number) {
  const kernels = await pool(
    Array.from({ length: LOAD_KERNELS }, (_, i) => i),
    4,
    () => createKernel(t),
  );
  const sessions: Session[] = [];
  try {
    for (let i = 0; i < SESSIONS; i++)
      sessions.push(await Session.open(t, kernels[i % LOAD_KERNELS] as string));
    await t.quiesce();
    const startAt = performance.now();
    const warmEnd = startAt + LOAD_WARM_S * 1000;
    const endAt = warmEnd + LOAD_S * 1000;
    const latencies: number[] = [];
    let lagStarted: Promise<void> | undefined;
    let lag: LagFigure | undefined;
    let cpu0 = 0;
    let cpu1 = 0;
    const lagTimer = setTimeout(() => {
      cpu0 = cpuMs(t.pid);
      lagStarted = t.lag?.start();
    }, LOAD_WARM_S * 1000);
    const lagStop = setTimeout(
      () => {
        cpu1 = cpuMs(t.pid);
        void (async () => {
          await lagStarted;
          lag = await t.lag?.stop();
        })();
      },
      (LOAD_WARM_S + LOAD_S) * 1000,
    );
    try {
      await Promise.all(
        sessions.map(async (s) => {
          let due = startAt + Math.random() * periodMs;
          while (performance.now() < endAt) {
            if (periodMs > 0) {
              const wait = due - performance.now();
              if (wait > 0) await sleep(wait);
              due = Math.max(due + periodMs, performance.now());
            }
            const begun = performance.now();
            const r = await s.run('1+1', { timeoutMs: 60_000 });
            const ended = performance.now();
            if (begun >= warmEnd && ended <= endAt) latencies.push(r.doneMs);
          }
        }),
      );
    } finally {
      clearTimeout(lagTimer);
      clearTimeout(lagStop);
    }
    if (t.lag && !lag) lag = await t.lag.stop();
    return {
      executes_per_s: r1(latencies.length / LOAD_S),
      latency: figure(latencies),
      server_cpu_ms_per_execute: r3((cpu1 - cpu0) / Math.max(1, latencies.length)),
      ...(lag ? { event_loop_lag: lag } : {}),
    };
  } finally {
    await Promise.all(sessions.map((s) => s.close()));
    await pool(kernels, 8, (id) => deleteKernel(t, id));
  }
}

async function memory(t: Target) {
  const ids = await pool(
    Array.from({ length: IDLE_KERNELS }, (_, i) => i),
    4,
    async () => {
      const id = await createKernel(t);
      const s = await Session.open(t, id);
      await s.run('1+1');
      await s.close();
      return id;
    },
  );
  try {
    await t.quiesce();
    await sleep(3_000);
    const procs = await t.kernelProcesses(ids);
    const per = ids.map((id) => (procs.get(id) ?? []).reduce((a, p) => a + pss(p), 0));
    if (per.some((x) => x === 0)) throw new Error(`${t.name}: a kernel without processes`);
    const shared = (await t.sharedProcesses()).reduce((a, p) => a + pss(p), 0);
    const sum = per.reduce((a, b) => a + b, 0);
    return {
      kernels: ids.length,
      per_kernel_pss_mib: r1(quantile(per, 0.5) / MiB),
      shared_pss_mib: r1(shared / MiB),
      per_kernel_incl_shared_mib: r1((sum + shared) / ids.length / MiB),
      total_pss_mib: Math.round((sum + shared) / MiB),
      server_rss_mib: r1(rss(t.pid) / MiB),
    };
  } finally {
    await pool(ids, 8, (id) => deleteKernel(t, id));
  }
}

const FLOOD_CODE = `for i in range(${FLOOD_LINES}): print(f'{i:06d} ' + 'x' * 57)`;
async function flood() {
  const out = new Map<
    string,
    { ms: number[]; bytes: number[]; chars: number[]; peak: number[]; limited: number }
  >(targets.map((t) => [t.name, { ms: [], bytes: [], chars: [], peak: [], limited: 0 }]));
  for (let i = 0; i < FLOOD_N; i++) {
    for (const t of targets) {
      await quiesceAll();
      const id = await createKernel(t);
      const s = await Session.open(t, id);
      try {
        await s.run('1+1');
        resetPeakRss(t.pid);
        const r = await s.run(FLOOD_CODE, { timeoutMs: 180_000 });
        const o = out.get(t.name);
        if (!o) continue;
        o.ms.push(r.doneMs);
        o.bytes.push(r.bytes);
        o.chars.push(r.streamChars);
        o.peak.push(peakRss(t.pid));
        if (/rate/i.test(r.stderr)) o.limited++;
      } finally {
        await s.close();
        await deleteKernel(t, id);
      }
    }
  }
  const med = (xs: number[]) => quantile(xs, 0.5);
  return Object.fromEntries(
    [...out].map(([k, o]) => [
      k,
      {
        time_to_idle: figure(o.ms),
        bytes_delivered_mib: r3(med(o.bytes) / MiB),
        stream_chars_delivered: med(o.chars),
        stream_chars_printed: FLOOD_LINES * 65,
        server_peak_rss_mib: r1(med(o.peak) / MiB),
        runs_with_rate_notice: `${o.limited}/${o.ms.length}`,
      },
    ]),
  );
}

// ------------------------------------------------------------------------------------------ main

type Run = Record<string, unknown>;
const ratio = (a: number | undefined, b: number | undefined) =>
  a !== undefined && b !== undefined && b > 0 ? r3(a / b) : null;

const progress = (what: string) => console.error(`vs-jupyter: ${new Date().toISOString()} ${what}`);

async function oneRun(J: string, R: string, F: string): Promise<Run> {
  const run: Run = {};
  if (ONLY.has('ttfo')) {
    progress('ttfo');
    const f = await within(300_000, 'ttfo', ttfo);
    run.ttfo = {
      ...f,
      ratio_jupyter_over_runcell_p50: ratio(f[J]?.p50_ms, f[R]?.p50_ms),
      ratio_jupyter_over_runcell_fork_p50: ratio(f[J]?.p50_ms, f[F]?.p50_ms),
    };
  }
  if (ONLY.has('roundtrip')) {
    progress('roundtrip');
    const f = await within(120_000, 'roundtrip', roundtrip);
    run.roundtrip = {
      ...f,
      ratio_runcell_over_jupyter_p50: ratio(f[R]?.p50_ms, f[J]?.p50_ms),
      ratio_runcell_over_jupyter_p99: ratio(f[R]?.p99_ms, f[J]?.p99_ms),
    };
  }
  if (ONLY.has('load')) {
    progress('load');
    const f: Record<string, Awaited<ReturnType<typeof load>>> = {};
    for (const t of targets) f[t.name] = await within(180_000, `load ${t.name}`, () => load(t, 0));
    run.load = {
      ...f,
      ratio_runcell_over_jupyter_executes_per_s: ratio(f[R]?.executes_per_s, f[J]?.executes_per_s),
    };
  }
  if (ONLY.has('paced')) {
    progress('paced');
    const f: Record<string, Awaited<ReturnType<typeof load>>> = {};
    for (const t of targets) f[t.name] = await within(180_000, `paced ${t.name}`, () => load(t, PACE_MS));
    run.paced = {
      ...f,
      ratio_runcell_over_jupyter_p99: ratio(f[R]?.latency.p99_ms, f[J]?.latency.p99_ms),
    };
  }
  if (ONLY.has('memory')) {
    progress('memory');
    const f: Record<string, Awaited<ReturnType<typeof memory>>> = {};
    for (const t of targets) f[t.name] = await within(300_000, `memory ${t.name}`, () => memory(t));
    run.memory = {
      ...f,
      ratio_fork_over_runcell_plain_per_kernel: ratio(f[F]?.per_kernel_pss_mib, f[R]?.per_kernel_pss_mib),
      ratio_fork_over_jupyter_per_kernel: ratio(f[F]?.per_kernel_pss_mib, f[J]?.per_kernel_pss_mib),
    };
  }
  if (ONLY.has('flood')) {
    progress('flood');
    run.flood = await within(300_000, 'flood', flood);
  }
  return run;
}

/** Medians across runs of every number at the same path. */
function medians(runs: Run[]): Run {
  const walk = (xs: unknown[]): unknown => {
    const first = xs[0];
    if (typeof first === 'number') return quantile(xs as number[], 0.5);
    if (first && typeof first === 'object') {
      return Object.fromEntries(
        Object.keys(first).map((k) => [k, walk(xs.map((x) => (x as Record<string, unknown>)[k]))]),
      );
    }
    return first;
  };
  return walk(runs) as Run;
}

try {
  if (!jupyterAvailable()) {
    console.error("vs-jupyter needs Debian's Jupyter Server: apt-get install -y jupyter-server");
    process.exit(2);
  }
  const jt = await startJupyterTarget(TOKEN);
  targets.push(jt);
  targets.push(
    await startRuncell(
      'runcell',
      {
        // Plain starts and a fixed pool, as before issue 16 made forks, the prelude and a demand-sized
        // pool the defaults (bench/arrival.ts measures those); runcell-fork below is the fork-server.
        poolSize: POOL,
        poolMax: 0,
        forkSpecs: [],
        kernelPrelude: [],
        sandboxUidRange: [68_000, 68_499],
        sandboxRuntimeRoot: '/run/rc-perf/plain',
      },
      NODE_ARGS,
    ),
  );
  targets.push(
    await startRuncell(
      'runcell-fork',
      {
        poolSize: POOL,
        poolMax: 0,
        kernelPrelude: [],
        forkSpecs: ['python3'],
        sandboxUidRange: [68_500, 68_999],
        sandboxRuntimeRoot: '/run/rc-perf/fork',
      },
      NODE_ARGS,
    ),
  );
  const [J, R, F] = targets.map((t) => t.name) as [string, string, string];
  await quiesceAll();
  const runs: Run[] = [];
  for (let i = 0; i < RUNS; i++) {
    runs.push(await oneRun(J, R, F));
    progress(`run ${i + 1}/${RUNS}: ${JSON.stringify(runs[i])}`);
  }
  const m = medians(runs);
  const g = (path: string): number | undefined =>
    path.split('.').reduce<unknown>((o, k) => (o as Record<string, unknown> | undefined)?.[k], m) as
      | number
      | undefined;
  const ttfoR = g(`ttfo.${R}.p50_ms`);
  report(
    'vs-jupyter',
    {
      machine: {
        cpus: cpus().length,
        memory_gib: Math.round(totalmem() / 2 ** 30),
        kernel: release(),
        node: process.version,
        jupyter_server: jt.version,
      },
      setup: {
        runs: RUNS,
        pool: POOL,
        ttfo_samples: TTFO_N,
        roundtrip_samples: RT_N,
        load: { sessions: SESSIONS, kernels: LOAD_KERNELS, seconds: LOAD_S, warmup_s: LOAD_WARM_S },
        paced_period_ms: PACE_MS,
        idle_kernels: IDLE_KERNELS,
        flood: { lines: FLOOD_LINES, code: FLOOD_CODE, rounds: FLOOD_N },
      },
      median: m,
      runs,
    },
    [
      ONLY.has('ttfo') &&
        `first output p50 ${J} ${g(`ttfo.${J}.p50_ms`)} ms, runcell ${ttfoR} ms (${g('ttfo.ratio_jupyter_over_runcell_p50')}x), fork ${g(`ttfo.${F}.p50_ms`)} ms`,
      ONLY.has('roundtrip') &&
        `1+1 p50 jupyter ${g(`roundtrip.${J}.p50_ms`)} ms, runcell ${g(`roundtrip.${R}.p50_ms`)} ms (${g('roundtrip.ratio_runcell_over_jupyter_p50')}x)`,
      ONLY.has('load') &&
        `${SESSIONS} sessions: jupyter ${g(`load.${J}.executes_per_s`)}/s p99 ${g(`load.${J}.latency.p99_ms`)} ms, runcell ${g(`load.${R}.executes_per_s`)}/s p99 ${g(`load.${R}.latency.p99_ms`)} ms, lag p99 ${g(`load.${R}.event_loop_lag.p99_ms`)} ms`,
      ONLY.has('paced') &&
        `paced (1 per ${PACE_MS} ms each): jupyter p99 ${g(`paced.${J}.latency.p99_ms`)} ms, runcell p99 ${g(`paced.${R}.latency.p99_ms`)} ms, lag p99 ${g(`paced.${R}.event_loop_lag.p99_ms`)} ms`,
      ONLY.has('memory') &&
        `PSS/idle kernel jupyter ${g(`memory.${J}.per_kernel_pss_mib`)} MiB, runcell ${g(`memory.${R}.per_kernel_pss_mib`)}, fork ${g(`memory.${F}.per_kernel_pss_mib`)}`,
      ONLY.has('flood') &&
        `flood to idle jupyter ${g(`flood.${J}.time_to_idle.p50_ms`)} ms, runcell ${g(`flood.${R}.time_to_idle.p50_ms`)} ms`,
    ]
      .filter(Boolean)
      .join('; ') + (RUNS > 1 ? ` (medians of ${RUNS} runs)` : ''),
  );
} catch (e) {
  console.error('vs-jupyter failed:', e);
  process.exitCode = 1;
} finally {
  clearTimeout(deadline);
  await cleanup();
}
