// createSandbox: what it reports, and that it fails closed on a configuration it cannot honour.
import { chownSync, existsSync, mkdirSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { createSandbox, defaultSandboxConfig } from '../../../kernel-manager/sandbox/index.js';
import type { SandboxConfig } from '../../../kernel-manager/sandbox/types.js';
import { runPy, testSandbox } from './helpers.js';

const base = 1_710_000_500;
const roots: string[] = [];
afterAll(async () => {
  for (const r of roots) await rm(r, { recursive: true, force: true });
});

describe('defaultSandboxConfig', () => {
  it('is the full sandbox with seccomp', () => {
    const d = defaultSandboxConfig();
    expect(d.mode).toBe('bwrap');
    expect(d.seccomp).toBe(true);
    expect(d.uidRange[0]).toBeGreaterThan(65535);
    expect(d.rlimits.processes).toBeGreaterThan(0);
    expect(Buffer.byteLength(`${d.runtimeRoot}/${d.uidRange[1]}/k-65535`)).toBeLessThanOrEqual(107);
  });
});

describe('createSandbox', () => {
  it('reports every protection and limit in force', async () => {
    const t = await testSandbox(base);
    roots.push(t.config.runtimeRoot);
    const text = t.sb.report.join('\n');
    expect(text).toMatch(/^bubblewrap 0\.\d+/);
    expect(text).toMatch(/per-kernel uid from 1710000500-1710000519/);
    expect(text).toMatch(/network: only lo/);
    expect(text).toMatch(/seccomp: on/);
    expect(text).toMatch(/rlimits: cpu 30 s, address space 4096 MiB, 24 processes per uid/);
    expect(text).toMatch(/tmpfs: \/tmp 4 MiB, \/home\/kernel 4 MiB, \/dev\/shm 2 MiB/);
    expect(text).toMatch(/cgroup .*memory/);
    expect(text).toMatch(/cgroup.kill/);
  });

  it('logs what it reports', async () => {
    const lines: string[] = [];
    const log = { info: (_: unknown, m?: string) => lines.push(`${m}`), warn() {}, error() {} };
    const config = {
      ...defaultSandboxConfig(),
      uidRange: [base + 20, base + 29] as [number, number],
      runtimeRoot: '/run/rct-idx-log',
    };
    roots.push(config.runtimeRoot);
    const sb = await createSandbox(config, log);
    expect(lines).toEqual(sb.report);
  });

  it.each<[string, Partial<SandboxConfig>, RegExp]>([
    ['an invalid uid range', { uidRange: [0, 5] }, /uidRange/],
    ['a relative runtime root', { runtimeRoot: 'run/x' }, /runtime root/],
    ['an unknown mode', { mode: 'chroot' as 'none' }, /unknown sandbox mode/],
  ])('fails closed on %s', async (_, over, msg) => {
    await expect(
      createSandbox({ ...defaultSandboxConfig(), uidRange: [base, base + 9], ...over }),
    ).rejects.toThrow(msg);
  });

  it('fails closed on a runtime root someone else owns', async () => {
    const root = `/run/rct-idx-foreign-${process.pid}`;
    roots.push(root);
    mkdirSync(root);
    chownSync(root, 4321, 4321);
    await expect(
      createSandbox({ ...defaultSandboxConfig(), uidRange: [base, base + 9], runtimeRoot: root }),
    ).rejects.toThrow(/kernel sandbox unavailable: runtime root/);
  });
});

describe("mode 'none'", () => {
  it('runs the kernel unconfined, says so loudly, and cleans up its runtime dir', async () => {
    const warnings: string[] = [];
    const log = { info() {}, warn: (_: unknown, m?: string) => warnings.push(`${m}`), error() {} };
    const root = `/run/rct-none-${process.pid}`;
    roots.push(root);
    mkdirSync(root, { recursive: true });
    const sb = await createSandbox({ ...defaultSandboxConfig(), mode: 'none', runtimeRoot: root }, log);
    expect(warnings.join()).toMatch(/SANDBOX DISABLED/);
    expect(sb.report.join()).toMatch(/SANDBOX DISABLED/);
    const r = await runPy(sb, `import os, json\nprint(json.dumps([os.getuid(), sorted(os.environ)]))`, {
      A: '1',
    });
    expect(r.uid).toBeUndefined();
    expect(r.proc.ipcPrefix.startsWith(`${root}/n-`)).toBe(true);
    const [uid, env] = JSON.parse(r.out.trim()) as [number, string[]];
    expect(uid).toBe(0);
    // Only the request's env plus PATH (Python may add LC_CTYPE): nothing of the server's.
    expect(env).toContain('A');
    expect(env.filter((k) => !['A', 'PATH', 'LC_CTYPE'].includes(k))).toEqual([]);
    expect(existsSync(r.proc.ipcPrefix.slice(0, -2))).toBe(false);
  });
});
