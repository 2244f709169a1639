// Warm pool, global cap and the bounded wait queue, with real kernels.

import { existsSync, readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { type KernelManager, KernelManagerError } from '../../kernel-manager/index.js';
import type { LocalKernel } from '../../kernel-manager/kernel.js';
import { detectCgroups } from '../../kernel-manager/sandbox/cgroups.js';
import { run, testManager, waitFor } from './helpers.js';

const SLOT = 4;
let m: KernelManager | undefined;
afterEach(async () => {
  await m?.close();
  m = undefined;
});

describe('warm pool', () => {
  it('keeps N kernels ready, hands one out ready to run, and refills', async () => {
    m = await testManager(SLOT, { pool: { size: 2 } });
    await waitFor(() => m?.stats().pooled === 2, 30_000, 'the pool to fill');
    const k = await m.start(undefined, { owner: 'o1' });
    expect(k.state).toBe('idle');
    // It came from the pool (a cold start would leave two pooled); bench/kernel-manager.ts times it.
    expect(m.stats().pooled).toBe(1);
    expect((await run(k, 'print(2*21)')).stdout).toBe('42\n');
    await waitFor(() => m?.stats().pooled === 2, 30_000, 'the pool to refill');
    expect(m.stats().live).toBe(3);
    // The kernel in use has a kernel's full CPU weight. The refill started after a hand-out from a
    // stocked pool yields to it: on v1 it is under a parent of its own that weighs as a quarter of one
    // process, on v2 it has a quarter of a kernel's weight. (The first fill ran at full weight: an
    // empty pool is running dry.)
    const cpu = (await detectCgroups('runcell')).cpu;
    expect(cpu).toBeDefined();
    // The move to the kernels' parent runs off the hand-out's path; foreground() waits for it.
    await (k as LocalKernel).foreground();
    if (cpu) {
      const base = 61_000 + SLOT * 100;
      const file = cpu.v2 ? 'cpu.weight' : 'cpu.shares';
      const weights = (parent: string) => {
        const found = new Map<number, string>();
        for (let uid = base; uid < base + 100; uid++) {
          const f = `${parent}/u${uid}/${file}`;
          if (existsSync(f)) found.set(uid, readFileSync(f, 'utf8').trim());
        }
        return found;
      };
      const full = cpu.v2 ? '100' : '1024';
      const uid = (k as LocalKernel).uid as number;
      const inUse = weights(cpu.dir);
      expect(inUse.get(uid)).toBe(full);
      if (cpu.poolDir) {
        expect(inUse.size).toBe(2);
        expect([...inUse.values()]).toEqual([full, full]);
        const refill = weights(cpu.poolDir);
        expect(refill.size).toBe(1);
        expect(refill.has(uid)).toBe(false);
        expect(inUse.has([...refill.keys()][0] as number)).toBe(false);
      } else {
        expect([...inUse.values()].sort()).toEqual([full, full, '25'].sort());
      }
    }
  });

  it('never reuses a kernel: each owner gets a fresh one, and a shut-down kernel is gone', async () => {
    m = await testManager(SLOT, { pool: { size: 1 } });
    const a = await m.start(undefined, { owner: 'a' });
    await run(a, 'secret = "a-only"');
    await a.shutdown();
    const b = await m.start(undefined, { owner: 'b' });
    expect(b.id).not.toBe(a.id);
    expect((await run(b, 'print("secret" in globals())')).stdout).toBe('False\n');
    expect(m.list().map((k) => k.id)).toEqual([b.id]);
  });

  it('rejects an unknown spec clearly', async () => {
    m = await testManager(SLOT, { pool: { size: 0 } });
    const e = await m.start('cobol').catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KernelManagerError);
    expect((e as KernelManagerError).code).toBe('NO_SUCH_SPEC');
  });

  it('queues requests over the global cap, serves them when a kernel dies, and times out the rest', async () => {
    // The queue's timeout outlasts a used kernel's whole shutdown (its shutdown_request grace of 2 s,
    // then the sandbox's teardown), which frees the slot the waiting request needs.
    m = await testManager(SLOT, { maxKernels: 1, pool: { size: 0, queueMax: 1, queueTimeoutMs: 6_000 } });
    const first = await m.start();
    const waiting = m.start();
    // The queue holds one: a third request is refused at once.
    const full = await m.start().catch((x: unknown) => x);
    expect((full as KernelManagerError).code).toBe('CAPACITY');
    await first.shutdown();
    const second = await waiting;
    expect(second.id).not.toBe(first.id);
    const late = await m.start().catch((x: unknown) => x);
    expect((late as KernelManagerError).code).toBe('QUEUE_TIMEOUT');
    expect((late as Error).message).toMatch(/within 6 s/);
  });
});
