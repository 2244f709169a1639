// The fork-server's own checks: which specs it forks, the host-side isolation check, fail-closed set-up.
import { spawn } from 'node:child_process';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelManager } from '../../../kernel-manager/index.js';
import {
  createForkSandbox,
  createSandbox,
  defaultSandboxConfig,
  ForkSandbox,
  forkIncompatibility,
} from '../../../kernel-manager/sandbox/index.js';
import { verifyFork } from '../../../kernel-manager/sandbox/zygote.js';
import { pidsOfUids, testConfig } from '../helpers.js';
import { launchPy, type TestSandbox, testSandbox } from './helpers.js';

const SLOT = 21;
const LO = 61_000 + SLOT * 100;
const ipk = (argv0: string, ...extra: string[]) => ({
  name: 'py',
  argv: [argv0, '-m', 'ipykernel_launcher', '-f', '{connection_file}', ...extra],
  env: {},
});

let t: TestSandbox;
beforeAll(async () => {
  t = await testSandbox(LO);
});
afterAll(async () => {
  await t.close();
  expect(pidsOfUids(LO, LO + 99)).toEqual([]);
});

describe('forkIncompatibility', () => {
  it("forks Debian's python3 running ipykernel, and nothing else", () => {
    expect(forkIncompatibility(ipk('/usr/bin/python3'))).toBeUndefined();
    expect(forkIncompatibility(ipk('python3'))).toBeUndefined();
    expect(
      forkIncompatibility({
        ...ipk('python3'),
        argv: ['python3', '-m', 'ipykernel', '-f', '{connection_file}'],
      }),
    ).toBeUndefined();
    expect(forkIncompatibility(ipk('/usr/bin/python3', '--matplotlib=inline'))).toMatch(
      /not a plain ipykernel/,
    );
    expect(forkIncompatibility(ipk('/bin/sh'))).toMatch(/not \/usr\/bin\/python3/);
    expect(forkIncompatibility(ipk('/nonexistent/python3'))).toMatch(/not found/);
  });
});

describe('verifyFork', () => {
  it('rejects a process that is not inside the sandbox it claims', async () => {
    const p = await launchPy(t.sb, 'import time; time.sleep(30)');
    const outsider = spawn('/usr/bin/sleep', ['30']);
    try {
      expect(() => verifyFork(outsider.pid as number, p.pid as number, p.uid as number, true)).toThrow(
        /isolation check: .*uid\/gid.*CapPrm.*no_new_privs.*namespace differs/,
      );
      // The sandboxed process itself passes against itself.
      expect(() => verifyFork(p.pid as number, p.pid as number, p.uid as number, true)).not.toThrow();
    } finally {
      outsider.kill('SIGKILL');
      await p.destroy();
    }
  });
});

describe('creating a fork-server', () => {
  it('refuses without the bwrap sandbox, for a spec it cannot fork, or a bad module name', async () => {
    const none = await createSandbox({
      ...defaultSandboxConfig(),
      mode: 'none',
      runtimeRoot: `/run/rc-t${SLOT}n`,
    });
    await expect(createForkSandbox(none, ipk('/usr/bin/python3'), { preload: [] })).rejects.toThrow(
      /needs sandbox mode bwrap/,
    );
    await expect(createForkSandbox(t.sb, ipk('/bin/sh'), { preload: [] })).rejects.toThrow(/unavailable/);
    await expect(
      createForkSandbox(t.sb, ipk('/usr/bin/python3'), { preload: ['os; import evil'] }),
    ).rejects.toThrow(/not a module name/);
  });

  it('fails closed when the zygote cannot start (a module that does not import)', async () => {
    await expect(
      createForkSandbox(t.sb, ipk('/usr/bin/python3'), { preload: ['no_such_module_runcell'] }),
    ).rejects.toThrow(/zygote failed to start[\s\S]*no_such_module_runcell/);
  });

  it('a manager asked to fork a spec refuses to start when it cannot', async () => {
    await expect(
      KernelManager.create(
        testConfig(SLOT, {
          pool: { size: 0 },
          fork: { specs: ['python3'], preload: ['no_such_module_runcell'] },
        }),
      ),
    ).rejects.toThrow(/fork-server for kernelspec "python3" unavailable/);
    await expect(
      KernelManager.create(testConfig(SLOT, { pool: { size: 0 }, fork: { specs: ['nope'] } })),
    ).rejects.toThrow(/not available/);
    // 'auto' falls back to plain starts instead.
    const m = await KernelManager.create(
      testConfig(SLOT, { pool: { size: 0 }, fork: { specs: 'auto', preload: ['no_such_module_runcell'] } }),
      pino({ level: 'silent' }),
    );
    expect(m.forkedSpecs).toEqual([]);
    await m.close();
  });

  it('starts with a probe fork and stops its zygote on close', async () => {
    const fs = await createForkSandbox(t.sb, ipk('/usr/bin/python3'), { preload: [] });
    expect(fs).toBeInstanceOf(ForkSandbox);
    const pid = fs.zygotePid;
    expect(pid).toBeGreaterThan(0);
    await fs.close();
    expect(fs.zygotePid).toBe(0);
    expect(() => process.kill(pid, 0)).toThrow();
  });
});
