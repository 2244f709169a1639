// The pieces of a scaled-out deployment as real processes, for test/scale: a fresh Postgres database,
// runcell instances (`node dist/server/main.js`, or server/main.ts through tsx when dist is stale),
// HAProxy and nginx running the very configs from ops/ (only addresses, ports and paths filled in).
// Everything listens on 127.0.0.1; every process is a child of the test and is stopped by stopAll().
import { type ChildProcess, execFileSync, spawn } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { createServer } from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import postgres from 'postgres';

export const REPO = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
const PG = 'postgres://postgres@127.0.0.1:5432';

export async function freePort(): Promise<number> {
  return new Promise((res, rej) => {
    const s = createServer();
    s.once('error', rej);
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number };
      s.close(() => res(port));
    });
  });
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Polls `fn` until it returns a truthy value. */
export async function until<T>(
  fn: () => Promise<T | undefined | false>,
  ms: number,
  what: string,
): Promise<T> {
  const deadline = Date.now() + ms;
  for (;;) {
    const v = await fn().catch(() => undefined);
    if (v) return v;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(100);
  }
}

/** A child process whose output is kept line by line. */
export class Proc {
  readonly lines: string[] = [];
  readonly exited: Promise<{ code: number | null; signal: string | null }>;
  #exit: { code: number | null; signal: string | null } | undefined;

  constructor(
    readonly name: string,
    readonly child: ChildProcess,
  ) {
    let partial = '';
    const onData = (d: Buffer) => {
      const parts = (partial + d.toString()).split('\n');
      partial = parts.pop() ?? '';
      this.lines.push(...parts);
    };
    child.stdout?.on('data', onData);
    child.stderr?.on('data', onData);
    this.exited = new Promise((r) =>
      child.once('exit', (code, signal) => {
        this.#exit = { code, signal };
        r(this.#exit);
      }),
    );
  }

  static start(
    name: string,
    cmd: string,
    args: string[],
    env: Record<string, string> = {},
    cwd = REPO,
  ): Proc {
    const child = spawn(cmd, args, {
      cwd,
      env: { PATH: process.env.PATH ?? '/usr/bin:/bin', ...env },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    return new Proc(name, child);
  }

  get running(): boolean {
    return this.#exit === undefined;
  }

  /** Signals the process (by its own pid) and waits for it; SIGKILL after `graceMs`. */
  async stop(signal: NodeJS.Signals = 'SIGTERM', graceMs = 15_000): Promise<void> {
    if (!this.running) return;
    this.child.kill(signal);
    const t = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    await this.exited;
    clearTimeout(t);
  }

  tail(n = 20): string {
    return this.lines.slice(-n).join('\n');
  }
}

/** A fresh database on the local Postgres, dropped by drop(). */
export async function createDatabase(): Promise<{ url: string; drop(): Promise<void> }> {
  const name = `runcell_scale_${randomBytes(6).toString('hex')}`;
  const admin = postgres(`${PG}/postgres`, { max: 1, onnotice: () => undefined });
  await admin.unsafe(`create database ${name}`);
  await admin.end();
  return {
    url: `${PG}/${name}`,
    async drop() {
      const a = postgres(`${PG}/postgres`, { max: 1, onnotice: () => undefined });
      await a.unsafe(`drop database if exists ${name} with (force)`);
      await a.end();
    },
  };
}

function newestMtime(dir: string): number {
  let newest = 0;
  for (const e of readdirSync(dir, { withFileTypes: true })) {
    const p = join(dir, e.name);
    if (e.isDirectory()) newest = Math.max(newest, newestMtime(p));
    else if (e.name.endsWith('.ts') || e.name.endsWith('.sql'))
      newest = Math.max(newest, statSync(p).mtimeMs);
  }
  return newest;
}

/** `node dist/server/main.js` when the build is newer than the sources (CI builds first), else tsx. */
export function serverCommand(): { args: string[]; built: boolean } {
  try {
    const built = statSync(join(REPO, 'dist/server/main.js')).mtimeMs;
    const src = Math.max(newestMtime(join(REPO, 'server')), newestMtime(join(REPO, 'kernel-manager')));
    if (built >= src) return { args: ['dist/server/main.js'], built: true };
  } catch {
    // Not built.
  }
  return { args: ['--import', 'tsx', 'server/main.ts'], built: false };
}

/** One runcell instance: RUNCELL_KERNEL_ID_PREFIX `${name}-`, its own port, uid block and runtime root. */
export class Instance {
  /** Every run of this instance (a restart adds one); the last is the current process. */
  readonly runs: Proc[] = [];

  constructor(
    readonly name: string,
    readonly port: number,
    readonly env: Record<string, string>,
  ) {}

  get base(): string {
    return `http://127.0.0.1:${this.port}`;
  }
  get prefix(): string {
    return `${this.name}-`;
  }

  start(): void {
    const { args } = serverCommand();
    this.runs.push(
      Proc.start(`runcell ${this.name}`, process.execPath, args, {
        ...this.env,
        HOST: '127.0.0.1',
        PORT: String(this.port),
        RUNCELL_KERNEL_ID_PREFIX: this.prefix,
      }),
    );
  }

  get proc(): Proc | undefined {
    return this.runs.at(-1);
  }

  /** Output of every run. */
  get lines(): string[] {
    return this.runs.flatMap((r) => r.lines);
  }

  /** Ready (/readyz 200) with its warm pool filled. */
  async ready(token: string, pool: number, ms = 90_000): Promise<void> {
    await until(
      async () => {
        if (this.proc && !this.proc.running) throw new Error(`${this.name} exited: ${this.proc.tail()}`);
        const r = await fetch(`${this.base}/readyz`);
        if (r.status !== 200) return false;
        const m = await (
          await fetch(`${this.base}/metrics`, { headers: { authorization: `token ${token}` } })
        ).text();
        return Number(/^runcell_kernels_pooled (\d+)/m.exec(m)?.[1] ?? 0) >= pool;
      },
      ms,
      `instance ${this.name} to be ready`,
    ).catch((e: Error) => {
      throw new Error(`${e.message}\n${this.proc?.tail(30) ?? ''}`);
    });
  }

  async stop(signal: NodeJS.Signals = 'SIGTERM'): Promise<void> {
    await this.proc?.stop(signal);
  }

  /** Every request the instance logged: [method, url]. */
  requests(): { method: string; url: string }[] {
    const out: { method: string; url: string }[] = [];
    for (const l of this.lines) {
      if (!l.includes('"incoming request"')) continue;
      try {
        const j = JSON.parse(l) as { req?: { method: string; url: string } };
        if (j.req) out.push({ method: j.req.method, url: j.req.url });
      } catch {
        // Not a log line.
      }
    }
    return out;
  }
}

/** Fills ${NAME} for the given names only (what `envsubst '$A $B'` does); other $vars are nginx's. */
export function substitute(text: string, vars: Record<string, string>): string {
  return text.replace(/\$\{([A-Z_]+)\}/g, (m, k: string) => vars[k] ?? m);
}

/** nginx with ops/nginx/runcell.conf, in its own prefix dir (pid, logs, temp files). */
export function startNginx(
  dir: string,
  vars: {
    RUNCELL_LISTEN: string;
    RUNCELL_SERVER_NAME: string;
    RUNCELL_CONTENT_SERVER_NAME: string;
    RUNCELL_UPSTREAM: string;
    RUNCELL_WEB_DIST: string;
  },
): Proc {
  mkdirSync(join(dir, 'logs'), { recursive: true });
  writeFileSync(
    join(dir, 'runcell.conf'),
    substitute(readFileSync(join(REPO, 'ops/nginx/runcell.conf'), 'utf8'), vars),
  );
  // The wrapper is what Debian's /etc/nginx/nginx.conf provides; the site file is ops' own.
  writeFileSync(
    join(dir, 'nginx.conf'),
    [
      'daemon off;',
      'worker_processes 1;',
      `pid ${dir}/nginx.pid;`,
      `error_log ${dir}/logs/error.log warn;`,
      'events { worker_connections 4096; }',
      'http {',
      '  include /etc/nginx/mime.types;',
      '  default_type application/octet-stream;',
      `  access_log ${dir}/logs/access.log;`,
      `  client_body_temp_path ${dir}/body;`,
      `  proxy_temp_path ${dir}/proxy;`,
      `  fastcgi_temp_path ${dir}/fastcgi;`,
      `  uwsgi_temp_path ${dir}/uwsgi;`,
      `  scgi_temp_path ${dir}/scgi;`,
      `  include ${dir}/runcell.conf;`,
      '}',
      '',
    ].join('\n'),
  );
  execFileSync('nginx', ['-t', '-q', '-p', dir, '-e', `${dir}/logs/error.log`, '-c', `${dir}/nginx.conf`], {
    stdio: 'pipe',
  });
  return Proc.start('nginx', 'nginx', ['-p', dir, '-e', `${dir}/logs/error.log`, '-c', `${dir}/nginx.conf`]);
}

/** HAProxy with the config ops/haproxy/generate.sh writes for these instances. */
export function startHaproxy(dir: string, bind: string, instances: Instance[]): Proc {
  const cfg = execFileSync(
    join(REPO, 'ops/haproxy/generate.sh'),
    ['--bind', bind, '--no-chroot', ...instances.map((i) => `${i.name}=127.0.0.1:${i.port}`)],
    { encoding: 'utf8' },
  );
  const file = join(dir, 'haproxy.cfg');
  writeFileSync(file, cfg);
  execFileSync('haproxy', ['-c', '-q', '-f', file], { stdio: 'pipe' });
  return Proc.start('haproxy', 'haproxy', ['-db', '-f', file]);
}

/** HAProxy's log lines: which backend/server took which request, with the status. */
export function haproxyLog(
  p: Proc,
): { backend: string; server: string; status: number; method: string; path: string }[] {
  const out: { backend: string; server: string; status: number; method: string; path: string }[] = [];
  const re = / fe_runcell (\S+)\/(\S+) \S+ (\d{3}) .*"(\S+) (\S+) HTTP/;
  for (const l of p.lines) {
    const m = re.exec(l);
    if (m)
      out.push({
        backend: m[1] as string,
        server: m[2] as string,
        status: Number(m[3]),
        method: m[4] as string,
        path: m[5] as string,
      });
  }
  return out;
}
