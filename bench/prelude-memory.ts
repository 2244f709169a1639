// What the prelude costs in memory per warm kernel: PSS (/proc/<pid>/smaps_rollup, summed over every
// process of the kernel's sandbox uid) of kernels that ran their prelude, against the same start with
// an empty prelude, for fork-server kernels and for plain ones, in one run; with its start time. And
// what a warm kernel's rehearsal of a first plot (pool.ts, idle time) adds to a forked kernel's PSS.
//   npm run bench -- prelude-memory            BENCH_KERNELS=6 per configuration
// Runs as root (real sandboxes). Uids 74100-74199, runtime root /run/rc-t131.
import { pino } from 'pino';
import { type Kernel, KernelManager, type LocalKernel } from '../kernel-manager/index.js';
import { rehearsalCode } from '../kernel-manager/prelude.js';
import type { KernelSpecInfo } from '../kernel-manager/types.js';
import { pidsByUid, pss } from './lib/perf.js';
import { quantile, report } from './stats.js';

const N = Number(process.env.BENCH_KERNELS ?? 6);
const MiB = 2 ** 20;
const r1 = (x: number) => Math.round(x * 10) / 10;

const CONFIGS: { name: string; fork: 'auto' | []; prelude: string[]; rehearse?: boolean }[] = [
  { name: 'fork, prelude, rehearsed', fork: 'auto', prelude: ['numpy', 'matplotlib.pyplot'], rehearse: true },
  { name: 'fork, prelude', fork: 'auto' as const, prelude: ['numpy', 'matplotlib.pyplot'] },
  { name: 'fork, no prelude', fork: 'auto' as const, prelude: [] },
  { name: 'plain, prelude', fork: [], prelude: ['numpy', 'matplotlib.pyplot'] },
  { name: 'plain, no prelude', fork: [], prelude: [] },
];

async function measure(c: (typeof CONFIGS)[number]) {
  const m = await KernelManager.create(
    {
      fork: { specs: c.fork },
      prelude: { python: c.prelude },
      pool: { size: 0 },
      sandbox: { uidRange: [74_100, 74_199], runtimeRoot: '/run/rc-t131' },
    },
    pino({ level: 'silent' }),
  );
  const kernels: Kernel[] = [];
  try {
    // One at a time: start times without contention between them.
    for (let i = 0; i < N; i++) kernels.push(await m.start());
    if (c.rehearse) {
      // What the pool runs in a warm kernel when the machine is idle.
      const code = rehearsalCode(m.specs().find((s) => s.name === m.config.defaultSpec) as KernelSpecInfo, {
        python: c.prelude,
      });
      for (const k of kernels) if (code) await (k as LocalKernel).warmUp(code);
    }
    await new Promise((r) => setTimeout(r, 2_000));
    const uids = kernels.map((k) => (k as LocalKernel).uid as number);
    const byUid = pidsByUid(new Set(uids));
    const per = uids.map((u) => (byUid.get(u) ?? []).reduce((a, p) => a + pss(p), 0));
    const starts = m.startTimings();
    return {
      kernels: N,
      pss_per_kernel_mib: r1(quantile(per, 0.5) / MiB),
      start_p50_ms: r1(
        quantile(
          starts.map((s) => s.sandboxMs + s.readyMs + s.preludeMs),
          0.5,
        ),
      ),
      parts_p50_ms: {
        sandbox: r1(
          quantile(
            starts.map((s) => s.sandboxMs),
            0.5,
          ),
        ),
        ready: r1(
          quantile(
            starts.map((s) => s.readyMs),
            0.5,
          ),
        ),
        prelude: r1(
          quantile(
            starts.map((s) => s.preludeMs),
            0.5,
          ),
        ),
      },
      forked: m.forkedSpecs.length > 0,
    };
  } finally {
    await m.close();
  }
}

const results: Record<string, Awaited<ReturnType<typeof measure>>> = {};
for (const c of CONFIGS) results[c.name] = await measure(c);
const d = (a: string, b: string) =>
  r1((results[a]?.pss_per_kernel_mib ?? 0) - (results[b]?.pss_per_kernel_mib ?? 0));
report(
  'prelude-memory',
  { results },
  `rehearsal adds ${d('fork, prelude, rehearsed', 'fork, prelude')} MiB PSS per forked kernel (${results['fork, prelude, rehearsed']?.pss_per_kernel_mib}); ` +
    `prelude costs ${d('fork, prelude', 'fork, no prelude')} MiB PSS per forked kernel (${results['fork, prelude']?.pss_per_kernel_mib} vs ${results['fork, no prelude']?.pss_per_kernel_mib}), ` +
    `${d('plain, prelude', 'plain, no prelude')} MiB per plain one (${results['plain, prelude']?.pss_per_kernel_mib} vs ${results['plain, no prelude']?.pss_per_kernel_mib}); ` +
    `start p50 fork ${results['fork, prelude']?.start_p50_ms} / ${results['fork, no prelude']?.start_p50_ms} ms, plain ${results['plain, prelude']?.start_p50_ms} / ${results['plain, no prelude']?.start_p50_ms} ms (with / without prelude)`,
);
