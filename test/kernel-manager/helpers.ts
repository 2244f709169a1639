// Shared set-up for tests that run real kernels: each test file gets its own uid range and
// runtime root so files running in parallel never share a uid or a directory.
import { readdirSync, readFileSync } from 'node:fs';
import { pino } from 'pino';
import { type DeepPartial, KernelManager, type KernelManagerConfig } from '../../kernel-manager/index.js';
import type { ChannelMessage, Kernel } from '../../kernel-manager/types.js';

/** uid block 61000 + 100*slot .. +99; pick a distinct slot per test file. */
export function testConfig(
  slot: number,
  over: DeepPartial<KernelManagerConfig> = {},
): DeepPartial<KernelManagerConfig> {
  const base = 61_000 + slot * 100;
  return {
    ...over,
    // The suite's budget: plain starts, no prelude, a pool that stays at its size (the audience
    // defaults run in pool-burst.test.ts).
    fork: { specs: [], ...over.fork },
    prelude: { python: [], ...over.prelude },
    pool: { size: 1, max: 0, ...over.pool },
    sandbox: {
      uidRange: [base, base + 99],
      runtimeRoot: `/run/rc-t${slot}`,
      ...over.sandbox,
    },
  };
}

export function testManager(
  slot: number,
  over: DeepPartial<KernelManagerConfig> = {},
): Promise<KernelManager> {
  return KernelManager.create(
    testConfig(slot, over),
    pino({ level: process.env.RUNCELL_TEST_LOG ?? 'silent' }),
  );
}

export interface Collected {
  messages: ChannelMessage[];
  stdout: string;
  stderr: string;
  reply: ChannelMessage | undefined;
  types: string[];
}

/** Runs `code`; `out` fills as messages arrive (for a test that acts mid-run), `done` when it ends. */
export function startRun(
  kernel: Kernel,
  code: string,
  input?: string,
): { out: Collected; done: Promise<Collected> } {
  const out: Collected = { messages: [], stdout: '', stderr: '', reply: undefined, types: [] };
  const done = (async () => {
    for await (const m of kernel.execute(code, input === undefined ? {} : { input })) {
      out.messages.push(m);
      out.types.push(m.header.msg_type);
      if (m.header.msg_type === 'stream') {
        const c = m.content as { name: string; text: string };
        if (c.name === 'stdout') out.stdout += c.text;
        else out.stderr += c.text;
      }
      if (m.header.msg_type === 'execute_reply') out.reply = m;
    }
    return out;
  })();
  return { out, done };
}

export function run(kernel: Kernel, code: string, input?: string): Promise<Collected> {
  return startRun(kernel, code, input).done;
}

/** Host pids of every live (non-zombie) process running as a uid in [lo, hi]. */
export function pidsOfUids(lo: number, hi: number): number[] {
  const pids: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      // A zombie has no memory, files or threads left; it waits for the host's init to reap it.
      if (uid >= lo && uid <= hi && !/^State:\s+Z/m.test(status)) pids.push(Number(d));
    } catch {
      // Gone meanwhile.
    }
  }
  return pids;
}

export function waitFor<T>(fn: () => T | undefined | false, timeoutMs: number, what: string): Promise<T> {
  const deadline = Date.now() + timeoutMs;
  return new Promise((resolve, reject) => {
    const tick = () => {
      const v = fn();
      if (v) return resolve(v);
      if (Date.now() > deadline) return reject(new Error(`timed out waiting for ${what}`));
      setTimeout(tick, 25);
    };
    tick();
  });
}
