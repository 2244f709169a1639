// What one kernel start and one shutdown cost the machine, and the server's own event loop: kernels
// of the default spec started one after another (no pool), then shut down one after another, for
// fork-server kernels (the default) and plain sandboxed ones, in one run. Per start and per shutdown:
// wall time, the whole machine's CPU time (/proc/stat: every process, the kernel's own included), the
// server process's CPU time, and its event loop's delay (what a visitor's request waits behind).
//   npm run bench -- start-cost          BENCH_KERNELS=8 per configuration (after 2 unmeasured)
// Runs as root (real sandboxes). Uids 74200-74299, runtime root /run/rc-t132. Needs a quiet machine:
// the machine's CPU counts every process on it.
import { readFileSync } from 'node:fs';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { type Kernel, KernelManager } from '../kernel-manager/index.js';
import { quantile, report } from './stats.js';

const N = Number(process.env.BENCH_KERNELS ?? 8);
const WARM = 2;
const r1 = (x: number) => Math.round(x * 10) / 10;

/** CPU ms the whole machine has spent busy (user, nice, system, irq, softirq, steal). */
function machineBusyMs(): number {
  const f = (readFileSync('/proc/stat', 'utf8').split('\n')[0] ?? '').split(/\s+/).slice(1).map(Number);
  const at = (i: number) => f[i] ?? 0;
  return (at(0) + at(1) + at(2) + at(5) + at(6) + at(7)) * 10; // USER_HZ is 100 on Linux
}

function serverCpuMs(): number {
  const c = process.cpuUsage();
  return (c.user + c.system) / 1000;
}

interface Phase {
  wall_ms: number;
  machine_cpu_ms: number;
  server_cpu_ms: number;
  loop_delay_max_ms: number;
  loop_delay_p99_ms: number;
}

async function phase(n: number, fn: () => Promise<void>): Promise<Phase> {
  const h = monitorEventLoopDelay({ resolution: 1 });
  h.enable();
  const [t0, m0, s0] = [performance.now(), machineBusyMs(), serverCpuMs()];
  await fn();
  const [t1, m1, s1] = [performance.now(), machineBusyMs(), serverCpuMs()];
  h.disable();
  return {
    wall_ms: r1((t1 - t0) / n),
    machine_cpu_ms: r1((m1 - m0) / n),
    server_cpu_ms: r1((s1 - s0) / n),
    loop_delay_max_ms: r1(h.max / 1e6),
    loop_delay_p99_ms: r1(h.percentile(99) / 1e6),
  };
}

async function measure(fork: 'auto' | []) {
  const m = await KernelManager.create(
    {
      fork: { specs: fork },
      pool: { size: 0 },
      sandbox: { uidRange: [74_200, 74_299], runtimeRoot: '/run/rc-t132' },
    },
    pino({ level: 'silent' }),
  );
  try {
    for (let i = 0; i < WARM; i++) await (await m.start()).shutdown();
    // Let the start-up's environment probes and the warm kernels' teardown finish.
    await new Promise((r) => setTimeout(r, 2_000));
    const kernels: Kernel[] = [];
    const start = await phase(N, async () => {
      for (let i = 0; i < N; i++) kernels.push(await m.start());
    });
    const shutdown = await phase(N, async () => {
      for (const k of kernels) await k.shutdown();
    });
    const s = m.startTimings().slice(-N);
    const med = (f: (x: (typeof s)[number]) => number) => r1(quantile(s.map(f), 0.5));
    return {
      forked: m.forkedSpecs.length > 0,
      start,
      shutdown,
      start_parts_p50_ms: {
        sandbox: med((x) => x.sandboxMs),
        ready: med((x) => x.readyMs),
        prelude: med((x) => x.preludeMs),
      },
    };
  } finally {
    await m.close();
  }
}

const results = { fork: await measure('auto'), plain: await measure([]) };
const line = (name: string, r: (typeof results)['fork']) =>
  `${name}: start ${r.start.wall_ms} ms (machine CPU ${r.start.machine_cpu_ms} ms, server ${r.start.server_cpu_ms} ms), ` +
  `shutdown ${r.shutdown.wall_ms} ms (machine ${r.shutdown.machine_cpu_ms}, server ${r.shutdown.server_cpu_ms})`;
report(
  'start-cost',
  { kernels: N, results },
  `${line('fork', results.fork)}; ${line('plain', results.plain)}; ` +
    `fork/plain machine CPU per start ${r1(results.fork.start.machine_cpu_ms / results.plain.start.machine_cpu_ms)}`,
);
