// Faults: a kernel killed with SIGKILL mid-execution, Postgres gone for 10 s under load (a TCP proxy in
// front of the machine's Postgres is stopped, never Postgres itself: postgres.test.ts stops the real
// one), the server process killed with SIGKILL and restarted on the same data (permalinks and uploads;
// sigkill.test.ts has the jobs and the reclaim), and the disk under RUNCELL_DATA_DIR full (a small
// tmpfs). Each ends with the leak checks of ./helpers.ts. (Uid slots 53-55 of the security band.)
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { mkdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { pino } from 'pino';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { KernelManager } from '../../kernel-manager/index.js';
import { buildApp } from '../../server/app.js';
import { kernelManagerConfig, loadConfig, storeOptions } from '../../server/config.js';
import { openStore } from '../../server/store/db.js';
import {
  api,
  auth,
  type Json,
  processesOf,
  RawClient,
  record,
  startSecurityServer,
  Tenant,
  TOKEN,
} from '../security/helpers.js';
import { postgresBackend } from '../server/store/helpers.js';
import { TcpProxy } from '../server/store/tcp-proxy.js';
import { SUITE_KERNELS } from '../suite-kernels.js';
import { blockCgroups, blockMounts, leftovers, NOTHING } from './helpers.js';

const cleanups: (() => Promise<unknown> | unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('a kernel killed with SIGKILL mid-execution', () => {
  it('tells every websocket and long-poll client, with the same reason', async () => {
    const s = await startSecurityServer(53, { poolSize: 1, maxKernels: 3 }, {});
    cleanups.push(() => s.stop());
    const k = await Tenant.open(s);
    const b = await RawClient.open(s, k.id, { protocol: 'v1.kernel.websocket.jupyter.org' });
    const sid = randomUUID();
    const first = await api(s, 'GET', `/api/kernels/${k.id}/messages?session_id=${sid}&timeout=0`);
    expect(first.status).toBe(200);
    const poll = api(
      s,
      'GET',
      `/api/kernels/${k.id}/messages?session_id=${sid}&after=${first.body.next}&timeout=20`,
    );
    k.client.send(
      (await import('../server/helpers.js')).executeMsg('while True:\n    pass', k.client.session),
    );
    await k.client.next((m) => m.header.msg_type === 'status' && m.content.execution_state === 'busy');
    const pids = processesOf(k.uid).filter((l) => l.endsWith('python3'));
    expect(pids.length).toBeGreaterThan(0);
    const t0 = Date.now();
    for (const p of pids) process.kill(Number(p.split(' ')[0]), 'SIGKILL');
    const dead = (c: RawClient) =>
      c.next((m) => m.header.msg_type === 'status' && m.content.execution_state === 'dead', 20_000);
    const [da, db] = await Promise.all([dead(k.client), dead(b)]);
    let polled = await poll;
    const seen: Json[] = [...polled.body.messages];
    while (!polled.body.dead && Date.now() - t0 < 20_000) {
      polled = await api(
        s,
        'GET',
        `/api/kernels/${k.id}/messages?session_id=${sid}&after=${polled.body.next}&timeout=3`,
      );
      seen.push(...polled.body.messages);
    }
    expect(da.content.reason).toMatch(/SIGKILL|killed|died|exit/i);
    expect(db.content.reason).toBe(da.content.reason);
    expect(polled.body.dead ?? seen.find((m) => m.content?.execution_state === 'dead')).toBeTruthy();
    expect((await k.client.closed).code).toBe(1000);
    expect((await k.model()).execution_state).toBe('dead');
    await k.destroy();
    // Its sandbox is gone with it: no runtime mount, no cgroup of its uid.
    expect(blockMounts(53).filter((m) => m.endsWith(`/${k.uid}`))).toEqual([]);
    expect(blockCgroups(53).filter((c) => c.endsWith(`/u${k.uid}`))).toEqual([]);
  });
});

describe('Postgres stopped for 10 s under load', () => {
  it('answers 503 during, recovers fully after, and loses no acknowledged write', async () => {
    const db = await postgresBackend.create();
    cleanups.push(() => db.cleanup());
    const { proxy, url } = await TcpProxy.toDatabase(db.options.databaseUrl as string);
    cleanups.push(() => proxy.stop());
    const logger = pino({ level: 'silent' });
    const config = loadConfig(
      {},
      {
        port: 0,
        logLevel: 'silent',
        poolSize: 0,
        maxKernels: 1,
        ...SUITE_KERNELS,
        tokens: [TOKEN],
        sandboxUidRange: [70_300, 70_399],
        sandboxRuntimeRoot: '/run/rc-s53b',
        databaseUrl: url,
        dbConnectTimeoutMs: 1_000,
      },
    );
    const manager = await KernelManager.create(kernelManagerConfig(config), logger);
    const store = await openStore(storeOptions(config, logger));
    const app = await buildApp({ config, manager, logger, store });
    cleanups.push(async () => {
      await app.close();
      await manager.close();
      await store.close();
    });
    const acked = new Map<string, string>();
    const statuses = new Map<number, number>();
    let running = true;
    const writer = async (w: number) => {
      for (let i = 0; running; i++) {
        const code = `print(${w}, ${i})`;
        const r = await app.app.inject({
          method: 'POST',
          url: '/api/permalinks',
          headers: auth,
          payload: { code, kernel: 'python3' },
        });
        statuses.set(r.statusCode, (statuses.get(r.statusCode) ?? 0) + 1);
        if (r.statusCode === 201 || r.statusCode === 200) acked.set(r.json().id, code);
        else {
          expect(r.statusCode).toBe(503);
          expect(r.json().code).toBe('RUNCELL_ERR_STORE_UNAVAILABLE');
          await new Promise((res) => setTimeout(res, 100));
        }
      }
    };
    const writers = [0, 1, 2, 3].map(writer);
    // However this test ends, the writers stop before the app closes (no inject after close).
    cleanups.push(async () => {
      running = false;
      await Promise.allSettled(writers);
    });
    // Writes are going through before the outage (a fixed second was not always enough on a loaded
    // machine: wait for the first acknowledgements, bounded only against a hang).
    const upFrom = Date.now();
    while (acked.size < 4 && Date.now() - upFrom < 30_000) await new Promise((r) => setTimeout(r, 50));
    expect(acked.size).toBeGreaterThan(0);
    await proxy.stop();
    await new Promise((r) => setTimeout(r, 10_000));
    const duringDown = statuses.get(503) ?? 0;
    expect(duringDown).toBeGreaterThan(0);
    expect((await app.app.inject('/readyz')).statusCode).toBe(503);
    await proxy.start();
    const upAt = Date.now();
    const n0 = acked.size;
    while (acked.size === n0 && Date.now() - upAt < 45_000) await new Promise((r) => setTimeout(r, 100));
    expect(acked.size).toBeGreaterThan(n0);
    running = false;
    await Promise.all(writers);
    for (const [id, code] of acked) {
      const r = await app.app.inject({ url: `/api/permalinks/${id}`, headers: auth });
      expect(r.statusCode, id).toBe(200);
      expect(r.json().code).toBe(code);
    }
    expect([...statuses.keys()].every((c) => c < 500 || c === 503)).toBe(true);
  }, 120_000);
});

/** `npm start` as a child process on a given data dir and uid block. */
async function spawnServer(dataDir: string, slot: number): Promise<{ base: string; child: ChildProcess }> {
  const main = fileURLToPath(new URL('./server-process.ts', import.meta.url));
  const child = spawn(process.execPath, ['--import', 'tsx', main], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      RUNCELL_LOG_LEVEL: 'info',
      RUNCELL_TOKENS: TOKEN,
      RUNCELL_POOL_SIZE: '1',
      // The suite's kernel budget (test/suite-kernels.ts), through the environment.
      RUNCELL_FORK_SPECS: '',
      RUNCELL_KERNEL_PRELUDE: '',
      RUNCELL_POOL_MAX: '0',
      RUNCELL_DATA_DIR: dataDir,
      RUNCELL_SANDBOX_UID_RANGE: `${65_000 + slot * 100}-${65_000 + slot * 100 + 99}`,
      RUNCELL_SANDBOX_RUNTIME_ROOT: `/run/rc-s${slot}`,
    },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  child.stdout?.on('data', (d) => {
    out += d;
  });
  child.stderr?.on('data', (d) => {
    out += d;
  });
  const exited = new Promise((r) => child.once('exit', r));
  cleanups.push(() => child.kill('SIGKILL'));
  const base = await new Promise<string>((resolve, reject) => {
    const t = setInterval(() => {
      const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
      if (m?.[1]) {
        clearInterval(t);
        resolve(m[1]);
      }
    }, 20);
    void exited.then(() => {
      clearInterval(t);
      reject(new Error(`exited early: ${out.slice(-2000)}`));
    });
  });
  return { base, child };
}

const h = { ...auth, 'content-type': 'application/json' };
const json = async (r: Response) => ({ status: r.status, body: (await r.text()) || '{}' });

async function upload(base: string, bytes: Buffer): Promise<string> {
  const c = await fetch(`${base}/api/uploads`, {
    method: 'POST',
    headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-length': String(bytes.length) },
  });
  expect(c.status).toBe(201);
  const loc = new URL(c.headers.get('location') as string, base).toString();
  const p = await fetch(loc, {
    method: 'PATCH',
    headers: {
      ...auth,
      'tus-resumable': '1.0.0',
      'upload-offset': '0',
      'content-type': 'application/offset+octet-stream',
    },
    body: bytes,
  });
  expect(p.status).toBe(204);
  return loc;
}

function uidsAlive(slot: number): number {
  let n = 0;
  for (let u = 65_000 + slot * 100; u < 65_000 + slot * 100 + 100; u++) n += processesOf(u).length;
  return n;
}

describe('the server killed with SIGKILL and restarted', () => {
  it('keeps permalinks and uploads, leaves no kernel behind, and clients get a clear answer', async () => {
    const dir = join(tmpdir(), `rc-sec-restart-${process.pid}`);
    mkdirSync(dir, { recursive: true });
    cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
    let { base, child } = await spawnServer(dir, 54);
    const p = await fetch(`${base}/api/permalinks`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ code: 'print("kept")', kernel: 'python3' }),
    });
    expect([200, 201]).toContain(p.status);
    const permalink = ((await p.json()) as Json).id as string;
    const up = await upload(base, Buffer.from('file bytes'));
    const k = (
      (await (await fetch(`${base}/api/kernels`, { method: 'POST', headers: h, body: '{}' })).json()) as Json
    ).id as string;
    const ws = new WebSocket(`${base.replace('http', 'ws')}/api/kernels/${k}/channels?session_id=a`, {
      headers: auth,
    });
    await new Promise((r) => ws.once('open', r));
    const wsClosed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
    expect(uidsAlive(54)).toBeGreaterThan(0);

    child.kill('SIGKILL');
    expect(await wsClosed).toBe(1006);
    // Kernels die with their server (bubblewrap's --die-with-parent), pool included.
    const deadline = Date.now() + 5_000;
    while (uidsAlive(54) > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(uidsAlive(54)).toBe(0);

    ({ base, child } = await spawnServer(dir, 54));
    const again = await fetch(`${base}/api/permalinks/${permalink}`);
    expect(again.status).toBe(200);
    expect(((await again.json()) as Json).code).toBe('print("kept")');
    const head = await fetch(up.replace(/^http:\/\/127\.0\.0\.1:\d+/, base), {
      method: 'HEAD',
      headers: { ...auth, 'tus-resumable': '1.0.0' },
    });
    expect(head.status).toBe(200);
    expect(head.headers.get('upload-offset')).toBe('10');
    // The old kernel is gone: a reconnecting client is told so, plainly, and can start afresh.
    const old = await json(
      await fetch(`${base}/api/kernels/${k}/messages?session_id=a&timeout=0`, { headers: auth }),
    );
    expect(old.status).toBe(404);
    expect(JSON.parse(old.body).code).toBe('RUNCELL_ERR_NO_SUCH_KERNEL');
    const reconnect = new WebSocket(`${base.replace('http', 'ws')}/api/kernels/${k}/channels?session_id=a`, {
      headers: auth,
    });
    const status = await new Promise<number>((r) => {
      reconnect.once('unexpected-response', (_q, res) => r(res.statusCode ?? 0));
      reconnect.once('open', () => r(101));
    });
    expect(status).toBe(404);
    const fresh = await fetch(`${base}/api/execute`, {
      method: 'POST',
      headers: h,
      body: JSON.stringify({ code: 'print("again")' }),
    });
    expect(((await fresh.json()) as Json).stdout).toBe('again\n');
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    expect(blockMounts(54)).toEqual([]);
    expect(blockCgroups(54)).toEqual([]);
  }, 90_000);
});

describe('the disk under RUNCELL_DATA_DIR full', () => {
  it('answers with clear errors, stays up, and loses nothing once space returns', async () => {
    const dir = `/tmp/rc-sec-full-${process.pid}`;
    mkdirSync(dir, { recursive: true });
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=96m', 'tmpfs', dir]);
    cleanups.push(() => {
      try {
        execFileSync('umount', ['-l', dir]);
      } catch {
        // already gone
      }
      rmSync(dir, { recursive: true, force: true });
    });
    const { base, child } = await spawnServer(join(dir, 'data'), 55);
    const codes: string[] = [];
    for (let i = 0; i < 3; i++) {
      const code = `print(${i})`;
      const r = await fetch(`${base}/api/permalinks`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ code, kernel: 'python3' }),
      });
      expect([200, 201]).toContain(r.status);
      codes.push(((await r.json()) as Json).id);
    }
    // Fill what is left.
    try {
      execFileSync('dd', ['if=/dev/zero', `of=${dir}/filler`, 'bs=1M', 'count=200'], { stdio: 'ignore' });
    } catch {
      // ENOSPC is the point
    }
    const during: number[] = [];
    for (let i = 0; i < 20; i++) {
      const r = await fetch(`${base}/api/permalinks`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ code: `x = "${'y'.repeat(200_000)}" # ${i}`, kernel: 'python3' }),
      });
      during.push(r.status);
      const body = await r.text();
      if (r.status >= 400) {
        // 507 Insufficient Storage, or a refusal before the database is asked (e.g. a rate limit).
        expect(r.status === 507 || r.status < 500).toBe(true);
        expect(JSON.parse(body)).toMatchObject({ code: expect.stringMatching(/^RUNCELL_ERR_/) });
        expect(body).not.toMatch(/\/tmp\/|ENOSPC|at /);
      }
    }
    for (let i = 0; i < 3; i++) {
      const up = await fetch(`${base}/api/uploads`, {
        method: 'POST',
        headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-length': String(2 ** 20) },
      });
      expect(up.status).toBeLessThan(600);
    }
    expect(during).toContain(507);
    expect(child.exitCode).toBeNull();
    expect((await fetch(`${base}/healthz`)).status).toBe(200);
    rmSync(`${dir}/filler`);
    // Space is back: writes succeed again and nothing written before is lost.
    let ok = 0;
    for (let i = 0; i < 50 && ok === 0; i++) {
      const r = await fetch(`${base}/api/permalinks`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ code: 'print("after")', kernel: 'python3' }),
      });
      if (r.status === 200 || r.status === 201) ok++;
      else await new Promise((res) => setTimeout(res, 200));
    }
    expect(ok).toBe(1);
    for (const [i, id] of codes.entries()) {
      const r = await fetch(`${base}/api/permalinks/${id}`);
      expect(r.status).toBe(200);
      expect(((await r.json()) as Json).code).toBe(`print(${i})`);
    }
    record('faults', { fault: 'disk full', statuses: during });
    child.kill('SIGTERM');
    await new Promise((r) => child.once('exit', r));
    expect(leftovers(55)).toEqual(NOTHING);
  }, 90_000);
});
