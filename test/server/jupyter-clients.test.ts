// What real Jupyter clients need of the server, on real sockets and kernels: kernelspec resources at
// Jupyter Server's URLs, a failed kernel start explained by the kernel's own last words, the framing
// setting (RUNCELL_KERNEL_WS_PROTOCOL), a clean 1007 for a text frame that is not UTF-8, and Debian's
// jupyter-server run with --gateway-url against runcell, driven through its own REST and websocket API.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { V1_PROTOCOL } from '../../server/bridge/framing.js';
import { api, type Json, newKernel, RawClient, startServer, type TestServer, TOKEN } from './helpers.js';

/** jupyter-server refuses to run as root: it runs as nobody, in its own temp dir. */
const NOBODY = 65_534;
const JS_TOKEN = 'js-token-0123456789abcdef';
const PLOT = 'import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.show()';

let s: TestServer;
let dataDir: string;

beforeAll(async () => {
  // A Jupyter data dir (the parent of kernels/, as RUNCELL_KERNELSPEC_DIRS takes) with a spec whose
  // kernel cannot start: a real failing kernel.
  dataDir = mkdtempSync(join(tmpdir(), 'runcell-jc-'));
  // Kernel uids must reach a spec's dir, or the spec is not offered (env-paths.ts).
  chmodSync(dataDir, 0o755);
  mkdirSync(join(dataDir, 'kernels', 'broken'), { recursive: true });
  writeFileSync(
    join(dataDir, 'kernels', 'broken', 'kernel.json'),
    JSON.stringify({
      argv: ['/usr/bin/python3', '-m', 'nonexistent_module', '-f', '{connection_file}'],
      display_name: 'Broken',
      language: 'python',
    }),
  );
  s = await startServer(22, { kernelspecDirs: [dataDir], maxKernels: 6 });
});
afterAll(async () => {
  await s?.stop();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('Jupyter URL shapes and start failures', () => {
  it("lists kernelspec resources at Jupyter Server's paths, extensions included; the old form still answers", async () => {
    const r = await api(s, 'GET', '/api/kernelspecs');
    const resources = r.body.kernelspecs.python3.resources as Record<string, string>;
    expect(resources['logo-64x64']).toBe('/kernelspecs/python3/logo-64x64.png');
    expect(resources['logo-32x32']).toBe('/kernelspecs/python3/logo-32x32.png');
    expect((await api(s, 'GET', '/api/kernelspecs/python3')).body.resources).toEqual(resources);
    const png = await fetch(`${s.base}/kernelspecs/python3/logo-64x64.png`);
    expect(png.status).toBe(200);
    expect(png.headers.get('content-type')).toBe('image/png');
    expect(
      Buffer.from(await png.arrayBuffer())
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
    expect((await fetch(`${s.base}/kernelspecs/python3/logo-64x64`)).status).toBe(200);
    expect((await fetch(`${s.base}/kernelspecs/python3/kernel.json`)).status).toBe(404);
    expect((await fetch(`${s.base}/kernelspecs/python3/logo-64x64.svg`)).status).toBe(404);
  });

  it("a kernel that fails to start says why, in its own words, without the server's paths", async () => {
    const r = await api(s, 'POST', '/api/kernels', { name: 'broken' });
    expect(r.status).toBe(500);
    expect(r.body.code).toBe('RUNCELL_ERR_KERNEL_START_FAILED');
    expect(r.body.message).toContain('No module named nonexistent_module');
    expect(r.body.message).not.toContain('/run/rc-s22');
    expect(r.body.message).not.toContain(process.cwd());
    expect(Buffer.byteLength(r.body.message)).toBeLessThan(5 * 1024);
    // The server is fine, and so are kernels of other specs.
    const id = await newKernel(s);
    await api(s, 'DELETE', `/api/kernels/${id}`);
  });
});

describe('framing', () => {
  it('a text frame that is not UTF-8 closes the socket with 1007', async () => {
    const id = await newKernel(s);
    const c = await RawClient.open(s, id);
    c.ws.send(Buffer.from([0x7b, 0xff, 0xfe, 0x7d]), { binary: false });
    expect((await c.closed).code).toBe(1007);
    // The kernel still serves a new connection.
    const d = await RawClient.open(s, id);
    expect((await d.run('print(6*7)')).stdout).toBe('42\n');
    d.close();
    await api(s, 'DELETE', `/api/kernels/${id}`);
  });

  it('RUNCELL_KERNEL_WS_PROTOCOL=legacy answers v1 clients in the legacy framing; =v1 refuses legacy clients', async () => {
    const legacy = await startServer(23, { kernelWsProtocol: 'legacy', poolSize: 0 });
    try {
      const id = await newKernel(legacy);
      // Offered v1, the server answers with no subprotocol: the legacy framing (browsers and
      // @jupyterlab/services take that; node's ws client is stricter and gives up).
      await expect(RawClient.open(legacy, id, { protocol: V1_PROTOCOL })).rejects.toThrow(
        'Server sent no subprotocol',
      );
      const c = await RawClient.open(legacy, id);
      expect(c.ws.protocol).toBe('');
      expect((await c.run('print(1+1)')).stdout).toBe('2\n');
      c.close();
    } finally {
      await legacy.stop();
    }
    const v1 = await startServer(23, { kernelWsProtocol: 'v1', poolSize: 0 });
    try {
      const id = await newKernel(v1);
      await expect(RawClient.open(v1, id)).rejects.toThrow('HTTP 400');
      const c = await RawClient.open(v1, id, { protocol: V1_PROTOCOL });
      expect(c.ws.protocol).toBe(V1_PROTOCOL);
      expect((await c.run('print(2+2)')).stdout).toBe('4\n');
      c.close();
    } finally {
      await v1.stop();
    }
  });
});

// Jupyter Server as a gateway client of runcell: its own REST API and websocket, kernels on runcell.
describe('jupyter-server --gateway-url pointing at runcell', () => {
  let js: { url: string; dir: string; proc: ChildProcess };

  beforeAll(async () => {
    const dir = mkdtempSync(join(tmpdir(), 'runcell-jsgw-'));
    for (const d of ['', 'config', 'data', 'runtime', 'root']) {
      mkdirSync(join(dir, d), { recursive: true });
      chownSync(join(dir, d), NOBODY, NOBODY);
    }
    const port = await freePort();
    const proc = spawn(
      '/usr/bin/python3',
      [
        '-m',
        'jupyter_server',
        `--ServerApp.token=${JS_TOKEN}`,
        `--ServerApp.port=${port}`,
        '--ServerApp.port_retries=0',
        '--ServerApp.ip=127.0.0.1',
        '--ServerApp.open_browser=False',
        `--ServerApp.root_dir=${join(dir, 'root')}`,
        `--gateway-url=${s.base}`,
        `--GatewayClient.auth_token=${TOKEN}`,
        '--GatewayClient.request_timeout=60',
      ],
      {
        env: {
          PATH: process.env.PATH ?? '/usr/bin:/bin',
          HOME: dir,
          JUPYTER_CONFIG_DIR: join(dir, 'config'),
          JUPYTER_DATA_DIR: join(dir, 'data'),
          JUPYTER_RUNTIME_DIR: join(dir, 'runtime'),
        },
        uid: NOBODY,
        gid: NOBODY,
        stdio: ['ignore', 'ignore', process.env.RUNCELL_TEST_LOG ? 'inherit' : 'ignore'],
      },
    );
    js = { url: `http://127.0.0.1:${port}`, dir, proc };
    const deadline = Date.now() + 30_000;
    for (;;) {
      if (proc.exitCode !== null) throw new Error(`jupyter-server exited with ${proc.exitCode}`);
      const ok = await fetch(`${js.url}/api/status`, { headers: jsAuth }).then(
        (r) => r.ok,
        () => false,
      );
      if (ok) break;
      if (Date.now() > deadline) throw new Error('jupyter-server did not start');
      await new Promise((r) => setTimeout(r, 100));
    }
  });
  afterAll(async () => {
    const p = js?.proc;
    if (p && p.exitCode === null && p.signalCode === null) {
      const exited = new Promise((r) => p.once('exit', r));
      p.kill('SIGTERM');
      const t = setTimeout(() => p.kill('SIGKILL'), 10_000);
      await exited;
      clearTimeout(t);
    }
    if (js) rmSync(js.dir, { recursive: true, force: true });
  });

  const jsAuth = { authorization: `token ${JS_TOKEN}` };
  const jsApi = async (method: string, path: string, body?: unknown) => {
    const r = await fetch(js.url + path, {
      method,
      headers: body === undefined ? jsAuth : { ...jsAuth, 'content-type': 'application/json' },
      body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await r.text();
    return { status: r.status, body: text ? (JSON.parse(text) as Json) : undefined };
  };
  /** RawClient speaks to any Jupyter server: here jupyter-server's own kernel websocket. */
  const jsClient = (id: string) =>
    RawClient.open({ wsBase: js.url.replace(/^http/, 'ws') } as TestServer, id, { headers: jsAuth });

  it('starts, executes (a plot), interrupts, restarts and shuts down a kernel that runs on runcell', async () => {
    const specs = await jsApi('GET', '/api/kernelspecs');
    expect(specs.status).toBe(200);
    expect(Object.keys(specs.body.kernelspecs)).toContain('python3');

    const started = await jsApi('POST', '/api/kernels', { name: 'python3' });
    expect(started.status).toBe(201);
    const id = started.body.id as string;
    // The kernel is runcell's.
    expect((await api(s, 'GET', `/api/kernels/${id}`)).status).toBe(200);

    let c = await jsClient(id);
    const plot = await c.run(PLOT, 60_000);
    expect(plot.reply.content.status).toBe('ok');
    const images = plot.all.filter(
      (m) => m.header.msg_type === 'display_data' && m.content.data['image/png'],
    );
    expect(images).toHaveLength(1);
    expect(Buffer.from(images[0]?.content.data['image/png'], 'base64').subarray(1, 4).toString()).toBe('PNG');

    const busy = executeAndWaitRunning(c, 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)');
    await busy.started;
    expect((await jsApi('POST', `/api/kernels/${id}/interrupt`)).status).toBe(204);
    const reply = await busy.reply;
    expect(reply.content.status).toBe('error');
    expect(reply.content.ename).toBe('KeyboardInterrupt');

    expect((await c.run('x = 41')).reply.content.status).toBe('ok');
    const restarted = await jsApi('POST', `/api/kernels/${id}/restart`);
    expect(restarted.status).toBe(200);
    expect(restarted.body.id).toBe(id);
    c.close();
    c = await jsClient(id);
    const after = await c.run('print("x" in globals())', 60_000);
    expect(after.stdout).toBe('False\n');
    c.close();

    expect((await jsApi('DELETE', `/api/kernels/${id}`)).status).toBe(204);
    const deadline = Date.now() + 20_000;
    while ((await api(s, 'GET', `/api/kernels/${id}`)).status !== 404) {
      if (Date.now() > deadline) throw new Error('the kernel is still on runcell after shutdown');
      await new Promise((r) => setTimeout(r, 100));
    }
    // A hang bound: its steps have their own (a plot's run 60 s), and two Pythons (Jupyter Server, the
    // kernel) with a CPU hog beside the suite took longer than the default 60 s for all of them.
  }, 180_000);
});

function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = createServer();
    srv.once('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as { port: number };
      srv.close(() => resolve(port));
    });
  });
}

/** Sends code; `started` resolves when the kernel reports busy for it, `reply` with its execute_reply. */
function executeAndWaitRunning(c: RawClient, code: string) {
  const from = c.messages.length;
  const msgId = randomUUID();
  c.ws.send(
    JSON.stringify({
      channel: 'shell',
      header: {
        msg_id: msgId,
        msg_type: 'execute_request',
        session: c.session,
        username: 'test',
        version: '5.3',
        date: new Date().toISOString(),
      },
      parent_header: {},
      metadata: {},
      // Its KeyboardInterrupt must not abort what comes next: with stop_on_error (the default),
      // ipykernel aborts every request that reaches it before its abort ends, one loop turn after
      // the reply, which a loaded host stretches enough for the test's next execute to land in.
      content: {
        code,
        silent: false,
        store_history: true,
        user_expressions: {},
        allow_stdin: false,
        stop_on_error: false,
      },
    }),
  );
  const mine = (m: Json) => m.parent_header?.msg_id === msgId;
  return {
    // Running, not just busy: the kernel says busy before it runs the code, and an interrupt that
    // lands in between is caught by ipykernel itself and lost (the code then sleeps on). The code
    // prints first; its first stream output means it runs.
    started: c.next((m) => mine(m) && m.header.msg_type === 'stream', 60_000, from),
    reply: c.next((m) => mine(m) && m.header.msg_type === 'execute_reply', 60_000, from),
  };
}
