// Debian's Jupyter Server (apt-get install jupyter-server) on 127.0.0.1 with a token, for side-by-side
// benchmarks. Its kernels are the unsandboxed ipykernels of /usr/share/jupyter/kernels/python3. Nothing
// of the user's Jupyter or IPython set-up is used: HOME, the config, data and runtime dirs, IPYTHONDIR
// and the root dir are fresh temporary directories, removed on stop. stop() deletes the kernels, stops
// the server (SIGTERM, then SIGKILL of its process group) and kills any kernel left behind (found by
// the connection file in its command line, which lies in our temporary runtime dir).
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

export const JUPYTER_PYTHON = '/usr/bin/python3';

export function jupyterAvailable(): boolean {
  return existsSync('/usr/lib/python3/dist-packages/jupyter_server') && existsSync(JUPYTER_PYTHON);
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer();
    s.once('error', reject);
    s.listen(0, '127.0.0.1', () => {
      const a = s.address();
      s.close(() => (a && typeof a === 'object' ? resolve(a.port) : reject(new Error('no port'))));
    });
  });
}

/** Pids of live processes whose command line contains `needle`. */
export function pidsWithCmdline(needle: string): number[] {
  const out: number[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      if (readFileSync(`/proc/${d}/cmdline`, 'utf8').includes(needle)) out.push(Number(d));
    } catch {
      // gone
    }
  }
  return out;
}

export interface JupyterServer {
  base: string;
  wsBase: string;
  token: string;
  pid: number;
  version: string;
  /** The kernel process of a kernel id (its connection file names the id). */
  kernelPid(id: string): number | undefined;
  stop(): Promise<void>;
}

export async function startJupyter(token: string, timeoutMs = 60_000): Promise<JupyterServer> {
  const tmp = mkdtempSync(join(tmpdir(), 'rc-bench-jupyter-'));
  const dir = (n: string) => {
    const p = join(tmp, n);
    mkdirSync(p, { recursive: true });
    return p;
  };
  const runtime = dir('runtime');
  const port = await freePort();
  const env: Record<string, string> = {
    PATH: '/usr/bin:/bin',
    HOME: dir('home'),
    LANG: 'C.UTF-8',
    JUPYTER_CONFIG_DIR: dir('config'),
    JUPYTER_DATA_DIR: dir('data'),
    JUPYTER_RUNTIME_DIR: runtime,
    IPYTHONDIR: dir('ipython'),
    PYTHONNOUSERSITE: '1',
  };
  const args = [
    '-m',
    'jupyter_server',
    '--ServerApp.ip=127.0.0.1',
    `--ServerApp.port=${port}`,
    '--ServerApp.port_retries=0',
    `--ServerApp.token=${token}`,
    '--ServerApp.open_browser=False',
    '--ServerApp.allow_root=True',
    `--ServerApp.root_dir=${dir('root')}`,
    '--ServerApp.log_level=WARN',
  ];
  const child: ChildProcess = spawn(JUPYTER_PYTHON, args, {
    env,
    cwd: tmp,
    detached: true,
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => {
    stderr = (stderr + d.toString()).slice(-4000);
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const base = `http://127.0.0.1:${port}`;
  const auth = { authorization: `token ${token}` };

  const kill = async () => {
    if (child.exitCode === null && child.signalCode === null && child.pid) {
      try {
        process.kill(-child.pid, 'SIGTERM');
      } catch {
        // gone
      }
      const t = setTimeout(() => {
        try {
          if (child.pid) process.kill(-child.pid, 'SIGKILL');
        } catch {
          // gone
        }
      }, 10_000);
      await exited;
      clearTimeout(t);
    }
    // Kernels run in their own sessions: kill what still holds one of our connection files.
    for (const pid of pidsWithCmdline(runtime)) {
      try {
        process.kill(pid, 'SIGKILL');
      } catch {
        // gone
      }
    }
    rmSync(tmp, { recursive: true, force: true });
  };

  let version = '';
  const deadline = Date.now() + timeoutMs;
  try {
    for (;;) {
      if (child.exitCode !== null) throw new Error(`jupyter-server exited: ${stderr}`);
      if (Date.now() > deadline) throw new Error(`jupyter-server did not answer in time: ${stderr}`);
      try {
        const r = await fetch(`${base}/api`, { headers: auth });
        if (r.ok) {
          version = ((await r.json()) as { version: string }).version;
          break;
        }
      } catch {
        // not listening yet
      }
      await new Promise((r) => setTimeout(r, 100));
    }
  } catch (e) {
    await kill();
    throw e;
  }

  return {
    base,
    wsBase: `ws://127.0.0.1:${port}`,
    token,
    pid: child.pid as number,
    version,
    kernelPid(id: string) {
      return pidsWithCmdline(`kernel-${id}.json`)[0];
    },
    async stop() {
      try {
        const r = await fetch(`${base}/api/kernels`, { headers: auth, signal: AbortSignal.timeout(5_000) });
        const ks = (await r.json()) as { id: string }[];
        await Promise.all(
          ks.map((k) =>
            fetch(`${base}/api/kernels/${k.id}`, {
              method: 'DELETE',
              headers: auth,
              signal: AbortSignal.timeout(10_000),
            }).catch(() => {}),
          ),
        );
      } catch {
        // the server is gone or stuck: the kill below handles it
      }
      await kill();
    },
  };
}
