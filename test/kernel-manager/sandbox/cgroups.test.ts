// Resource limits: cgroup memory and pids (v1 here, v2 in production), and the rlimits set by prlimit.
import { existsSync, readFileSync } from 'node:fs';
import { availableParallelism, getPriority } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  describeCgroups,
  detectCgroups,
  KernelCgroup,
  keyed,
} from '../../../kernel-manager/sandbox/cgroups.js';
import { processesOfUid } from '../../../kernel-manager/sandbox/procs.js';
import { launchPy, pyJson, runPy, type TestSandbox, testSandbox, until } from './helpers.js';

const MiB = 2 ** 20;
let t: TestSandbox;

beforeAll(async () => {
  t = await testSandbox(1_710_000_300, { memoryBytes: 96 * MiB, pids: 40 });
});
afterAll(() => t.close());

describe('cgroup detection', () => {
  it('finds the hierarchies this host offers and reports them', async () => {
    const layout = await detectCgroups('runcell');
    const text = describeCgroups(layout, { memoryBytes: 96 * MiB, pids: 40 }).join('\n');
    if (existsSync('/sys/fs/cgroup/cgroup.controllers')) {
      expect(layout.v2).toBe('/sys/fs/cgroup/runcell');
    } else {
      // This CI host: v1 memory and pids, controller-less v2 for cgroup.kill.
      expect(layout.v1Memory).toBe('/sys/fs/cgroup/memory/runcell');
      expect(layout.v1Pids).toBe('/sys/fs/cgroup/pids/runcell');
      expect(layout.v2).toBe('/sys/fs/cgroup/unified/runcell');
      expect(text).toMatch(/cgroup v1 memory .*96 MiB/);
      expect(text).toMatch(/cgroup v1 pids .*40 pids/);
    }
    expect(t.sb.report.join('\n')).toContain(text);
  });

  it('parses flat-keyed cgroup files', () => {
    expect(keyed('oom 2\noom_kill 1\n', 'oom_kill')).toBe(1);
    expect(keyed('max 0\n', 'oom_kill')).toBeUndefined();
    expect(keyed(undefined, 'max')).toBeUndefined();
  });

  it('creates, limits, kills and removes a kernel cgroup', async () => {
    const layout = await detectCgroups('runcell');
    const cg = await KernelCgroup.create(layout, 'u-test-cgroups', { memoryBytes: 64 * MiB, pids: 7 });
    if (layout.v1Memory) {
      expect(readFileSync(`${layout.v1Memory}/u-test-cgroups/memory.limit_in_bytes`, 'utf8').trim()).toBe(
        String(64 * MiB),
      );
    }
    if (layout.v1Pids)
      expect(readFileSync(`${layout.v1Pids}/u-test-cgroups/pids.max`, 'utf8').trim()).toBe('7');
    expect(cg.procsFiles.length).toBeGreaterThan(0);
    expect(await cg.members()).toEqual([]);
    expect(cg.limitHit()).toBeUndefined();
    await cg.destroy();
    for (const f of cg.procsFiles) expect(existsSync(f)).toBe(false);
  });
});

describe('limits on a running kernel', () => {
  it('puts the kernel in its cgroups before it runs', async () => {
    const p = await launchPy(t.sb, 'import time; time.sleep(30)');
    try {
      const cgroup = readFileSync(`/proc/${p.pid}/cgroup`, 'utf8');
      expect(cgroup).toMatch(new RegExp(`memory:/runcell/u${p.uid}$`, 'm'));
      expect(cgroup).toMatch(new RegExp(`pids:/runcell/u${p.uid}$`, 'm'));
      expect(cgroup).toMatch(new RegExp(`^0::/runcell/u${p.uid}$`, 'm'));
    } finally {
      await p.destroy();
    }
  });

  it('contains a memory bomb and says the memory limit was reached', async () => {
    // RLIMIT_AS (4 GiB) is far away: the cgroup's 96 MiB is what stops this.
    const r = await runPy(t.sb, `x = []\nwhile True:\n    x.append(b'x' * (8 << 20))`);
    expect(r.exit.signal).toBe('SIGKILL');
    expect(r.exit.reason).toBe('memory limit of 96 MiB reached');
  });

  it('stops a fork bomb at RLIMIT_NPROC and cleans it all up', async () => {
    const p = await launchPy(
      t.sb,
      `import os, time, errno
n = 0
try:
    while True:
        if os.fork() == 0:
            time.sleep(60)
            os._exit(0)
        n += 1
except OSError as e:
    print('blocked', n, errno.errorcode[e.errno], flush=True)
time.sleep(60)`,
    );
    try {
      expect(await until(() => /blocked/.test(p.output?.() ?? ''))).toBe(true);
      const [, n, err] = /blocked (\d+) (\w+)/.exec(p.output?.() ?? '') ?? [];
      expect(err).toBe('EAGAIN');
      // processes=24 counts every task of the uid: bwrap's two, the kernel, its children.
      expect(Number(n)).toBeLessThan(24);
      expect(Number(n)).toBeGreaterThan(10);
    } finally {
      await p.destroy();
    }
    expect(await processesOfUid(p.uid as number)).toEqual([]);
  });

  it('kills a kernel that uses up its CPU seconds, with a reason', async () => {
    const s = await testSandbox(1_710_000_330, { rlimits: { ...t.config.rlimits, cpuSeconds: 1 } });
    try {
      const r = await runPy(s.sb, 'while True: pass');
      expect(r.exit.signal).toBe('SIGXCPU');
      expect(r.exit.reason).toBe('CPU time limit of 1 s reached');
    } finally {
      await s.close();
    }
  });

  it('gives MemoryError at RLIMIT_AS', async () => {
    const s = await testSandbox(1_710_000_360, {
      rlimits: { ...t.config.rlimits, addressSpaceBytes: 512 * MiB },
    });
    try {
      const r = await runPy(
        s.sb,
        `try:\n    x = bytearray(1 << 30)\nexcept MemoryError:\n    print('MemoryError')`,
      );
      expect(r.out).toContain('MemoryError');
      expect(r.exit.code).toBe(0);
    } finally {
      await s.close();
    }
  });

  it('enforces RLIMIT_FSIZE and RLIMIT_NOFILE, and no core dumps', async () => {
    const r = await pyJson<{ fsize: string; nofile: string; core: number[] }>(
      t.sb,
      `import errno, os, resource
out = {'core': list(resource.getrlimit(resource.RLIMIT_CORE))}
try:
    with open('/tmp/big', 'wb') as f:
        f.write(b'x' * (3 << 20) + b'y')
    out['fsize'] = 'no limit'
except OSError as e:
    out['fsize'] = errno.errorcode[e.errno]
fds = []
try:
    while True:
        fds.append(os.open('/dev/null', os.O_RDONLY))
except OSError as e:
    out['nofile'] = errno.errorcode[e.errno] + ':' + str(len(fds))
print(json.dumps(out))`,
    );
    expect(r.json.fsize).toBe('EFBIG');
    expect(r.json.nofile).toMatch(/^EMFILE:6\d$/);
    expect(r.json.core).toEqual([0, 0]);
  });

  it('puts the kernel in its own cpu cgroup, under a parent that weighs as one process per core; pool kernels yield until handed out', async () => {
    // In the root cpu group, a kernel (a new session) would be scheduled by its session's autogroup,
    // which weighs as much as the whole server whatever the kernel's niceness; here all kernels
    // together weigh as one process per core.
    const layout = await detectCgroups('runcell');
    expect(layout.cpu).toBeDefined();
    const cpu = layout.cpu as { dir: string; v2: boolean; poolDir?: string };
    const file = cpu.v2 ? 'cpu.weight' : 'cpu.shares';
    const weight = readFileSync(`${cpu.dir}/${file}`, 'utf8').trim();
    expect(weight).toBe(String((cpu.v2 ? 100 : 1024) * availableParallelism()));
    // v1: kernels starting for the pool have a parent of their own beside the kernels' one, which
    // weighs as a quarter of one process for all of them together.
    if (!cpu.v2) {
      expect(cpu.poolDir).toBe(`${cpu.dir}-starting`);
      expect(readFileSync(`${cpu.poolDir}/cpu.shares`, 'utf8').trim()).toBe('256');
    }
    const p = await t.sb.launch({
      kernelId: 'cpu-weight',
      // A thread and a child process: each must follow the kernel out of the pool's parent.
      argv: [
        '/usr/bin/python3',
        '-c',
        'import subprocess, threading, time; threading.Thread(target=time.sleep, args=(30,)).start(); subprocess.Popen(["/usr/bin/sleep", "30"]); time.sleep(30)',
      ],
      env: {},
      connectionFile: () => Buffer.from('{}'),
      background: true,
    });
    const cpuLine = (pid: number | undefined) =>
      readFileSync(`/proc/${pid}/cgroup`, 'utf8')
        .split('\n')
        .find((l) => (cpu.v2 ? l.startsWith('0::') : /^\d+:[^:]*\bcpu\b[^:]*:/.test(l)))
        ?.split(':')[2];
    const rel = (dir: string) => dir.replace(/^\/sys\/fs\/cgroup\/(cpu\/|unified\/)?/, '/');
    try {
      const own = `${cpu.dir}/u${p.uid}`;
      const procs = (dir: string) => readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean);
      if (cpu.poolDir) {
        // Launched for the pool: every process of it under the pool's parent, none under the kernels'.
        const starting = `${cpu.poolDir}/u${p.uid}`;
        // bwrap, its pid 1, python, sleep
        expect(await until(async () => procs(starting).length >= 4)).toBe(true);
        expect(cpuLine(p.pid)).toBe(`${rel(cpu.poolDir)}/u${p.uid}`);
        expect(existsSync(own)).toBe(false);
        const before = procs(starting).sort();
        // The hand-out and a kill can ask at once: one move serves both.
        await Promise.all([p.foreground?.(), p.foreground?.()]);
        // Handed out: all of them (threads included) moved, at a kernel's full weight; the old one gone.
        expect(readFileSync(`${own}/cpu.shares`, 'utf8').trim()).toBe('1024');
        expect(procs(own).sort()).toEqual(before);
        expect(readFileSync(`${own}/tasks`, 'utf8').split('\n').filter(Boolean).length).toBeGreaterThan(
          before.length,
        );
        expect(existsSync(starting)).toBe(false);
      } else {
        // v2: a quarter of a kernel's weight in the kernels' parent, the full weight once handed out.
        expect(readFileSync(`${own}/${file}`, 'utf8').trim()).toBe('25');
        await p.foreground?.();
        expect(readFileSync(`${own}/${file}`, 'utf8').trim()).toBe('100');
      }
      expect(cpuLine(p.pid)).toBe(`${rel(cpu.dir)}/u${p.uid}`);
    } finally {
      await p.destroy();
    }
    expect(existsSync(`${cpu.dir}/u${p.uid}`)).toBe(false);
  });

  it('kills a kernel still starting for the pool, and removes its cgroup under the pool parent', async () => {
    const layout = await detectCgroups('runcell');
    const pool = layout.cpu?.poolDir;
    expect(layout.cpu?.v2 === true || pool !== undefined).toBe(true);
    const p = await t.sb.launch({
      kernelId: 'cpu-starting-kill',
      argv: ['/usr/bin/python3', '-c', 'import time; time.sleep(30)'],
      env: {},
      connectionFile: () => Buffer.from('{}'),
      background: true,
    });
    await p.destroy();
    expect(await processesOfUid(p.uid as number)).toEqual([]);
    if (pool) expect(existsSync(`${pool}/u${p.uid}`)).toBe(false);
    expect(existsSync(`${layout.cpu?.dir}/u${p.uid}`)).toBe(false);
  });

  it('kills a kernel while it moves out of the pool parent: no process and no cgroup is left', async () => {
    const layout = await detectCgroups('runcell');
    const p = await t.sb.launch({
      kernelId: 'cpu-moving-kill',
      argv: [
        '/usr/bin/python3',
        '-c',
        'import subprocess, time; subprocess.Popen(["/usr/bin/sleep", "30"]); time.sleep(30)',
      ],
      env: {},
      connectionFile: () => Buffer.from('{}'),
      background: true,
    });
    const moving = p.foreground?.();
    await p.destroy();
    await moving;
    expect(await processesOfUid(p.uid as number)).toEqual([]);
    if (layout.cpu?.poolDir) expect(existsSync(`${layout.cpu.poolDir}/u${p.uid}`)).toBe(false);
    expect(existsSync(`${layout.cpu?.dir}/u${p.uid}`)).toBe(false);
  });

  it('runs the kernel niced below the server, and it cannot raise its priority back', async () => {
    const r = await pyJson<{ nice: number; raise: string }>(
      t.sb,
      `import errno, os
out = {'nice': os.nice(0)}
try:
    os.setpriority(os.PRIO_PROCESS, 0, 0)
    out['raise'] = 'raised'
except OSError as e:
    out['raise'] = errno.errorcode[e.errno]
print(json.dumps(out))`,
    );
    expect(r.json.nice).toBe(getPriority() + 10);
    expect(r.json.raise).toBe('EACCES');
  });
});
