// Remote kernels on two real jupyter-server processes on 127.0.0.1 (plain ipykernels, unsandboxed):
// placement by free capacity, execute/interrupt/restart, a gateway stopped mid-test (its kernels die
// with a reason, it is marked down, new kernels go elsewhere) and started again (marked up); and one
// end-to-end check through the server that a remote kernel looks like a local one.
import { type ChildProcess, spawn } from 'node:child_process';
import { chownSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { resolveConfig } from '../../kernel-manager/config.js';
import { type Kernel, type KernelManager, KernelManagerError } from '../../kernel-manager/index.js';
import type { RemoteKernel } from '../../kernel-manager/providers/remote-kernel.js';
import { kernelManagerConfig, loadConfig } from '../../server/config.js';
import { newKernel, RawClient, startServer } from '../server/helpers.js';
import { run, startRun, testManager } from './helpers.js';

const TOKEN = 'gw-token-0123456789';
/** jupyter-server refuses to run as root, and its kernels are unsandboxed: both run as nobody. */
const NOBODY = 65_534;

interface JupyterServer {
  url: string;
  port: number;
  dir: string;
  proc: ChildProcess | undefined;
}

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => resolve(port));
    });
  });
}

async function launch(js: JupyterServer): Promise<void> {
  const env = {
    PATH: process.env.PATH ?? '/usr/bin:/bin',
    HOME: js.dir,
    JUPYTER_CONFIG_DIR: join(js.dir, 'config'),
    JUPYTER_DATA_DIR: join(js.dir, 'data'),
    JUPYTER_RUNTIME_DIR: join(js.dir, 'runtime'),
  };
  js.proc = spawn(
    '/usr/bin/python3',
    [
      '-m',
      'jupyter_server',
      `--ServerApp.token=${TOKEN}`,
      `--ServerApp.port=${js.port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.ip=127.0.0.1',
      '--ServerApp.open_browser=False',
      `--ServerApp.root_dir=${join(js.dir, 'root')}`,
    ],
    {
      env,
      uid: NOBODY,
      gid: NOBODY,
      stdio: ['ignore', 'ignore', process.env.RUNCELL_TEST_LOG ? 'inherit' : 'ignore'],
    },
  );
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (js.proc.exitCode !== null) throw new Error(`jupyter-server exited with ${js.proc.exitCode}`);
    try {
      const r = await fetch(`${js.url}/api/status`, { headers: { authorization: `token ${TOKEN}` } });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('jupyter-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

async function stop(js: JupyterServer): Promise<void> {
  const p = js.proc;
  js.proc = undefined;
  if (!p || p.exitCode !== null || p.signalCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  p.kill('SIGTERM');
  const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
  await exited;
  clearTimeout(t);
}

async function jupyterServer(): Promise<JupyterServer> {
  const dir = mkdtempSync(join(tmpdir(), 'runcell-gw-'));
  chownSync(dir, NOBODY, NOBODY);
  for (const d of ['config', 'data', 'runtime', 'root']) {
    mkdirSync(join(dir, d));
    chownSync(join(dir, d), NOBODY, NOBODY);
  }
  const port = await freePort();
  const js: JupyterServer = { url: `http://127.0.0.1:${port}`, port, dir, proc: undefined };
  await launch(js);
  return js;
}

async function until<T>(fn: () => T | undefined | false, ms: number, what: string): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = fn();
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

const servers: JupyterServer[] = [];
let a: JupyterServer;
let b: JupyterServer;

beforeAll(async () => {
  [a, b] = await Promise.all([jupyterServer(), jupyterServer()]);
  servers.push(a, b);
});

afterAll(async () => {
  await Promise.all(servers.map((s) => stop(s)));
  for (const s of servers) rmSync(s.dir, { recursive: true, force: true });
});

describe('remote kernels on two jupyter-servers', () => {
  let m: KernelManager;
  const kernels: Kernel[] = [];
  const gw = () => m.gateways();

  beforeAll(async () => {
    m = await testManager(47, {
      pool: { size: 0 },
      placement: 'remote',
      gatewayHealthIntervalMs: 300,
      gatewayReadmitMs: 3_000,
      gateways: [
        { url: a.url, token: TOKEN, capacity: 3 },
        { url: b.url, token: TOKEN, capacity: 2 },
      ],
    });
  });
  afterAll(async () => {
    await m?.close();
  });

  it('places kernels on the gateway with the most free capacity', async () => {
    for (let i = 0; i < 3; i++) kernels.push(await m.start(undefined, { owner: 'o' }));
    expect(gw().map((g) => g.kernels)).toEqual([2, 1]);
    expect(gw().every((g) => g.up)).toBe(true);
    expect(m.list()).toHaveLength(3);
    const k = kernels[0] as RemoteKernel;
    expect(m.get(k.id)).toBe(k);
    expect(k.owner).toBe('o');
    expect(k.state).toBe('idle');
    expect(k.info?.implementation).toBe('ipython');
  });

  it('executes: a result, stream output and an error', async () => {
    const k = kernels[0] as Kernel;
    const r = await run(k, '1+1');
    const result = r.messages.find((x) => x.header.msg_type === 'execute_result');
    expect(result?.content.data).toMatchObject({ 'text/plain': '2' });
    expect(r.reply?.content.status).toBe('ok');
    expect((await run(k, 'print("hello")')).stdout).toBe('hello\n');
    const e = await run(k, '1/0');
    expect(e.reply?.content.status).toBe('error');
    expect(e.messages.find((x) => x.header.msg_type === 'error')?.content.ename).toBe('ZeroDivisionError');
    expect(r.messages.every((x) => x.channel === 'iopub' || x.channel === 'shell')).toBe(true);
  });

  it('refuses work-dir files for remote kernels', async () => {
    const k = kernels[0] as Kernel;
    expect(k.files.list()).toEqual([]);
    expect(() => k.files.read('a.txt', 100)).toThrow(/not available for remote kernels/);
    await expect(k.files.write('a.txt', Buffer.from('x'), 100)).rejects.toMatchObject({
      code: 'FILE_REFUSED',
    });
  });

  it('interrupts a running execution', async () => {
    const k = kernels[1] as Kernel;
    // Interrupted once the code runs (its first output), not when the kernel says busy: a SIGINT that
    // lands before the code starts is caught by ipykernel itself and lost.
    const { out, done } = startRun(
      k,
      'import time\nprint("running", flush=True)\nfor _ in range(300): time.sleep(0.1)',
    );
    await until(() => out.stdout.includes('running'), 10_000, 'the code running');
    await k.interrupt();
    const r = await done;
    expect(r.reply?.content.ename).toBe('KeyboardInterrupt');
    expect((await run(k, '2+3')).reply?.content.status).toBe('ok');
  });

  it('restarts: same id, fresh interpreter', async () => {
    const k = kernels[1] as Kernel;
    await run(k, 'x = 41');
    let restarted = false;
    k.once('restarted', () => {
      restarted = true;
    });
    await k.restart();
    expect(restarted).toBe(true);
    expect(k.state).toBe('idle');
    expect(m.get(k.id)).toBe(k);
    const r = await run(k, 'x');
    expect(r.messages.find((x) => x.header.msg_type === 'error')?.content.ename).toBe('NameError');
  });

  it('joins a second restart asked for during the first: both succeed, one restart', async () => {
    const k = kernels[1] as Kernel;
    await run(k, 'y = 1');
    let restarted = 0;
    k.on('restarted', () => restarted++);
    const first = k.restart();
    const second = k.restart();
    expect(await Promise.allSettled([first, second])).toEqual([
      { status: 'fulfilled', value: undefined },
      { status: 'fulfilled', value: undefined },
    ]);
    expect(restarted).toBe(1);
    expect(k.state).toBe('idle');
    const r = await run(k, 'y');
    expect(r.messages.find((x) => x.header.msg_type === 'error')?.content.ename).toBe('NameError');
  });

  it('a stopped gateway: its kernels die with a reason, it is marked down, new kernels go elsewhere', async () => {
    const onB = kernels.filter((k) => (k as RemoteKernel).gateway === b.url);
    expect(onB).toHaveLength(1);
    const victim = onB[0] as Kernel;
    const died = new Promise<string>((r) => victim.once('dead', r));
    await stop(b);
    const reason = await died;
    expect(reason).toMatch(
      /^the kernel's gateway (stopped answering|is down)$|^the kernel is gone from its gateway$/,
    );
    expect(victim.reason).toBe(reason);
    expect(victim.state).toBe('dead');
    expect(m.get(victim.id)).toBeUndefined();
    await until(() => gw()[1]?.up === false, 10_000, 'gateway b marked down');
    expect(gw()[1]?.failures).toBeGreaterThanOrEqual(3);
    // b has more free capacity (2 vs 1) but is down: the new kernel goes to a.
    const k = await m.start();
    kernels.push(k);
    expect((k as RemoteKernel).gateway).toBe(a.url);
    expect((await run(k, '6*7')).reply?.content.status).toBe('ok');
    // a is now full and b is down: no room anywhere.
    await expect(m.start()).rejects.toMatchObject({ code: 'CAPACITY' });
    // A name no gateway offers is refused here, never sent on (it would count as a gateway failure).
    await expect(m.start('no-such-spec')).rejects.toMatchObject({ code: 'NO_SUCH_SPEC' });
    // The kernels on a were not touched.
    expect((await run(kernels[0] as Kernel, '1')).reply?.content.status).toBe('ok');
  });

  it('a gateway that answers again is marked up and used', async () => {
    await launch(b);
    // Answering once is not enough: it must keep answering for gatewayReadmitMs to be re-admitted.
    await until(() => gw()[1]?.healthyForMs !== undefined, 10_000, 'gateway b answering');
    expect(gw()[1]?.up).toBe(false);
    await until(() => gw()[1]?.up === true, 10_000, 'gateway b marked up');
    const k = await m.start();
    expect((k as RemoteKernel).gateway).toBe(b.url);
    expect((await run(k, '1+1')).reply?.content.status).toBe('ok');
    await k.shutdown();
    expect(k.state).toBe('dead');
  });
});

describe('failover and limits', () => {
  it('retries a failed start on the next gateway', async () => {
    const closed = await freePort();
    const m = await testManager(48, {
      pool: { size: 0 },
      placement: 'remote',
      gateways: [
        { url: `http://127.0.0.1:${closed}`, token: TOKEN, capacity: 10 },
        { url: a.url, token: TOKEN, capacity: 1 },
      ],
      limits: { executionWallMs: 1_000, interruptGraceMs: 1_000 },
    });
    try {
      const k = await m.start();
      expect((k as RemoteKernel).gateway).toBe(a.url);
      expect(m.gateways()[0]?.failures).toBeGreaterThanOrEqual(1);
      // The same per-execution wall-clock limit as a local kernel: interrupted at the limit.
      const limits: string[] = [];
      k.on('limit', (l: { kind: string }) => limits.push(l.kind));
      const r = await run(k, 'import time\ntime.sleep(20)');
      expect(limits).toEqual(['wall']);
      expect(r.reply?.content.ename).toBe('KeyboardInterrupt');
    } finally {
      await m.close();
    }
  });

  it('remote-first falls back to a local kernel when no gateway can start one', async () => {
    const closed = await freePort();
    const m = await testManager(49, {
      pool: { size: 0 },
      placement: 'remote-first',
      gateways: [{ url: `http://127.0.0.1:${closed}`, token: TOKEN, capacity: 1 }],
    });
    try {
      const k = await m.start();
      expect(k.constructor.name).toBe('LocalKernel');
      expect((await run(k, '1+1')).reply?.content.status).toBe('ok');
    } finally {
      await m.close();
    }
  });

  it('placement remote without a reachable gateway fails to start', async () => {
    const closed = await freePort();
    const m = await testManager(49, {
      pool: { size: 0 },
      placement: 'remote',
      gateways: [{ url: `http://127.0.0.1:${closed}`, token: TOKEN, capacity: 1 }],
    });
    try {
      const e = await m.start().catch((x: unknown) => x);
      expect(e).toBeInstanceOf(KernelManagerError);
      expect((e as KernelManagerError).code).toBe('START_FAILED');
    } finally {
      await m.close();
    }
  });
});

describe('server settings', () => {
  it('off by default; RUNCELL_GATEWAYS and RUNCELL_PLACEMENT are parsed, checked and passed on', () => {
    // Unset, they are not passed on: what kernel-manager then uses is its own default.
    const off = resolveConfig(kernelManagerConfig(loadConfig({})));
    expect(off.gateways).toEqual([]);
    expect(off.placement).toBe('local');
    const c = loadConfig({
      RUNCELL_PLACEMENT: 'remote-first',
      RUNCELL_GATEWAYS:
        '[{"url":"http://eg:8888","token":"t","capacity":5,"specs":["python3"]},{"url":"https://b","capacity":1}]',
    });
    expect(kernelManagerConfig(c)).toMatchObject({
      placement: 'remote-first',
      gateways: [
        { url: 'http://eg:8888', token: 't', capacity: 5, specs: ['python3'] },
        { url: 'https://b', token: '', capacity: 1 },
      ],
    });
    for (const bad of ['{', '{}', '[{"url":"eg:8888","capacity":1}]', '[{"url":"http://eg","capacity":0}]']) {
      expect(() => loadConfig({ RUNCELL_GATEWAYS: bad }), bad).toThrow(/RUNCELL_GATEWAYS/);
    }
    expect(() => loadConfig({ RUNCELL_PLACEMENT: 'cloud' })).toThrow(/RUNCELL_PLACEMENT/);
  });
});

describe('through the server', () => {
  it('a remote kernel looks like a local one to a websocket client', async () => {
    const s = await startServer(47, {
      poolSize: 0,
      placement: 'remote',
      gateways: [{ url: a.url, token: TOKEN, capacity: 2 }],
    });
    try {
      const id = await newKernel(s);
      expect((s.manager.get(id) as RemoteKernel).gateway).toBe(a.url);
      const c = await RawClient.open(s, id);
      const r = await c.run('print(1+1)');
      expect(r.reply.content.status).toBe('ok');
      expect(r.stdout).toBe('2\n');
      expect(r.all.some((x) => x.header.msg_type === 'status' && x.content.execution_state === 'busy')).toBe(
        true,
      );
      c.close();
    } finally {
      await s.stop();
    }
  });
});
