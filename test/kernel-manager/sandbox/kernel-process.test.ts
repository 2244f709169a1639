// destroy(), signal() and exit reporting of one sandboxed kernel: cleanup must not rely on the kernel's
// cooperation nor on namespace teardown, and must never follow a link the kernel planted.
import { existsSync, lstatSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { processesOfUid } from '../../../kernel-manager/sandbox/procs.js';
import { launchPy, type TestSandbox, testSandbox, until } from './helpers.js';

let t: TestSandbox;
const outside = `/run/rct-outside-${process.pid}`;

beforeAll(async () => {
  t = await testSandbox(1_710_000_400);
  await mkdir(`${outside}/dir`, { recursive: true });
  writeFileSync(`${outside}/keep.txt`, 'must survive');
  writeFileSync(`${outside}/dir/inner.txt`, 'must survive too');
});
afterAll(async () => {
  await rm(outside, { recursive: true, force: true });
  await t.close();
});

const ready = (p: { output?(): string }) => until(() => (p.output?.() ?? '').includes('ready'));

describe('destroy', () => {
  it('kills a double-forked setsid daemon and leaves no process of the uid', async () => {
    const p = await launchPy(
      t.sb,
      `import os, time
middle = os.fork()
if middle == 0:
    os.setsid()
    if os.fork() == 0:
        for fd in (0, 1, 2):
            os.close(fd)
        time.sleep(300)
    os._exit(0)
# The middle process exits only after it forked the daemon: 'ready' means the daemon exists (printing
# at once raced the forks on a loaded machine).
os.waitpid(middle, 0)
print('ready', flush=True)
time.sleep(300)`,
    );
    const uid = p.uid as number;
    expect(await ready(p)).toBe(true);
    // bwrap, its pid 1, the kernel and the daemon.
    expect((await processesOfUid(uid)).length).toBeGreaterThanOrEqual(4);
    await p.destroy();
    expect(await processesOfUid(uid)).toEqual([]);
    const exit = await p.exited;
    expect(exit.signal).toBe('SIGKILL');
    expect(exit.reason).toBeUndefined(); // we killed it: no limit to blame
    for (const h of ['memory', 'pids', 'unified'])
      expect(existsSync(`/sys/fs/cgroup/${h}/runcell/u${uid}`)).toBe(false);
  });

  it('removes the runtime dir without following links the kernel planted', async () => {
    const p = await launchPy(
      t.sb,
      `import os, time
os.symlink('${outside}/keep.txt', '/run/kernel/evil-file')
os.symlink('${outside}/dir', '/run/kernel/evil-dir')
os.symlink('${outside}', '/run/kernel/k-1')
os.mkdir('/run/kernel/sub')
os.symlink('${outside}/dir', '/run/kernel/sub/deeper')
print('ready', flush=True)
time.sleep(300)`,
    );
    expect(await ready(p)).toBe(true);
    const dir = p.ipcPrefix.slice(0, -2);
    expect(lstatSync(`${dir}/evil-dir`).isSymbolicLink()).toBe(true);
    await p.destroy();
    expect(existsSync(dir)).toBe(false);
    expect(readFileSync(`${outside}/keep.txt`, 'utf8')).toBe('must survive');
    expect(readdirSync(`${outside}/dir`)).toEqual(['inner.txt']);
  });

  it('is idempotent and concurrent calls share one teardown', async () => {
    const p = await launchPy(t.sb, 'import time; time.sleep(300)');
    await Promise.all([p.destroy(), p.destroy()]);
    await p.destroy();
    expect(await processesOfUid(p.uid as number)).toEqual([]);
  });

  it('gives each live kernel its own uid and runtime dir, and reuses uids after release', async () => {
    const procs = await Promise.all([1, 2, 3, 4].map(() => launchPy(t.sb, 'import time; time.sleep(300)')));
    try {
      const uids = new Set(procs.map((p) => p.uid));
      expect(uids.size).toBe(4);
      expect(new Set(procs.map((p) => p.ipcPrefix)).size).toBe(4);
      for (const p of procs) {
        const st = lstatSync(p.ipcPrefix.slice(0, -2));
        expect(st.uid).toBe(p.uid);
        expect(st.mode & 0o777).toBe(0o700);
      }
    } finally {
      await Promise.all(procs.map((p) => p.destroy()));
    }
    // Nothing of the kernels is left; the sandbox's shared start-up hooks (hooks.ts) stay.
    expect(readdirSync(t.config.runtimeRoot).filter((n) => n !== 'hooks')).toEqual([]);
  });

  it("keeps one kernel out of another's runtime dir and sockets", async () => {
    const a = await launchPy(
      t.sb,
      `import socket, time
s = socket.socket(socket.AF_UNIX)
s.bind('/run/kernel/k-1')
s.listen()
print('ready', flush=True)
time.sleep(300)`,
    );
    try {
      expect(await ready(a)).toBe(true);
      const hostSocket = `${a.ipcPrefix}-1`;
      expect(lstatSync(hostSocket).isSocket()).toBe(true);
      const b = await launchPy(
        t.sb,
        `import os, socket
s = socket.socket(socket.AF_UNIX)
try:
    s.connect('${hostSocket}')
    print('connected')
except OSError as e:
    print('refused', type(e).__name__)
print(os.listdir('/run/kernel'), os.path.exists('${t.config.runtimeRoot}'))`,
      );
      await b.exited;
      expect(b.output?.()).toContain('refused FileNotFoundError');
      expect(b.output?.()).toContain('[] False');
      await b.destroy();
    } finally {
      await a.destroy();
    }
  });
});

describe('signals and exits', () => {
  it('tells an exit only once everything the kernel wrote is read (its last line included)', async () => {
    // Its last lines and its exit reach the server together (the server was busy meanwhile, as a
    // loaded one is): the exit's callback may run before the pipes' reads.
    for (let i = 0; i < 10; i++) {
      const p = await launchPy(
        t.sb,
        `import os, sys, time
time.sleep(0.2)
os.write(1, b"a" * 32768 + b"\\n")
os.write(2, b"Traceback: LAST ${i}\\n")
os._exit(3)`,
      );
      try {
        Atomics.wait(new Int32Array(new SharedArrayBuffer(4)), 0, 0, 1_500);
        expect((await p.exited).code).toBe(3);
        expect(p.output?.().trimEnd().endsWith(`LAST ${i}`)).toBe(true);
      } finally {
        await p.destroy();
      }
    }
  }, 60_000);

  it('delivers a signal to the kernel process itself', async () => {
    const p = await launchPy(
      t.sb,
      // The handler writes with os.write and leaves with os._exit: the signal may land while the main
      // thread is still inside print('ready'), where print would raise "reentrant call".
      `import os, signal, time
def onint(*_):
    os.write(1, b'interrupted\\n')
    os._exit(7)
signal.signal(signal.SIGINT, onint)
print('ready', flush=True)
time.sleep(300)`,
    );
    try {
      expect(await ready(p)).toBe(true);
      const status = readFileSync(`/proc/${p.pid}/status`, 'utf8');
      expect(status).toMatch(/^Name:\s+python3/m);
      p.signal('SIGINT');
      const exit = await p.exited;
      // The handler ran in the kernel process itself (the point of this test) and chose the status.
      expect(p.output?.()).toContain('interrupted');
      expect(exit.signal).toBeNull();
      expect(exit.code).toBe(7);
    } finally {
      await p.destroy();
    }
    p.signal('SIGINT'); // after exit: a no-op, never a recycled pid
  });

  it('keeps only a bounded tail of what the kernel prints', async () => {
    const p = await launchPy(
      t.sb,
      `import sys\nfor i in range(5000):\n    print('line', i, 'x' * 100)\nprint('end')`,
    );
    await p.exited;
    const out = p.output?.() ?? '';
    expect(out.length).toBeLessThanOrEqual(16 * 1024);
    expect(out.trimEnd().endsWith('end')).toBe(true);
    await p.destroy();
  });
});
