// Lifecycle of real sandboxed kernels: restart, death, heartbeat, limits, shutdown, start-up failure.
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type KernelManager, KernelManagerError } from '../../kernel-manager/index.js';
import type { Kernel } from '../../kernel-manager/types.js';
import { pidsOfUids, run, testManager } from './helpers.js';

const SLOT = 2;
const UIDS: [number, number] = [61_000 + SLOT * 100, 61_000 + SLOT * 100 + 99];
let manager: KernelManager;

// A kernelspec whose "kernel" never answers: for the start-up timeout.
const specRoot = mkdtempSync(join(tmpdir(), 'runcell-lifecycle-'));
// Kernel uids must reach a spec's dir, or the spec is not offered (env-paths.ts).
chmodSync(specRoot, 0o755);
mkdirSync(join(specRoot, 'kernels', 'mute'), { recursive: true });
writeFileSync(
  join(specRoot, 'kernels', 'mute', 'kernel.json'),
  JSON.stringify({
    argv: ['/usr/bin/python3', '-c', 'import time; time.sleep(600)', '{connection_file}'],
    language: 'python',
  }),
);

beforeAll(async () => {
  manager = await testManager(SLOT, {
    specDirs: [specRoot],
    pool: { size: 2 },
    limits: {
      executionWallMs: 3_000,
      // The product's default grace: a kernel handling an interrupt (IPython formats a traceback) on a
      // CI machine loaded by the rest of the suite took more than 1.5 s once, and was killed instead.
      interruptGraceMs: 5_000,
      startupTimeoutMs: 20_000,
      executionOutputBytes: 2 * 2 ** 20,
    },
  });
});
afterAll(async () => {
  await manager?.close();
  // No orphan: nothing of this file's uid range survives the suite.
  expect(pidsOfUids(...UIDS)).toEqual([]);
});

/** The kernel's 'dead' reason; `ms` only bounds a hang (how fast deaths are reported is bench/'s figure). */
function deadWithin(k: Kernel, ms: number): Promise<string> {
  return new Promise((resolve, reject) => {
    const t = setTimeout(() => reject(new Error(`kernel not dead within ${ms} ms`)), ms);
    k.once('dead', (reason: string) => {
      clearTimeout(t);
      resolve(reason);
    });
  });
}

describe('kernel lifecycle', () => {
  it('restarts with the same id, a new process, and listeners told', async () => {
    const k = await manager.start();
    await run(k, 'x = 1');
    const oldPid = (k as unknown as { pid: number }).pid;
    const states: string[] = [];
    k.on('status', (s: string) => states.push(s));
    const restarted = new Promise<void>((r) => k.once('restarted', () => r()));
    await k.restart();
    await restarted;
    expect(manager.get(k.id)).toBe(k);
    expect((k as unknown as { pid: number }).pid).not.toBe(oldPid);
    expect(states).toContain('restarting');
    expect(k.state).toBe('idle');
    const r = await run(k, 'print("x" in globals())');
    expect(r.stdout).toBe('False\n');
    await k.shutdown();
  });

  it('joins a second restart asked for during the first: both succeed, one new process', async () => {
    const k = await manager.start();
    const oldPid = (k as unknown as { pid: number }).pid;
    let restarted = 0;
    k.on('restarted', () => restarted++);
    const first = k.restart();
    const second = k.restart();
    expect(await Promise.allSettled([first, second])).toEqual([
      { status: 'fulfilled', value: undefined },
      { status: 'fulfilled', value: undefined },
    ]);
    expect(restarted).toBe(1);
    expect(k.state).toBe('idle');
    expect((k as unknown as { pid: number }).pid).not.toBe(oldPid);
    expect((await run(k, 'print(6*7)')).stdout).toBe('42\n');
    await k.shutdown();
  });

  it('reports a kill -9 of the kernel process as dead with a reason', async () => {
    const k = await manager.start();
    const dead = deadWithin(k, 20_000);
    process.kill((k as unknown as { pid: number }).pid, 'SIGKILL');
    expect(await dead).toMatch(/killed|exited/);
    expect(k.state).toBe('dead');
    expect(k.model().reason).toMatch(/killed|exited/);
    expect(() => k.send('shell', { header: { msg_type: 'kernel_info_request' }, content: {} })).toThrow(
      KernelManagerError,
    );
  });

  it('reports a frozen kernel (SIGSTOP) as dead through the heartbeat', async () => {
    const k = await manager.start();
    const dead = deadWithin(k, 20_000);
    process.kill((k as unknown as { pid: number }).pid, 'SIGSTOP');
    expect(await dead).toMatch(/heartbeat/);
  });

  it('interrupts an execution over the wall-clock limit and says which limit', async () => {
    const k = await manager.start();
    const limits: string[] = [];
    k.on('limit', (l: { kind: string; message: string }) => limits.push(`${l.kind}: ${l.message}`));
    const r = await run(k, 'import time\nwhile True: time.sleep(0.05)');
    expect(r.messages.find((m) => m.header.msg_type === 'error')?.content.ename).toBe('KeyboardInterrupt');
    expect(limits[0]).toMatch(/^wall: execution time limit of 3 s reached/);
    expect(k.state).toBe('idle');
    await k.shutdown();
  });

  it('kills a kernel that ignores the interrupt at the wall limit', async () => {
    const k = await manager.start();
    const dead = deadWithin(k, 15_000);
    const it = k.execute('import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True: pass');
    const drained = (async () => {
      try {
        for await (const _ of it) void _;
      } catch (e) {
        return e;
      }
    })();
    expect(await dead).toMatch(/execution time limit of 3 s reached; the kernel ignored the interrupt/);
    expect(await drained).toBeInstanceOf(KernelManagerError);
  });

  it('stops an execution that exceeds the output limit', async () => {
    const k = await manager.start();
    const limits: string[] = [];
    k.on('limit', (l: { kind: string }) => limits.push(l.kind));
    const r = await run(
      k,
      // 100 KB a line: the 2 MiB cap within a few dozen lines, well inside the 3 s wall limit even on
      // a loaded host (1 KB lines ran into the wall limit first with a CPU hog beside the suite).
      'import sys\nfor i in range(10**6):\n    print("x" * 100_000)\n    sys.stdout.flush()',
    );
    expect(limits).toContain('output');
    expect(r.reply?.content.status).toBe('error');
    await k.shutdown();
  });

  it('shuts down: kernel and its setsid daemon gone, no process of its uid left', async () => {
    const k = await manager.start();
    const uid = (k as unknown as { uid: number }).uid;
    await run(
      k,
      'import os, time\nif os.fork() == 0:\n    os.setsid()\n    if os.fork() == 0:\n        time.sleep(600)\n    os._exit(0)\ntime.sleep(0.3)',
    );
    expect(pidsOfUids(uid, uid).length).toBeGreaterThanOrEqual(2);
    await k.shutdown();
    expect(k.state).toBe('dead');
    expect(manager.get(k.id)).toBeUndefined();
    expect(pidsOfUids(uid, uid)).toEqual([]);
  });

  it('close() stops the start-up environment probes rather than waiting for them', async () => {
    const m = await testManager(SLOT + 53, { specDirs: [specRoot], pool: { size: 0 } });
    // The first probe has just started (one spec after another, from create()).
    const probes = m.specs().map((s) => m.environment(s.name));
    await m.close();
    const summaries = await Promise.all(probes);
    expect(summaries.some((e) => /stopped: the server is shutting down/.test(e.error ?? ''))).toBe(true);
    expect(pidsOfUids(61_000 + (SLOT + 53) * 100, 61_000 + (SLOT + 53) * 100 + 99)).toEqual([]);
  });

  it('fails a kernel that never becomes ready with a clear error and cleans up', async () => {
    const m = await testManager(SLOT + 50, {
      specDirs: [specRoot],
      pool: { size: 0 },
      limits: { startupTimeoutMs: 2_000 },
    });
    try {
      // Each spec's environment probe runs in this range at start-up: let them end first.
      await Promise.all(m.specs().map((s) => m.environment(s.name)));
      const err = await m.start('mute').catch((e: unknown) => e);
      expect(err).toBeInstanceOf(KernelManagerError);
      expect((err as KernelManagerError).code).toBe('START_FAILED');
      expect((err as Error).message).toMatch(/did not become ready within 2 s/);
      expect(m.stats().live).toBe(0);
      expect(pidsOfUids(61_000 + (SLOT + 50) * 100, 61_000 + (SLOT + 50) * 100 + 99)).toEqual([]);
    } finally {
      await m.close();
    }
  });

  it('reports a kernel killed by its CPU-time limit as the CPU limit, not memory', async () => {
    // RLIMIT_CPU counts the interpreter's start-up too: 3 s leaves room for it on a loaded machine.
    const m = await testManager(SLOT + 52, {
      pool: { size: 0 },
      limits: { executionWallMs: 0 },
      sandbox: { rlimits: { cpuSeconds: 3 } },
    });
    try {
      const k = await m.start();
      const limits: string[] = [];
      k.on('limit', (l: { kind: string; message: string }) => limits.push(`${l.kind}: ${l.message}`));
      const dead = deadWithin(k, 30_000);
      const it = k.execute('while True: pass');
      const drained = (async () => {
        try {
          for await (const _ of it) void _;
        } catch (e) {
          return e;
        }
      })();
      expect(await dead).toBe('CPU time limit of 3 s reached');
      expect(limits).toEqual(['cpu: CPU time limit of 3 s reached']);
      expect(await drained).toBeInstanceOf(KernelManagerError);
    } finally {
      await m.close();
    }
  });

  it('culls a kernel idle for longer than the idle timeout', async () => {
    const m = await testManager(SLOT + 51, { pool: { size: 0 }, limits: { idleTimeoutMs: 1_500 } });
    try {
      const k = await m.start();
      const reason = await deadWithin(k, 20_000);
      expect(reason).toMatch(/idle/);
    } finally {
      await m.close();
    }
  });
});
