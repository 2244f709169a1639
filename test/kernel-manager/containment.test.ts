// What code inside a real sandboxed ipykernel cannot do.
import { readdirSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelManager } from '../../kernel-manager/index.js';
import type { Kernel } from '../../kernel-manager/types.js';
import { pidsOfUids, run, testManager } from './helpers.js';

const SLOT = 3;
let manager: KernelManager;
let a: Kernel;
let b: Kernel;

beforeAll(async () => {
  process.env.RUNCELL_TEST_SECRET = 'server-env-marker';
  manager = await testManager(SLOT, { pool: { size: 2 } });
  [a, b] = await Promise.all([manager.start(), manager.start()]);
});
afterAll(async () => {
  await manager?.close();
  expect(pidsOfUids(61_000 + SLOT * 100, 61_000 + SLOT * 100 + 99)).toEqual([]);
});

const py = async (k: Kernel, code: string) => (await run(k, code)).stdout.trim();

describe('containment inside a sandboxed kernel', () => {
  it('cannot open a TCP connection to Postgres on 127.0.0.1:5432', async () => {
    const out = await py(
      a,
      'import socket\ntry:\n    socket.create_connection(("127.0.0.1", 5432), timeout=2); print("CONNECTED")\nexcept OSError as e: print("refused", e.errno)',
    );
    expect(out).toMatch(/^refused/);
  });

  it('sees only the loopback interface', async () => {
    expect(await py(a, 'import socket; print([n for _, n in socket.if_nameindex()])')).toBe("['lo']");
  });

  it("cannot read the server's files, its environment or /etc/shadow", async () => {
    const cwd = process.cwd();
    const out = await py(
      a,
      `import os\nfor p in [${JSON.stringify(`${cwd}/package.json`)}, "/etc/shadow", "/root"]:\n    print(p, os.path.exists(p))\nprint("env", "RUNCELL_TEST_SECRET" in open("/proc/1/environ").read() or "RUNCELL_TEST_SECRET" in os.environ)`,
    );
    expect(out).toBe(`${cwd}/package.json False\n/etc/shadow False\n/root False\nenv False`);
  });

  it("cannot see another kernel's runtime dir or connection key", async () => {
    const root = `/run/rc-t${SLOT}`;
    const dirs = readdirSync(root);
    expect(dirs.length).toBeGreaterThanOrEqual(2);
    const out = await py(
      a,
      `import os\nfor d in ${JSON.stringify(dirs)}:\n    print(os.path.exists(${JSON.stringify(root)} + "/" + d))\nprint(sorted(os.listdir("/run")))`,
    );
    expect(
      out
        .split('\n')
        .slice(0, -1)
        .every((l) => l === 'False'),
    ).toBe(true);
    expect(out.split('\n').at(-1)).not.toContain(b.id);
  });

  it('runs as an unprivileged uid of its own with no capabilities', async () => {
    const out = await py(
      a,
      'import os\nprint(os.getuid() != 0, [l.split()[1] for l in open("/proc/self/status") if l.startswith("CapEff")][0])',
    );
    expect(out).toBe('True 0000000000000000');
    const ua = await py(a, 'import os; print(os.getuid())');
    const ub = await py(b, 'import os; print(os.getuid())');
    expect(ua).not.toBe(ub);
  });

  it('contains a fork bomb with a clear error, and the kernel lives on', async () => {
    const r = await run(
      a,
      'import os\nkids = []\ntry:\n    while True:\n        pid = os.fork()\n        if pid == 0:\n            import time; time.sleep(30); os._exit(0)\n        kids.append(pid)\nexcept OSError as e:\n    print("fork failed after", len(kids), e.strerror)\nfor k in kids: os.kill(k, 9)\nfor k in kids: os.waitpid(k, 0)',
    );
    expect(r.stdout).toMatch(/fork failed after \d+ Resource temporarily unavailable/);
    expect(Number(/after (\d+)/.exec(r.stdout)?.[1])).toBeLessThan(600);
    expect(await py(a, 'print("still here")')).toBe('still here');
  });

  it('contains a memory bomb with a clear reason', async () => {
    const k = await manager.start();
    const outcome = await run(k, 'blocks = []\nwhile True:\n    blocks.append(bytearray(64 * 2**20))').then(
      (r) => r.messages.find((m) => m.header.msg_type === 'error')?.content.ename,
      (e: Error) => e.message,
    );
    // Either the address-space limit raises MemoryError, or the memory cgroup kills the kernel and
    // every client is told why.
    if (outcome === 'MemoryError') expect(k.state).toBe('idle');
    else {
      expect(outcome).toMatch(/memory limit of \d+ MiB reached/);
      expect(k.state).toBe('dead');
      expect(k.reason).toMatch(/memory limit/);
    }
    expect(await py(a, 'print("neighbour fine")')).toBe('neighbour fine');
  });
});
