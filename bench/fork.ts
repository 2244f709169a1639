// Fork-server figures: cold (plain) start vs fork start vs pool hand-out, and memory (PSS, from
// /proc/<pid>/smaps_rollup) per idle kernel and for BENCH_KERNELS (default 50) idle kernels, plain vs
// forked. Runs as root (real sandboxes).
//   node --import tsx bench/fork.ts
import { readdirSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import { type DeepPartial, KernelManager, type KernelManagerConfig } from '../kernel-manager/index.js';
import type { LocalKernel } from '../kernel-manager/kernel.js';
import type { Kernel } from '../kernel-manager/types.js';
import { figure, report, time } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 10);
const KERNELS = Number(process.env.BENCH_KERNELS ?? 50);
const UIDS: [number, number] = [1_800_100_000, 1_800_100_199];
const MiB = 2 ** 20;

function manager(fork: boolean, poolSize: number): Promise<KernelManager> {
  const cfg: DeepPartial<KernelManagerConfig> = {
    maxKernels: KERNELS + 10,
    pool: { size: poolSize },
    fork: { specs: fork ? ['python3'] : [] },
    sandbox: { uidRange: UIDS, runtimeRoot: '/run/rc-bfork' },
  };
  return KernelManager.create(cfg, pino({ level: 'silent' }));
}

/** PSS in bytes of one process (0 if it is gone). */
function pss(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function uidOf(pid: string): number {
  try {
    return Number(/^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
  } catch {
    return -1;
  }
}

/** PSS of every process running as a kernel uid (bubblewrap's, placeholders, fork waiters, kernels). */
function pssOfKernelUids(): number {
  let total = 0;
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const u = uidOf(d);
    if (u >= UIDS[0] && u <= UIDS[1]) total += pss(Number(d));
  }
  return total;
}

async function startMany(m: KernelManager, n: number): Promise<Kernel[]> {
  const ks: Kernel[] = [];
  while (ks.length < n) {
    const batch = await Promise.all(Array.from({ length: Math.min(4, n - ks.length) }, () => m.start()));
    for (const k of batch) for await (const _ of k.execute('1+1', { storeHistory: false })) void _;
    ks.push(...batch);
  }
  return ks;
}

async function memory(fork: boolean) {
  const m = await manager(fork, 0);
  try {
    const ks = await startMany(m, KERNELS);
    await new Promise((r) => setTimeout(r, 2000));
    const kernelOnly = ks.reduce((s, k) => s + pss((k as LocalKernel).pid as number), 0);
    const sandboxes = pssOfKernelUids();
    const zygotePid = fork
      ? Number(/\d+/.exec(m.sandboxReport.join(' ').match(/zygote pid \d+/)?.[0] ?? '')?.[0])
      : 0;
    const zygote = zygotePid ? pss(zygotePid) : 0;
    return {
      kernels: ks.length,
      kernel_process_pss_mib: Math.round((kernelOnly / ks.length / MiB) * 10) / 10,
      per_kernel_pss_mib: Math.round(((sandboxes + zygote) / ks.length / MiB) * 10) / 10,
      total_pss_mib: Math.round((sandboxes + zygote) / MiB),
      zygote_pss_mib: Math.round(zygote / MiB),
    };
  } finally {
    await m.close();
  }
}

async function starts(fork: boolean, rounds: number): Promise<number[]> {
  const m = await manager(fork, 0);
  const out: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      let k: Kernel | undefined;
      out.push(
        await time(async () => {
          k = await m.start();
        }),
      );
      await k?.shutdown();
    }
  } finally {
    await m.close();
  }
  return out;
}

async function handouts(rounds: number): Promise<number[]> {
  const m = await manager(true, 1);
  const out: number[] = [];
  try {
    for (let i = 0; i < rounds; i++) {
      while (m.stats().pooled < 1) await new Promise((r) => setTimeout(r, 20));
      let k: Kernel | undefined;
      out.push(
        await time(async () => {
          k = await m.start();
        }),
      );
      await k?.shutdown();
    }
  } finally {
    await m.close();
  }
  return out;
}

const cold = figure(await starts(false, Math.max(3, Math.ceil(ROUNDS / 2))));
const forked = figure(await starts(true, ROUNDS));
const pool = figure(await handouts(ROUNDS));
const plainMem = await memory(false);
const forkMem = await memory(true);
report(
  'fork',
  { cold_start: cold, fork_start: forked, pool_handout: pool, memory: { plain: plainMem, fork: forkMem } },
  `start p50 plain ${Math.round(cold.p50_ms)} ms, fork ${Math.round(forked.p50_ms)} ms, pool ${pool.p50_ms} ms; ` +
    `PSS per idle kernel plain ${plainMem.per_kernel_pss_mib} MiB, fork ${forkMem.per_kernel_pss_mib} MiB ` +
    `(kernel process ${plainMem.kernel_process_pss_mib} vs ${forkMem.kernel_process_pss_mib}); ` +
    `${KERNELS} idle kernels: plain ${plainMem.total_pss_mib} MiB, fork ${forkMem.total_pss_mib} MiB`,
);
