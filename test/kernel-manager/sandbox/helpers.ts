// Shared by the sandbox test files: a real sandbox on its own uid range and runtime root (test files
// run in parallel), and a way to run a Python snippet in it and collect what it printed.
import { randomBytes } from 'node:crypto';
import { rm } from 'node:fs/promises';
import { createSandbox, defaultSandboxConfig } from '../../../kernel-manager/sandbox/index.js';
import type {
  ExitInfo,
  Sandbox,
  SandboxConfig,
  SandboxedProcess,
} from '../../../kernel-manager/sandbox/types.js';

const MiB = 2 ** 20;

export interface TestSandbox {
  sb: Sandbox;
  config: SandboxConfig;
  close(): Promise<void>;
}

/** A sandbox over uids [base, base+19], with small limits so breaches are quick to provoke. */
export async function testSandbox(base: number, over: Partial<SandboxConfig> = {}): Promise<TestSandbox> {
  const d = defaultSandboxConfig();
  const config: SandboxConfig = {
    ...d,
    uidRange: [base, base + 19],
    runtimeRoot: `/run/rct-${randomBytes(4).toString('hex')}`,
    tmpBytes: 4 * MiB,
    homeBytes: 4 * MiB,
    shmBytes: 2 * MiB,
    memoryBytes: 128 * MiB,
    pids: 48,
    rlimits: { ...d.rlimits, processes: 24, fileSizeBytes: 3 * MiB, openFiles: 64, cpuSeconds: 30 },
    ...over,
  };
  const sb = await createSandbox(config);
  return {
    sb,
    config,
    // Every test destroys its kernels; the root is empty by now.
    close: () => rm(config.runtimeRoot, { recursive: true, force: true }),
  };
}

export const py = (script: string) => ['/usr/bin/python3', '-c', script];

export function launchPy(
  sb: Sandbox,
  script: string,
  env: Record<string, string> = {},
): Promise<SandboxedProcess> {
  return sb.launch({
    kernelId: `t-${randomBytes(4).toString('hex')}`,
    argv: py(script),
    env,
    connectionFile: (ip) => Buffer.from(JSON.stringify({ ip })),
  });
}

export interface PyResult {
  exit: ExitInfo;
  out: string;
  uid: number | undefined;
  proc: SandboxedProcess;
}

/** Runs `script` to completion in the sandbox (at most `timeoutMs`), then destroys the kernel. */
export async function runPy(
  sb: Sandbox,
  script: string,
  env: Record<string, string> = {},
  timeoutMs = 20_000,
) {
  const proc = await launchPy(sb, script, env);
  try {
    const exit = await Promise.race([
      proc.exited,
      new Promise<never>((_, reject) =>
        setTimeout(() => reject(new Error('kernel did not exit')), timeoutMs),
      ),
    ]);
    return { exit, out: proc.output?.() ?? '', uid: proc.uid, proc } satisfies PyResult;
  } finally {
    await proc.destroy();
  }
}

/** Runs `script` and parses the last line it printed as JSON. */
export async function pyJson<T = Record<string, unknown>>(
  sb: Sandbox,
  script: string,
  env: Record<string, string> = {},
) {
  const r = await runPy(sb, `import json\n${script}`, env);
  const last = r.out.trim().split('\n').at(-1) ?? '';
  try {
    return { ...r, json: JSON.parse(last) as T };
  } catch {
    throw new Error(`no JSON from the kernel (exit ${JSON.stringify(r.exit)}):\n${r.out}`);
  }
}

/** Polls `cond` every 10 ms until true or `ms` passes. */
export async function until(cond: () => boolean | Promise<boolean>, ms = 5000): Promise<boolean> {
  const end = Date.now() + ms;
  while (Date.now() < end) {
    if (await cond()) return true;
    await new Promise((r) => setTimeout(r, 10));
  }
  return cond();
}
