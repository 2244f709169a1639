// The launch chain: fds, the connection file, ipykernel over ipc sockets, and failing closed.
import { spawn } from 'node:child_process';
import { existsSync, lstatSync, readdirSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createSandbox, defaultSandboxConfig } from '../../../kernel-manager/sandbox/index.js';
import { processesOfUid } from '../../../kernel-manager/sandbox/procs.js';
import { launchPy, type TestSandbox, testSandbox, until } from './helpers.js';

let t: TestSandbox;
beforeAll(async () => {
  t = await testSandbox(1_710_000_000);
});
afterAll(() => t.close());

const repo = new URL('../../../', import.meta.url).pathname;

/** What the runtime root holds for kernels: everything but the sandbox's shared start-up hooks. */
const kernelDirs = (root: string) => readdirSync(root).filter((n) => n !== 'hooks');

describe('launch', () => {
  it('does not pass on fds the server inherited without close-on-exec', async () => {
    // A server started with a stray fd 40 (as a careless supervisor might leave it) launches a kernel.
    const script = `/run/rct-fds-${process.pid}.mts`;
    writeFileSync(
      script,
      `import { createSandbox, defaultSandboxConfig } from '${repo}kernel-manager/sandbox/index.ts';
const sb = await createSandbox({ ...defaultSandboxConfig(), uidRange: [1_710_000_050, 1_710_000_059], runtimeRoot: '/run/rct-fds-${process.pid}' });
const p = await sb.launch({ kernelId: 'fds', env: {}, connectionFile: () => Buffer.from('{}'), argv: ['/usr/bin/python3', '-c',
  "import os; print(sorted(f for f in os.listdir('/proc/self/fd') if os.path.exists('/proc/self/fd/' + f)))"] });
await p.exited;
console.log(JSON.stringify({ out: p.output?.(), parentFd40: (await import('node:fs')).existsSync('/proc/self/fd/40') }));
await p.destroy();`,
    );
    try {
      const stdio = ['ignore', 'pipe', 'inherit', ...Array(37).fill('ignore'), 'pipe'] as const;
      const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, stdio: [...stdio] });
      let text = '';
      child.stdout?.on('data', (c: Buffer) => {
        text += c.toString();
      });
      await new Promise((r) => child.once('exit', r));
      const res = JSON.parse(text.trim().split('\n').at(-1) ?? '{}') as { out: string; parentFd40: boolean };
      expect(res.parentFd40).toBe(true);
      expect(res.out.trim()).toBe("['0', '1', '2']");
    } finally {
      await rm(script, { force: true });
      await rm(`/run/rct-fds-${process.pid}`, { recursive: true, force: true });
    }
  });

  it('starts ipykernel on ipc sockets the host can reach at ipcPrefix-N', async () => {
    const p = await t.sb.launch({
      kernelId: 'ipykernel',
      argv: ['/usr/bin/python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
      env: { PYDEVD_DISABLE_FILE_VALIDATION: '1' },
      connectionFile: (ip) =>
        Buffer.from(
          JSON.stringify({
            transport: 'ipc',
            ip,
            shell_port: 1,
            iopub_port: 2,
            stdin_port: 3,
            control_port: 4,
            hb_port: 5,
            key: 'k'.repeat(64),
            signature_scheme: 'hmac-sha256',
            kernel_name: 'python3',
          }),
        ),
    });
    try {
      expect(p.ipcPrefix).toBe(`${t.config.runtimeRoot}/${p.uid}/k`);
      const all = () => [1, 2, 3, 4, 5].every((n) => existsSync(`${p.ipcPrefix}-${n}`));
      expect(await until(all, 10_000)).toBe(true);
      for (const n of [1, 2, 3, 4, 5]) expect(lstatSync(`${p.ipcPrefix}-${n}`).isSocket()).toBe(true);
      // The connection file (with its key) never touched the host's disk.
      expect(readdirSync(p.ipcPrefix.slice(0, -2)).sort()).toEqual(['k-1', 'k-2', 'k-3', 'k-4', 'k-5']);
    } finally {
      await p.destroy();
    }
  });

  it('fails closed on arguments it cannot pass safely, and frees what it took', async () => {
    await expect(launchPy(t.sb, 'pass', { 'BAD NAME': 'x' })).rejects.toThrow(/invalid environment variable/);
    await expect(launchPy(t.sb, 'pass', { OK: 'a\0b' })).rejects.toThrow(/NUL/);
    expect(kernelDirs(t.config.runtimeRoot)).toEqual([]);
  });

  it('a kernel that cannot exec still leaves nothing behind', async () => {
    let uid: number | undefined;
    try {
      const p = await t.sb.launch({
        kernelId: 'missing',
        argv: ['/usr/bin/no-such-kernel'],
        env: {},
        connectionFile: () => Buffer.from('{}'),
      });
      uid = p.uid;
      expect((await p.exited).code).toBe(1);
      expect(p.output?.()).toMatch(/execvp/);
      await p.destroy();
    } catch (e) {
      // Also acceptable: bwrap failed before the kernel process was seen.
      expect(String(e)).toMatch(/kernel sandbox failed to start/);
    }
    if (uid !== undefined) expect(await processesOfUid(uid)).toEqual([]);
    expect(kernelDirs(t.config.runtimeRoot)).toEqual([]);
  });

  it('a server killed the moment it forked a kernel leaves no kernel running', async () => {
    // The window bubblewrap's --die-with-parent leaves open: the server dies after the fork (and after
    // it wrote the sandbox's arguments) but before anything in the chain armed the parent-death signal.
    // The server here kills itself right there, on each of several launches in a row.
    const range: [number, number] = [1_710_000_080, 1_710_000_099];
    const root = `/run/rct-die-${process.pid}`;
    const script = `/run/rct-die-${process.pid}.mts`;
    writeFileSync(
      script,
      `import cp from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
const spawn = cp.spawn;
cp.spawn = (...a) => { const c = spawn(...a); if (a[1]?.includes('runcell-sandbox')) process.nextTick(() => process.kill(process.pid, 'SIGKILL')); return c; };
syncBuiltinESMExports();
const { createSandbox, defaultSandboxConfig } = await import('${repo}kernel-manager/sandbox/index.ts');
const sb = await createSandbox({ ...defaultSandboxConfig(), uidRange: [${range[0]}, ${range[1]}], runtimeRoot: '${root}' });
await sb.launch({ kernelId: 'k', env: {}, connectionFile: () => Buffer.from('{}'), argv: ['/usr/bin/sleep', '300'] });`,
    );
    const inRange = async () => {
      const found: number[] = [];
      for (let u = range[0]; u <= range[1]; u++) found.push(...(await processesOfUid(u)));
      return found;
    };
    try {
      for (let i = 0; i < 5; i++) {
        const child = spawn(process.execPath, ['--import', 'tsx', script], { cwd: repo, stdio: 'ignore' });
        expect(await new Promise((r) => child.once('exit', (_code, signal) => r(signal)))).toBe('SIGKILL');
        // Whatever the chain had reached, it ends without the server (a bound, not a timing).
        expect(await until(async () => (await inRange()).length === 0, 10_000)).toBe(true);
      }
    } finally {
      // What the killed runs left (cgroups, runtime dirs) is reclaimed as a restarted server would.
      const sb = await createSandbox({
        ...defaultSandboxConfig(),
        uidRange: range,
        runtimeRoot: root,
        reclaim: true,
      });
      await sb.close?.();
      await rm(script, { force: true });
      await rm(root, { recursive: true, force: true });
    }
  }, 120_000);

  it('a launch given up before its sandbox started leaves nothing to start later', async () => {
    // Its deadline passes while the chain is still in its root part (no uid, no cgroup yet): what
    // destroys it must stop the chain itself, or the kernel starts after its uid was freed.
    for (let i = 0; i < 3; i++) {
      await expect(
        t.sb.launch({
          kernelId: `late-${i}`,
          argv: ['/usr/bin/sleep', '300'],
          env: {},
          connectionFile: () => Buffer.from('{}'),
          deadline: Date.now(),
        }),
      ).rejects.toThrow(/start-up deadline/);
      // A chain left running reaches bubblewrap in well under this (about 0.1 s here).
      await new Promise((r) => setTimeout(r, 2_000));
      const [lo, hi] = t.config.uidRange;
      const found: number[] = [];
      for (let u = lo; u <= hi; u++) found.push(...(await processesOfUid(u)));
      expect(found).toEqual([]);
    }
    expect(kernelDirs(t.config.runtimeRoot)).toEqual([]);
  }, 60_000);

  it('refuses a runtime root too long for ipc socket paths', async () => {
    await expect(testSandbox(1_710_000_060, { runtimeRoot: `/run/rct-${'x'.repeat(90)}` })).rejects.toThrow(
      /too long for ipc socket paths/,
    );
  });
});
