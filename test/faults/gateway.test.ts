// Fault: a gateway dying (docs/scaling.md). Jobs on remote kernels run in private directories on a
// real jupyter-server (as nobody, unsandboxed: a gateway is someone else's host), see none of its
// files nor each other's, and hand files along a diamond pipeline through the kernel. Then the
// gateway is SIGKILLed with a job running: the job ends failed with the reason (not stranded), the
// gateway is purged after three failed health checks, /readyz turns not ready and a client asking
// for a kernel gets 503 RUNCELL_ERR_NO_KERNEL_HOST with Retry-After; nothing acknowledged is lost.
// Started again, it is re-admitted only after answering for RUNCELL_GATEWAY_READMIT_MS, and work
// resumes. Afterwards no kernel, job or gateway kernel is left behind.
import { type ChildProcess, spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { chownSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { type JobDetail, RunCell } from '../../sdk/index.js';
import { openStore, type Store } from '../../server/store/db.js';
import { startServer, type TestServer, TOKEN } from '../server/helpers.js';
import { createDb, log, type TestDb } from '../server/jobs/helpers.js';

const SLOT = 103;
const GW_TOKEN = 'gw-fault-token-0123456789';
/** jupyter-server refuses to run as root: it runs as nobody, like any unprivileged gateway. */
const NOBODY = 65_534;

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

const dir = mkdtempSync(join(tmpdir(), 'runcell-gwf-'));
const root = join(dir, 'root');
let port = 0;
let gw: ChildProcess | undefined;

/** Starts jupyter-server in its own process group (so a kill takes its kernels too). */
async function launch(): Promise<void> {
  const p = spawn(
    '/usr/bin/python3',
    [
      '-m',
      'jupyter_server',
      `--ServerApp.token=${GW_TOKEN}`,
      `--ServerApp.port=${port}`,
      '--ServerApp.port_retries=0',
      '--ServerApp.ip=127.0.0.1',
      '--ServerApp.open_browser=False',
      `--ServerApp.root_dir=${root}`,
    ],
    {
      env: {
        PATH: '/usr/bin:/bin',
        HOME: dir,
        JUPYTER_CONFIG_DIR: join(dir, 'config'),
        JUPYTER_DATA_DIR: join(dir, 'data'),
        JUPYTER_RUNTIME_DIR: join(dir, 'runtime'),
      },
      uid: NOBODY,
      gid: NOBODY,
      detached: true,
      stdio: ['ignore', 'ignore', process.env.RUNCELL_TEST_LOG ? 'inherit' : 'ignore'],
    },
  );
  gw = p;
  const deadline = Date.now() + 30_000;
  for (;;) {
    if (p.exitCode !== null) throw new Error(`jupyter-server exited with ${p.exitCode}`);
    try {
      const r = await fetch(`http://127.0.0.1:${port}/api/status`, {
        headers: { authorization: `token ${GW_TOKEN}` },
      });
      if (r.ok) return;
    } catch {
      // not listening yet
    }
    if (Date.now() > deadline) throw new Error('jupyter-server did not start');
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** SIGKILLs the gateway and every kernel it started (its process group), as a host dying would. */
async function killGateway(): Promise<void> {
  const p = gw;
  gw = undefined;
  if (!p?.pid || p.exitCode !== null) return;
  const exited = new Promise((r) => p.once('exit', r));
  process.kill(-p.pid, 'SIGKILL');
  await exited;
}

/** Polls `ok` (sync or async) until it holds; a deadline only against a hang. */
async function waitFor(ok: () => unknown, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await ok())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 20));
  }
}

/** Dirs the job kernels made in the gateway's temp dir (they are removed after each job). */
const jobDirs = () => readdirSync(tmpdir()).filter((n) => n.startsWith('runcell-job-'));

describe('fault: a gateway dying', () => {
  let db: TestDb;
  let store: Store;
  let s: TestServer;
  let rc: RunCell;
  const acknowledged: string[] = [];

  const post = (path: string, body: unknown) =>
    fetch(`${s.base}${path}`, {
      method: 'POST',
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify(body),
    });
  const ready = async () => (await fetch(`${s.base}/readyz`)).status;
  const run = async (spec: Parameters<RunCell['submit']>[0]): Promise<JobDetail[]> => {
    const b = await rc.submit(spec);
    acknowledged.push(...b.jobs.map((j) => j.id));
    return b.results();
  };

  beforeAll(async () => {
    for (const d of ['config', 'data', 'runtime', 'root']) mkdirSync(join(dir, d));
    // The gateway's own files, where its kernels start: a job must see none of them.
    writeFileSync(join(root, 'jgw.log'), 'the gateway log\n');
    writeFileSync(join(root, 'a.txt'), "another job's file\n");
    for (const d of [dir, ...['config', 'data', 'runtime', 'root'].map((x) => join(dir, x))])
      chownSync(d, NOBODY, NOBODY);
    port = await freePort();
    await launch();
    db = await createDb('postgres');
    store = await openStore({
      databaseUrl: db.url,
      dataDir: '/nonexistent',
      poolMax: 4,
      connectTimeoutMs: 2000,
      log,
    });
    s = await startServer(
      SLOT,
      {
        poolSize: 0,
        placement: 'remote',
        gateways: [{ url: `http://127.0.0.1:${port}`, token: GW_TOKEN, capacity: 4 }],
        gatewayHealthIntervalMs: 200,
        gatewayReadmitMs: 1_000,
      },
      { store, jobs: true },
    );
    rc = new RunCell({ url: s.base, token: TOKEN, pollSeconds: 2 });
  }, 60_000);

  afterAll(async () => {
    await rc?.exit({ timeout: 0 });
    await s?.stop();
    await killGateway();
    await store?.close();
    await db?.cleanup();
    rmSync(dir, { recursive: true, force: true });
  });

  it("jobs on a gateway see none of its files nor each other's; only their own come back", async () => {
    const before = new Set(jobDirs());
    const code = "import os\nprint(sorted(os.listdir('.')))\nopen('a.txt', 'w').write('mine')\n";
    const jobs = await run([code, code]);
    for (const j of jobs) {
      expect(j.state, j.reason ?? '').toBe('succeeded');
      expect(j.result?.stdout).toBe('[]\n');
      expect(j.result?.files.map((f) => f.name)).toEqual(['a.txt']);
      const f = j.result?.files[0];
      expect((await rc.file(j.id, f?.id as string)).toString()).toBe('mine');
    }
    // The gateway's own files were not touched, and the private dirs are gone.
    expect(readdirSync(root).sort()).toEqual(['a.txt', 'jgw.log']);
    expect(jobDirs().filter((d) => !before.has(d))).toEqual([]);
  }, 60_000);

  it('a diamond pipeline hands files along through the kernels, with an upload as input', async () => {
    const data = Buffer.alloc(5 * 2 ** 20 + 3, 7);
    const up = await rc.upload(data, { name: 'in.bin' });
    const sha = createHash('sha256').update(data).digest('hex');
    const jobs = await run([
      {
        name: 'A',
        files: [up.id],
        code: "import hashlib\nopen('a.txt', 'w').write(hashlib.sha256(open('in.bin', 'rb').read()).hexdigest())\n",
      },
      { name: 'B', needs: ['A'], code: "open('b.txt', 'w').write('B' + open('a.txt').read()[:8])\n" },
      { name: 'C', needs: ['A'], code: "open('c.txt', 'w').write('C' + open('a.txt').read()[:8])\n" },
      {
        name: 'D',
        needs: ['B', 'C'],
        code: "import os\nprint(sorted(os.listdir('.')), open('b.txt').read(), open('c.txt').read())\n",
      },
    ]);
    for (const j of jobs) expect(j.state, `${j.name}: ${j.reason}`).toBe('succeeded');
    const d = jobs.find((j) => j.name === 'D');
    const short = sha.slice(0, 8);
    // D gets what the jobs it needs wrote (B's and C's files, not A's, which B and C left unchanged).
    expect(d?.result?.stdout).toBe(`['b.txt', 'c.txt'] B${short} C${short}\n`);
    // Inputs handed along are not collected again as D's outputs.
    expect(d?.result?.files).toEqual([]);
  }, 90_000);

  it('killed with a job running: the job fails with the reason, the gateway is purged, /readyz and new kernels say so; re-admitted after answering again', async () => {
    expect(await ready()).toBe(200);
    const localBefore = s.manager.stats().live;
    const [slow] = (await rc.submit({ code: 'import time\nprint("started", flush=True)\ntime.sleep(120)' }))
      .jobs;
    acknowledged.push(slow?.id as string);
    await waitFor(() => slow?.state === 'running', 30_000, 'the slow job running');
    await killGateway();

    // What clients see: the job ends (not stranded) with a reason that says why.
    const ended = await (slow as NonNullable<typeof slow>).result();
    expect(ended.state).toBe('failed');
    // Whichever notices first (its websocket, its watch, the gateway's third failed health check)
    // says the gateway is what failed.
    expect(ended.reason).toMatch(/^the kernel died: .*\bgateway\b/);
    await waitFor(async () => (await ready()) === 503, 10_000, '/readyz not ready');
    const r = await post('/api/kernels', {});
    expect(r.status).toBe(503);
    expect(Number(r.headers.get('retry-after'))).toBeGreaterThan(0);
    expect(await r.json()).toMatchObject({
      code: 'RUNCELL_ERR_NO_KERNEL_HOST',
      message: expect.stringMatching(/no kernel host is available/),
    });
    expect(s.manager.gateways()[0]).toMatchObject({ up: false, kernels: 0 });
    const metrics = await (
      await fetch(`${s.base}/metrics`, { headers: { authorization: `token ${TOKEN}` } })
    ).text();
    expect(metrics).toContain(`runcell_gateway_up{gateway="http://127.0.0.1:${port}"} 0`);
    expect(metrics).toMatch(/^runcell_jobs_finished_total\{state="failed"\} [1-9]/m);

    // Back: re-admitted only after answering health checks for the configured time.
    await launch();
    await waitFor(() => s.manager.gateways()[0]?.healthyForMs !== undefined, 10_000, 'the gateway answering');
    expect(s.manager.gateways()[0]?.up).toBe(false);
    await waitFor(async () => (await ready()) === 200, 10_000, '/readyz ready again');
    const [again] = await run('print(6 * 7)');
    expect(again).toMatchObject({ state: 'succeeded' });
    expect(again?.result?.stdout).toBe('42\n');

    // No acknowledged write lost, nothing stranded, nothing leaked on our side.
    for (const id of acknowledged) {
      const j = await rc.get(id);
      expect(['succeeded', 'failed']).toContain(j.state);
    }
    const active = await rc.list({ state: 'waiting,queued,launched,running' });
    expect(active.jobs).toEqual([]);
    // Every kernel handed out is gone (remote ones included), and no local one appeared.
    await waitFor(() => s.manager.list().length === 0, 10_000, 'no kernel handed out');
    expect(s.manager.stats().live).toBe(localBefore);
    expect(s.manager.gateways()[0]?.kernels).toBe(0);
  }, 120_000);
});
