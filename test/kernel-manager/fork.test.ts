// Kernels forked from the fork-server's zygote: they work like plain kernels and are confined like them.
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelManager } from '../../kernel-manager/index.js';
import type { LocalKernel } from '../../kernel-manager/kernel.js';
import type { Kernel } from '../../kernel-manager/types.js';
import { pidsOfUids, run, testConfig, waitFor } from './helpers.js';

const SLOT = 20;
const LO = 61_000 + SLOT * 100;
const MiB = 2 ** 20;
const logLines: string[] = [];
let manager: KernelManager;
let a: Kernel;
let b: Kernel;

const ppid = (pid: number) =>
  Number(/^PPid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
const cmdline = (pid: number) => readFileSync(`/proc/${pid}/cmdline`, 'utf8');
/** The host pid of the zygote a kernel was forked from (kernel -> its waiter -> the zygote). */
const zygoteOf = (k: Kernel) => ppid(ppid((k as LocalKernel).pid as number));
const py = async (k: Kernel, code: string) => (await run(k, code)).stdout.trim();

beforeAll(async () => {
  process.env.RUNCELL_TEST_SECRET = 'server-env-marker';
  const sink = new Writable({
    write(chunk, _enc, cb) {
      logLines.push(String(chunk));
      cb();
    },
  });
  manager = await KernelManager.create(
    testConfig(SLOT, {
      pool: { size: 2 },
      fork: { specs: ['python3'] },
      sandbox: { memoryBytes: 256 * MiB },
    }),
    pino({ level: 'info' }, sink),
  );
  [a, b] = await Promise.all([manager.start(), manager.start()]);
});
afterAll(async () => {
  await manager?.close();
  // Pool kernels still starting when close() returns are torn down as their start completes.
  await waitFor(() => pidsOfUids(LO, LO + 99).length === 0, 5000, 'no kernel process left').catch(() => {});
  expect(pidsOfUids(LO, LO + 99)).toEqual([]);
});

describe('forked kernels', () => {
  it('come from the zygote, via the pool, and say so in the sandbox report', () => {
    expect(manager.forkedSpecs).toEqual(['python3']);
    expect(manager.sandboxReport.join('\n')).toMatch(/fork-server for "python3": zygote pid \d+/);
    for (const k of [a, b]) expect(cmdline(zygoteOf(k))).toContain('runcell-zygote');
    expect(zygoteOf(a)).toBe(zygoteOf(b));
  });

  it('run code, draw matplotlib PNGs and answer input()', async () => {
    expect(await py(a, 'print(1+1)')).toBe('2');
    const r = await run(a, 'import matplotlib.pyplot as plt\nplt.plot([1, 2, 3])\nplt.show()');
    const d = r.messages.find((m) => m.header.msg_type === 'display_data');
    const png = (d?.content.data as Record<string, string> | undefined)?.['image/png'];
    expect(
      Buffer.from(png ?? '', 'base64')
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    const i = await run(a, 'name = input("who? ")\nprint("hi", name)', 'runcell');
    expect(i.types).toContain('input_request');
    expect(i.stdout).toBe('hi runcell\n');
  });

  it('each run niced below the server, unable to raise their priority back', async () => {
    const out = await py(
      a,
      'import errno, os\ntry:\n    os.setpriority(os.PRIO_PROCESS, 0, 0)\n    r = "raised"\nexcept OSError as e:\n    r = errno.errorcode[e.errno]\nprint(os.nice(0), r)',
    );
    expect(out).toBe(`${getPriority() + 10} EACCES`);
  });

  it('each run as their own uid with no capabilities, no_new_privs and seccomp', async () => {
    const ua = (a as LocalKernel).uid as number;
    const ub = (b as LocalKernel).uid as number;
    expect(ua).toBeGreaterThanOrEqual(LO);
    expect(ua).not.toBe(ub);
    const out = await py(
      a,
      'import os\nst = dict(l.split(":\\t", 1) for l in open("/proc/self/status").read().splitlines())\n' +
        'print(os.getuid(), os.getgid(), os.getgroups(), *(st[k].strip() for k in ("CapInh", "CapPrm", "CapEff", "CapBnd", "CapAmb", "NoNewPrivs", "Seccomp")))',
    );
    expect(out).toBe(
      `${ua} ${ua} [] 0000000000000000 0000000000000000 0000000000000000 0000000000000000 0000000000000000 1 2`,
    );
  });

  it('see only lo, none of the server files or env, and only their own processes', async () => {
    const cwd = process.cwd();
    const out = await py(
      a,
      `import os, socket\nprint([n for _, n in socket.if_nameindex()])\n` +
        `for p in [${JSON.stringify(`${cwd}/package.json`)}, "/etc/shadow", "/root", "/run/rc-t${SLOT}"]:\n    print(p, os.path.exists(p))\n` +
        'env = "".join(open(f"/proc/{p}/environ").read() for p in ["self", "1"])\n' +
        'print("env", "RUNCELL_TEST_SECRET" in env or "RUNCELL_TEST_SECRET" in os.environ)\n' +
        'print(sorted(int(p) for p in os.listdir("/proc") if p.isdigit()) == sorted({1, 2, os.getpid()}))\n' +
        'print(sorted(os.listdir("/run")))',
    );
    expect(out.split('\n')).toEqual([
      "['lo']",
      `${cwd}/package.json False`,
      '/etc/shadow False',
      '/root False',
      `/run/rc-t${SLOT} False`,
      'env False',
      'True',
      // runcell: the start-up hooks (sandbox/hooks.ts), read-only.
      "['conn', 'kernel', 'runcell']",
    ]);
  });

  it("cannot see, signal or ptrace the zygote or another kernel, or read another kernel's key", async () => {
    const zygote = zygoteOf(a);
    const other = (b as LocalKernel).pid as number;
    const out = await py(
      a,
      `import ctypes, errno, os, signal\nlibc = ctypes.CDLL(None, use_errno=True)\n` +
        `for pid in (${zygote}, ${other}):\n` +
        '    print(os.path.exists(f"/proc/{pid}"), end=" ")\n' +
        '    try:\n        os.kill(pid, signal.SIGKILL); print("KILLED", end=" ")\n' +
        '    except OSError as e: print(errno.errorcode[e.errno], end=" ")\n' +
        '    r = libc.ptrace(16, pid, 0, 0)\n    print(r, errno.errorcode[ctypes.get_errno()])\n' +
        'print(len(os.listdir("/run/kernel")) > 0, sorted(os.listdir("/run/conn")))',
    );
    const lines = out.split('\n');
    // A pid number inside the kernel's pid namespace is not the host pid; whatever it names there, it
    // is not the zygote or the other kernel, and ptrace is refused by seccomp either way.
    for (const l of lines.slice(0, 2)) expect(l).toMatch(/^(False ESRCH|True EPERM) -1 EPERM$/);
    expect(lines[2]).toBe("True ['kernel.json']");
    expect(ppid(other)).toBeGreaterThan(0); // still alive
    expect(cmdline(zygote)).toContain('runcell-zygote');
    // The key in a's connection file is not b's.
    const key = async (k: Kernel) =>
      py(k, 'import json; print(json.load(open("/run/conn/kernel.json"))["key"])');
    const [ka, kb] = await Promise.all([key(a), key(b)]);
    expect(ka).toMatch(/^[0-9a-f]{64}$/);
    expect(ka).not.toBe(kb);
  });

  it('have their own random state', async () => {
    const code = 'import random, numpy\nprint(random.random(), numpy.random.random())';
    const [ra, rb] = await Promise.all([py(a, code), py(b, code)]);
    expect(ra.split(' ')).toHaveLength(2);
    const [x1, y1] = ra.split(' ');
    const [x2, y2] = rb.split(' ');
    expect(x1).not.toBe(x2);
    expect(y1).not.toBe(y2);
  });

  it('contain a fork bomb at RLIMIT_NPROC, and destroy leaves no process', async () => {
    const k = await manager.start();
    const uid = (k as LocalKernel).uid as number;
    const out = await py(
      k,
      'import os, time, errno\nn = 0\ntry:\n    while True:\n        if os.fork() == 0:\n            time.sleep(60)\n            os._exit(0)\n        n += 1\n' +
        'except OSError as e:\n    print("blocked", n, errno.errorcode[e.errno])',
    );
    const [, n, err] = /blocked (\d+) (\w+)/.exec(out) ?? [];
    expect(err).toBe('EAGAIN');
    expect(Number(n)).toBeLessThan(64);
    expect(Number(n)).toBeGreaterThan(40);
    expect(pidsOfUids(uid, uid).length).toBeGreaterThan(40);
    await k.shutdown();
    expect(pidsOfUids(uid, uid)).toEqual([]);
  });

  it('contain a memory bomb and say the memory limit was reached', async () => {
    const k = await manager.start();
    const dead = new Promise<string>((r) => k.once('dead', r));
    void run(k, "x = []\nwhile True:\n    x.append(b'x' * (8 << 20))").catch(() => {});
    expect(await dead).toBe('memory limit of 256 MiB reached');
  });
});

describe('the zygote', () => {
  it('reports the exit status of a kernel it forked', async () => {
    const k = await manager.start();
    const dead = new Promise<string>((r) => k.once('dead', r));
    void run(k, 'import os; os._exit(3)').catch(() => {});
    expect(await dead).toBe('the kernel process exited with code 3');
  });

  it('is restarted when killed, with a log line; kernels start plain meanwhile, then forked again', async () => {
    const zygote = zygoteOf(a);
    process.kill(zygote, 'SIGKILL');
    await waitFor(() => logLines.some((l) => l.includes('fork-server zygote died')), 5000, 'log line');
    // Kernels forked before keep working.
    expect(await py(a, 'print(6*7)')).toBe('42');
    await waitFor(() => logLines.some((l) => l.includes('fork-server zygote restarted')), 30_000, 'restart');
    const pids = new Set(readdirSync('/proc'));
    expect(pids.has(String(zygote))).toBe(false);
    // Pool kernels started while it was down may be plain; a fresh start after the restart is forked.
    let k: Kernel | undefined;
    for (let i = 0; i < 4; i++) {
      k = await manager.start();
      if (cmdline(zygoteOf(k)).includes('runcell-zygote')) break;
      await k.shutdown();
      k = undefined;
    }
    expect(k).toBeDefined();
    if (k) {
      expect(zygoteOf(k)).not.toBe(zygote);
      expect(await py(k, 'print(1+1)')).toBe('2');
      await k.shutdown();
    }
  });
});
