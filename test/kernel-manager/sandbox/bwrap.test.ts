// What a kernel sees: the minimal view of the system, its environment, network, fds and writable space.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { buildBwrapArgs, kernelArgv, kernelEnv, systemView } from '../../../kernel-manager/sandbox/bwrap.js';
import { pyJson, runPy, type TestSandbox, testSandbox } from './helpers.js';

const MARKER = 'RUNCELL_TEST_SECRET_7f3a';
let t: TestSandbox;

beforeAll(async () => {
  process.env[MARKER] = 'server-only-value';
  t = await testSandbox(1_710_000_100);
});
afterAll(async () => {
  delete process.env[MARKER];
  await t.close();
});

describe('bubblewrap arguments', () => {
  const fds = { connection: 4, info: 5, passwd: 6, group: 7, hosts: 8, nsswitch: 9, seccomp: 10 };
  const base = {
    uid: 1,
    runtimeDir: '/run/x/1',
    tmpBytes: 2 ** 20,
    homeBytes: 2 ** 20,
    shmBytes: 2 ** 20,
    view: systemView(),
    env: {},
    fds,
  };

  it('sizes each tmpfs before creating it and remounts the root read-only last', () => {
    const a = buildBwrapArgs(base);
    for (const dir of ['/tmp', '/home/kernel', '/dev/shm']) {
      const i = a.findIndex((x, j) => x === dir && a[j - 1] === '--tmpfs');
      expect(a.slice(i - 3, i - 1)).toEqual(['--size', String(2 ** 20)]);
    }
    expect(a.slice(-2)).toEqual(['--remount-ro', '/']);
    expect(a).toContain('--disable-userns');
    expect(a).toContain('--unshare-all');
    expect(a).not.toContain('--share-net');
  });

  it('rejects NUL bytes and bad variable names instead of splitting arguments', () => {
    expect(() => buildBwrapArgs({ ...base, env: { A: 'x\0--bind' } })).toThrow(/NUL/);
    expect(() => kernelEnv({ 'A=B': '1' })).toThrow(/invalid environment variable/);
    expect(() => kernelArgv(['/usr/bin/python3', 'a\0b'])).toThrow(/NUL/);
    expect(() => kernelArgv([])).toThrow(/empty/);
  });

  it('forces HOME and PATH, keeps the caller env otherwise', () => {
    const env = kernelEnv({ PATH: '/evil', HOME: '/root', MPLBACKEND: 'agg', OMP_NUM_THREADS: '2' });
    expect(env).toMatchObject({
      PATH: '/usr/bin:/bin',
      HOME: '/home/kernel',
      MPLBACKEND: 'agg',
      OMP_NUM_THREADS: '2',
    });
  });

  it('substitutes {connection_file}', () => {
    expect(kernelArgv(['x', '-f', '{connection_file}'])).toEqual(['x', '-f', '/run/conn/kernel.json']);
  });
});

describe('inside the sandbox', () => {
  it('runs as the allocated uid with no capabilities, no groups and no_new_privs', async () => {
    const r = await pyJson<Record<string, string>>(
      t.sb,
      `import os
st = dict(l.split(':\\t', 1) for l in open('/proc/self/status').read().splitlines() if ':\\t' in l)
print(json.dumps({k: st[k].strip() for k in ('Uid', 'Gid', 'Groups', 'CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb', 'NoNewPrivs', 'Seccomp')}))`,
    );
    const u = String(r.uid);
    expect(r.json.Uid).toBe(`${u}\t${u}\t${u}\t${u}`);
    expect(r.json.Gid).toBe(`${u}\t${u}\t${u}\t${u}`);
    expect(r.json.Groups).toBe('');
    for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'])
      expect(r.json[k]).toBe('0000000000000000');
    expect(r.json.NoNewPrivs).toBe('1');
    expect(r.json.Seccomp).toBe('2');
    expect(r.uid).toBeGreaterThanOrEqual(t.config.uidRange[0]);
    expect(r.uid).toBeLessThanOrEqual(t.config.uidRange[1]);
  });

  it('has only lo, and cannot reach the host (127.0.0.1:5432) or the outside', async () => {
    const r = await pyJson<{ ifaces: string[]; local: string; outside: string }>(
      t.sb,
      `import socket
ifaces = [l.split(':')[0].strip() for l in open('/proc/net/dev').read().splitlines()[2:]]
def attempt(addr):
    s = socket.socket()
    s.settimeout(2)
    try:
        s.connect(addr)
        return 'connected'
    except OSError as e:
        return type(e).__name__
print(json.dumps({'ifaces': ifaces, 'local': attempt(('127.0.0.1', 5432)), 'outside': attempt(('1.1.1.1', 80))}))`,
    );
    expect(r.json.ifaces).toEqual(['lo']);
    expect(r.json.local).toBe('ConnectionRefusedError');
    expect(r.json.outside).not.toBe('connected');
  });

  it("sees nothing of the server's environment, in its own env or /proc/1/environ", async () => {
    const r = await pyJson<{ env: Record<string, string>; pid1env: string; pid1cmd: string }>(
      t.sb,
      `import os
print(json.dumps({'env': dict(os.environ), 'pid1env': open('/proc/1/environ', 'rb').read().decode(),
  'pid1cmd': open('/proc/1/cmdline', 'rb').read().decode()}))`,
      { KERNEL_VAR: 'from-spec' },
    );
    expect(JSON.stringify(r.json)).not.toContain(MARKER);
    expect(r.json.pid1env).toBe('');
    // Options (env included) went through --args FD: only the kernel's own argv is on the command line.
    expect(r.json.pid1cmd).not.toContain('KERNEL_VAR');
    expect(Object.keys(r.json.env).sort()).toEqual(
      [
        'HOME',
        'KERNEL_VAR',
        'LANG',
        'MKL_NUM_THREADS',
        'OMP_NUM_THREADS',
        'OPENBLAS_NUM_THREADS',
        'PATH',
        'PWD',
        'USER',
      ].sort(),
    );
    expect(r.json.env.HOME).toBe('/home/kernel');
  });

  it("cannot see the server's files, secrets, database socket or host config", async () => {
    const paths = [
      '/work',
      '/root',
      '/etc/shadow',
      '/etc/ssl/private',
      '/etc/npmrc',
      '/run/postgresql',
      '/var',
      import.meta.filename,
      new URL('../../../kernel-manager/sandbox/index.ts', import.meta.url).pathname,
      t.config.runtimeRoot,
    ];
    const r = await pyJson<{ exists: Record<string, boolean>; local: string[]; nm: string[]; etc: string[] }>(
      t.sb,
      `import os, sys
paths = ${JSON.stringify(paths)}
print(json.dumps({'exists': {p: os.path.exists(p) for p in paths}, 'local': os.listdir('/usr/local'),
  'nm': os.listdir('/usr/lib/node_modules') if os.path.isdir('/usr/lib/node_modules') else [],
  'etc': sorted(os.listdir('/etc'))}))`,
    );
    for (const p of paths) expect(r.json.exists[p], p).toBe(false);
    expect(r.json.local).toEqual([]);
    expect(r.json.nm).toEqual([]);
    expect(r.json.etc).not.toContain('shadow');
    expect(r.json.etc).toContain('passwd');
  });

  it('names the kernel user in a generated /etc/passwd', async () => {
    const r = await pyJson<{ name: string; home: string; passwd: string }>(
      t.sb,
      `import os, pwd
p = pwd.getpwuid(os.getuid())
print(json.dumps({'name': p.pw_name, 'home': p.pw_dir, 'passwd': open('/etc/passwd').read()}))`,
    );
    expect(r.json).toMatchObject({ name: 'kernel', home: '/home/kernel' });
    expect(r.json.passwd.split('\n').filter(Boolean)).toHaveLength(3);
  });

  it('holds no fds beyond stdio', async () => {
    const r = await pyJson<string[]>(
      t.sb,
      `import os
fds = os.listdir('/proc/self/fd')
print(json.dumps([f for f in fds if os.path.exists('/proc/self/fd/' + f)]))`,
    );
    expect(r.json.sort()).toEqual(['0', '1', '2']);
  });

  it('has a read-only root: only /tmp, home, /dev/shm and its runtime dir are writable', async () => {
    const r = await pyJson<Record<string, string>>(
      t.sb,
      `import errno
out = {}
for p in ['/x', '/etc/x', '/usr/x', '/usr/local/x', '/run/x', '/etc/passwd', '/proc/x', '/tmp/x', '/home/kernel/x', '/dev/shm/x', '/run/kernel/x', '/run/conn/kernel.json']:
    try:
        with open(p, 'a') as f:
            f.write('x')
        out[p] = 'ok'
    except OSError as e:
        out[p] = errno.errorcode[e.errno]
print(json.dumps(out))`,
    );
    for (const p of ['/x', '/etc/x', '/usr/x', '/usr/local/x', '/run/x', '/etc/passwd', '/proc/x']) {
      expect(['EROFS', 'EACCES', 'EPERM', 'ENOENT']).toContain(r.json[p]);
    }
    for (const p of ['/tmp/x', '/home/kernel/x', '/dev/shm/x', '/run/kernel/x', '/run/conn/kernel.json']) {
      expect(r.json[p], p).toBe('ok');
    }
  });

  it('caps /tmp, home and /dev/shm at their configured sizes', async () => {
    const r = await pyJson<Record<string, string>>(
      t.sb,
      `import errno
out = {}
for d in ['/tmp', '/home/kernel', '/dev/shm']:
    n = 0
    try:
        with open(d + '/fill', 'wb') as f:
            for i in range(8):  # 8 MiB, more than any cap; one file stays below RLIMIT_FSIZE per chunk
                f.write(b'x' * (1 << 20))
                f.flush()
                n += 1
        out[d] = 'no limit'
    except OSError as e:
        out[d] = errno.errorcode[e.errno] + ':' + str(n)
print(json.dumps(out))`,
    );
    // /dev/shm is 2 MiB, /tmp and home 4 MiB; EFBIG would mean RLIMIT_FSIZE (3 MiB) stopped it first.
    expect(r.json['/dev/shm']).toMatch(/^ENOSPC:[12]$/);
    expect(r.json['/tmp']).toMatch(/^(ENOSPC|EFBIG):[34]$/);
    expect(r.json['/home/kernel']).toMatch(/^(ENOSPC|EFBIG):[34]$/);
  });

  it('runs numpy and matplotlib from Debian packages', async () => {
    const r = await pyJson<{ sum: number; png: number }>(
      t.sb,
      `import io, numpy as np, matplotlib
matplotlib.use('Agg')
import matplotlib.pyplot as plt
plt.plot(np.arange(10))
b = io.BytesIO()
plt.savefig(b, format='png')
print(json.dumps({'sum': int(np.arange(10).sum()), 'png': len(b.getvalue())}))`,
    );
    expect(r.json.sum).toBe(45);
    expect(r.json.png).toBeGreaterThan(1000);
  });

  it('a failing kernel reports its exit code', async () => {
    const r = await runPy(t.sb, 'import sys; print("bye"); sys.exit(3)');
    expect(r.exit).toEqual({ code: 3, signal: null });
    expect(r.out).toContain('bye');
  });
});
