// The cgroup mover's thread: a whole cgroup's processes (threads included) move, the old cgroup goes.
import { type ChildProcess, execFile, spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, rmdirSync, writeFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, describe, expect, it } from 'vitest';
import { moveAll } from '../../../kernel-manager/sandbox/cgroup-mover.js';

// The v1 cpu hierarchy where there is one (this kind of host), else the v2 one.
const hierarchy = existsSync('/sys/fs/cgroup/cpu/cgroup.procs') ? '/sys/fs/cgroup/cpu' : '/sys/fs/cgroup';
const base = `${hierarchy}/rct-mover-${process.pid}`;
const procs = (dir: string) => readFileSync(`${dir}/cgroup.procs`, 'utf8').split('\n').filter(Boolean);
const kids: ChildProcess[] = [];

afterAll(async () => {
  // Reaped before the cgroups go: a killed child is in its cgroup until node has waited for it (a
  // zombie no longer shows in cgroup.procs but keeps the cgroup busy).
  await Promise.all(
    kids.map((k) =>
      k.exitCode !== null || k.signalCode !== null
        ? undefined
        : new Promise((r) => {
            k.once('exit', r);
            k.kill('SIGKILL');
          }),
    ),
  );
  for (const d of [`${base}/a`, `${base}/b`, `${base}/c`, `${base}/d`, base]) {
    if (!existsSync(d)) continue;
    for (const pid of procs(d)) writeFileSync(`${hierarchy}/cgroup.procs`, pid);
    rmdirSync(d);
  }
});

describe('cgroup mover', () => {
  it('moves every process of a cgroup, threads included, into another and removes the old one', async () => {
    mkdirSync(base);
    mkdirSync(`${base}/a`);
    // A process with a second thread, and two plain ones.
    const argv = [
      [
        '/usr/bin/python3',
        '-c',
        'import threading, time; threading.Thread(target=time.sleep, args=(60,)).start(); time.sleep(60)',
      ],
      ['/usr/bin/sleep', '60'],
      ['/usr/bin/sleep', '60'],
    ];
    for (const [cmd, ...args] of argv) {
      const k = spawn(cmd as string, args, { stdio: 'ignore' });
      kids.push(k);
      writeFileSync(`${base}/a/cgroup.procs`, String(k.pid));
    }
    const before = procs(`${base}/a`).sort();
    expect(before).toHaveLength(3);
    // Two moves at once (each its own pair of cgroups) are served in turn.
    mkdirSync(`${base}/c`);
    const [r] = await Promise.all([moveAll(`${base}/a`, `${base}/b`), moveAll(`${base}/c`, `${base}/b`)]);
    expect(r).toEqual({ stuck: [], removed: true });
    expect(existsSync(`${base}/a`)).toBe(false);
    expect(existsSync(`${base}/c`)).toBe(false);
    expect(procs(`${base}/b`).sort()).toEqual(before);
    expect(readFileSync(`${base}/b/tasks`, 'utf8').split('\n').filter(Boolean).length).toBeGreaterThan(3);
  });

  it('reports a cgroup that does not exist as not removed, and keeps serving', async () => {
    expect(await moveAll(`${base}/missing`, `${base}/b`)).toEqual({ stuck: [], removed: false });
    mkdirSync(`${base}/a`);
    expect(await moveAll(`${base}/a`, `${base}/b`)).toEqual({ stuck: [], removed: true });
  });

  it('keeps a process alive while a move is in flight, and lets it exit once the mover is idle', async () => {
    // A script that awaits one move and does nothing else: it must see the result (the move's pending
    // reply keeps it running) and then end on its own (an idle mover holds nothing).
    mkdirSync(`${base}/d`);
    const mover = fileURLToPath(new URL('../../../kernel-manager/sandbox/cgroup-mover.ts', import.meta.url));
    const script = `const { moveAll } = await import(${JSON.stringify(mover)}); console.log(JSON.stringify(await moveAll(${JSON.stringify(`${base}/d`)}, ${JSON.stringify(`${base}/b`)})));`;
    const { stdout } = await promisify(execFile)(
      process.execPath,
      ['--import', 'tsx', '--input-type=module', '-e', script],
      { timeout: 20_000 },
    );
    expect(stdout.trim()).toBe('{"stuck":[],"removed":true}');
    expect(existsSync(`${base}/d`)).toBe(false);
  });
});
