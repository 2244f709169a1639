// The server under soak (bench/soak.ts): the built server (dist/server/main.js, as `npm start` runs it)
// in a child process of its own process group, so its memory is measured apart from the load generator
// and a Ctrl-C in the terminal reaches only the harness, which then stops it in order. Its store is a
// Postgres database created for the run and dropped after it (or embedded PGlite in a temp dir), its
// log (warn and above) goes to a file the report summarises, and its kernels run as uids of a range
// no test uses, so whatever of that range is left after the stop is this run's leak.
import { type ChildProcess, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import {
  closeSync,
  existsSync,
  mkdtempSync,
  openSync,
  readdirSync,
  readFileSync,
  rmSync,
  statSync,
} from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import postgres from 'postgres';
import { freePort } from './jupyter.js';

export interface SoakServerOptions {
  repo: string;
  token: string;
  uidRange: [number, number];
  runtimeRoot: string;
  /** 'postgres': a database created and dropped on `adminUrl`; 'pglite': embedded, in a temp dir. */
  store: 'postgres' | 'pglite';
  adminUrl: string;
  /** Extra RUNCELL_* settings (the environment is built from scratch: nothing of the caller's leaks in). */
  settings: Record<string, string>;
  /** Other variables for the server's environment (e.g. a marker kernels must not see). */
  env?: Record<string, string>;
}

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** ms from the stop request (undefined: it exited on its own). */
  stopMs?: number;
}

export interface SoakServer {
  base: string;
  wsBase: string;
  pid: number;
  store: string;
  logPath: string;
  /** Set once the process has exited. */
  exited: ExitInfo | undefined;
  /** Metric values summed over labels, and by `name{labels}` as printed. */
  metrics(): Promise<Map<string, number>>;
  /** Resident set size of the server process in bytes (0 once gone). */
  rss(): number;
  /** SIGTERM (graceful: the server stops its kernels), SIGKILL of its group after `graceMs`. */
  stop(graceMs?: number): Promise<ExitInfo>;
  /** Synchronous last resort (process exit): SIGKILL of the server's process group. */
  killNow(): void;
  /** Drops the database / removes the data dir (after stop); the log too unless `keepLog`. */
  cleanup(keepLog?: boolean): Promise<void>;
}

function statusField(pid: number, field: string): string | undefined {
  try {
    return new RegExp(`^${field}:\\s+(.*)$`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1];
  } catch {
    return undefined;
  }
}

/** Live processes (zombies apart) whose real uid lies in the range: "pid uid name". */
export function processesInRange([lo, hi]: [number, number]): { pid: number; uid: number; name: string }[] {
  const out: { pid: number; uid: number; name: string }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const pid = Number(d);
    const uid = Number(statusField(pid, 'Uid')?.split(/\s+/)[0]);
    if (!(uid >= lo && uid <= hi)) continue;
    if (statusField(pid, 'State')?.startsWith('Z')) continue;
    out.push({ pid, uid, name: statusField(pid, 'Name') ?? '?' });
  }
  return out;
}

export function killRange(range: [number, number]): number {
  let n = 0;
  for (const p of processesInRange(range)) {
    try {
      process.kill(p.pid, 'SIGKILL');
      n++;
    } catch {
      // gone
    }
  }
  return n;
}

export function parseMetrics(text: string): Map<string, number> {
  const out = new Map<string, number>();
  for (const line of text.split('\n')) {
    if (!line || line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][\w:]*)(\{[^}]*\})?\s+(\S+)/.exec(line);
    if (!m) continue;
    const v = Number(m[3]);
    if (!Number.isFinite(v)) continue;
    const name = m[1] as string;
    out.set(name, (out.get(name) ?? 0) + v);
    if (m[2]) out.set(name + m[2], v);
  }
  return out;
}

/** True if some file under server/, kernel-manager/ or sdk/ is newer than the built server. */
export function buildIsStale(repo: string): boolean {
  const built = join(repo, 'dist/server/main.js');
  if (!existsSync(built)) return true;
  const at = statSync(built).mtimeMs;
  const newer = (dir: string): boolean => {
    for (const e of readdirSync(dir, { withFileTypes: true })) {
      const p = join(dir, e.name);
      if (e.isDirectory() ? newer(p) : p.endsWith('.ts') && statSync(p).mtimeMs > at) return true;
    }
    return false;
  };
  return ['server', 'kernel-manager'].some((d) => newer(join(repo, d)));
}

export async function startSoakServer(o: SoakServerOptions): Promise<SoakServer> {
  const main = join(o.repo, 'dist/server/main.js');
  if (!existsSync(main)) throw new Error(`${main} is missing: run npm run build first`);
  const dir = mkdtempSync(join(tmpdir(), 'rc-soak-'));
  const logPath = join(dir, 'server.log');
  let dbName: string | undefined;
  let admin: postgres.Sql | undefined;
  const settings: Record<string, string> = { ...o.settings };
  if (o.store === 'postgres') {
    dbName = `runcell_soak_${randomBytes(6).toString('hex')}`;
    admin = postgres(o.adminUrl, { max: 1, onnotice: () => {}, connect_timeout: 5 });
    await admin.unsafe(`create database ${dbName}`);
    const url = new URL(o.adminUrl);
    url.pathname = `/${dbName}`;
    settings.DATABASE_URL = url.toString();
  } else {
    settings.RUNCELL_DATA_DIR = join(dir, 'data');
  }
  const cleanup = async (keepLog = true) => {
    if (admin && dbName) {
      await admin.unsafe(`drop database if exists ${dbName} with (force)`).catch(() => {});
      await admin.end({ timeout: 5 }).catch(() => {});
      admin = undefined;
    }
    rmSync(keepLog ? join(dir, 'data') : dir, { recursive: true, force: true });
  };

  const port = await freePort();
  const log = openSync(logPath, 'a');
  const child: ChildProcess = spawn(process.execPath, [main], {
    cwd: o.repo,
    detached: true,
    stdio: ['ignore', log, log],
    env: {
      PATH: process.env.PATH ?? '/usr/bin:/bin',
      HOME: process.env.HOME ?? '/root',
      LANG: 'C.UTF-8',
      HOST: '127.0.0.1',
      PORT: String(port),
      RUNCELL_TOKENS: o.token,
      RUNCELL_SANDBOX_UID_RANGE: `${o.uidRange[0]}-${o.uidRange[1]}`,
      RUNCELL_SANDBOX_RUNTIME_ROOT: o.runtimeRoot,
      RUNCELL_LOG_LEVEL: 'warn',
      ...settings,
      ...o.env,
    },
  });
  closeSync(log);
  const pid = child.pid as number;
  let exited: ExitInfo | undefined;
  const gone = new Promise<void>((r) =>
    child.once('exit', (code, signal) => {
      exited = { code, signal };
      r();
    }),
  );
  const base = `http://127.0.0.1:${port}`;
  const killNow = () => {
    if (exited) return;
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  };
  const tail = () => readFileSync(logPath, 'utf8').slice(-3000);

  // Ready: /readyz says the pool can serve and the database answers.
  const deadline = Date.now() + 120_000;
  for (;;) {
    if (exited) {
      await cleanup();
      throw new Error(`the server exited (${exited.code ?? exited.signal}) before it was ready:\n${tail()}`);
    }
    if (Date.now() > deadline) {
      killNow();
      await gone;
      await cleanup();
      throw new Error(`the server was not ready within 120 s:\n${tail()}`);
    }
    try {
      if ((await fetch(`${base}/readyz`, { signal: AbortSignal.timeout(2_000) })).status === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 200));
  }

  return {
    base,
    wsBase: `ws://127.0.0.1:${port}`,
    pid,
    store:
      o.store === 'postgres' ? `Postgres (database ${dbName}, created and dropped by the run)` : 'PGlite',
    logPath,
    get exited() {
      return exited;
    },
    async metrics() {
      const r = await fetch(`${base}/metrics`, {
        headers: { authorization: `token ${o.token}` },
        signal: AbortSignal.timeout(10_000),
      });
      if (r.status !== 200) throw new Error(`/metrics: ${r.status}`);
      return parseMetrics(await r.text());
    },
    rss() {
      return Number(statusField(pid, 'VmRSS')?.split(/\s+/)[0] ?? 0) * 1024;
    },
    async stop(graceMs = 30_000) {
      if (exited) return exited;
      const t0 = performance.now();
      try {
        process.kill(pid, 'SIGTERM');
      } catch {
        // gone
      }
      const t = setTimeout(killNow, graceMs);
      await gone;
      clearTimeout(t);
      return { ...(exited as unknown as ExitInfo), stopMs: Math.round(performance.now() - t0) };
    },
    killNow,
    cleanup,
  };
}

/** Server log lines at warn (40) and above, counted by level and message. */
export function summariseLog(path: string): { warn: number; error: number; fatal: number; top: string[] } {
  const counts = new Map<string, number>();
  const out = { warn: 0, error: 0, fatal: 0, top: [] as string[] };
  let text = '';
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return out;
  }
  for (const line of text.split('\n')) {
    if (!line.trim()) continue;
    let level = 50;
    let msg = line.slice(0, 160);
    try {
      const j = JSON.parse(line) as { level?: number; msg?: string; err?: { message?: string } };
      level = j.level ?? 50;
      msg = `${j.msg ?? ''}${j.err?.message ? `: ${j.err.message}` : ''}`.slice(0, 160);
    } catch {
      // not pino: count as an error (a crash trace, an uncaught exception)
    }
    if (level >= 60) out.fatal++;
    else if (level >= 50) out.error++;
    else if (level >= 40) out.warn++;
    else continue;
    const key = `${level >= 50 ? 'error' : 'warn'}: ${msg}`;
    counts.set(key, (counts.get(key) ?? 0) + 1);
  }
  out.top = [...counts.entries()]
    .sort((a, b) => b[1] - a[1])
    .slice(0, 10)
    .map(([k, n]) => `${n}x ${k}`);
  return out;
}
