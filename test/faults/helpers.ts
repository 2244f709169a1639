// Shared by the fault suite: the real server (server/main.ts, as `npm start` runs it) as a child
// process on a uid block of its own, its log lines, and the host-side leak checks every fault ends
// with: processes of the block's uids, per-kernel mounts under its runtime root, its kernel cgroups
// in every hierarchy, and what is left in the runtime root. Slots 110-119: uids 65000 + 100*slot,
// runtime root /run/rc-s<slot>.
import { type ChildProcess, spawn } from 'node:child_process';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';

export const TOKEN = 'faults-token-0123456789abcdef';
export const auth = { authorization: `token ${TOKEN}` };
export const jsonHeaders = { ...auth, 'content-type': 'application/json' };

export const uidBlock = (slot: number): [number, number] => [65_000 + slot * 100, 65_000 + slot * 100 + 99];
export const runtimeRoot = (slot: number) => `/run/rc-s${slot}`;

export interface ServerProcess {
  base: string;
  child: ChildProcess;
  /** Every log line so far, parsed. */
  lines(): Record<string, unknown>[];
  /** Resolves with the exit code (null: killed by a signal). */
  exited: Promise<number | null>;
}

const MAIN = fileURLToPath(new URL('../../server/main.ts', import.meta.url));

/** server/main.ts as its own process, configured from the environment like `npm start`. */
export async function startServerProcess(
  slot: number,
  env: Record<string, string>,
  cleanups: (() => unknown)[],
): Promise<ServerProcess> {
  const [lo, hi] = uidBlock(slot);
  const child = spawn(process.execPath, ['--import', 'tsx', MAIN], {
    env: {
      PATH: process.env.PATH,
      HOST: '127.0.0.1',
      PORT: '0',
      RUNCELL_LOG_LEVEL: 'info',
      RUNCELL_TOKENS: TOKEN,
      RUNCELL_POOL_SIZE: '1',
      RUNCELL_SANDBOX_UID_RANGE: `${lo}-${hi}`,
      RUNCELL_SANDBOX_RUNTIME_ROOT: runtimeRoot(slot),
      RUNCELL_INSTANCE_ID: `faults-${slot}`,
      ...env,
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
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  const lines = () =>
    out
      .split('\n')
      .filter((l) => l.startsWith('{'))
      .map((l) => JSON.parse(l) as Record<string, unknown>);
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
      reject(new Error(`the server exited early: ${out.slice(-3000)}`));
    });
  });
  return { base, child, lines, exited };
}

/** pids of live (non-zombie) processes owned by any uid of the slot's block, with their names. */
/** Live processes any of whose uids is in the slot's block: pid, name and that uid. */
function blockMembers(slot: number): { pid: string; name: string; uid: number }[] {
  const [lo, hi] = uidBlock(slot);
  const found: { pid: string; name: string; uid: number }[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      if (/^State:\s+[ZX]/m.test(status)) continue;
      const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/).map(Number) ?? [];
      const uid = uids.find((u) => u >= lo && u <= hi);
      if (uid !== undefined) found.push({ pid: d, name: /^Name:\s+(.*)$/m.exec(status)?.[1] ?? '', uid });
    } catch {
      // exited meanwhile
    }
  }
  return found;
}

export function blockProcesses(slot: number): string[] {
  return blockMembers(slot).map((m) => `${m.pid} ${m.name}`);
}

/** How many kernels of the slot have processes (one uid per kernel). */
export function blockKernels(slot: number): number {
  return new Set(blockMembers(slot).map((m) => m.uid)).size;
}

/** Mount points under the slot's runtime root. */
export function blockMounts(slot: number): string[] {
  const root = `${runtimeRoot(slot)}/`;
  return readFileSync('/proc/self/mountinfo', 'utf8')
    .split('\n')
    .map((l) => l.split(' ')[4] ?? '')
    .filter((p) => p.startsWith(root));
}

const CGROUP_PARENTS = [
  '/sys/fs/cgroup/runcell',
  '/sys/fs/cgroup/unified/runcell',
  '/sys/fs/cgroup/memory/runcell',
  '/sys/fs/cgroup/pids/runcell',
];

/** Kernel cgroups (u<uid>) of the slot's block, in every hierarchy. */
export function blockCgroups(slot: number): string[] {
  const [lo, hi] = uidBlock(slot);
  const out: string[] = [];
  for (const parent of CGROUP_PARENTS) {
    if (!existsSync(parent)) continue;
    for (const name of readdirSync(parent)) {
      const m = /^u(\d+)$/.exec(name);
      if (m && Number(m[1]) >= lo && Number(m[1]) <= hi) out.push(`${parent}/${name}`);
    }
  }
  return out;
}

/** Entries left in the slot's runtime root (per-kernel dirs, probe dirs). */
export function blockDirs(slot: number): string[] {
  const root = runtimeRoot(slot);
  return existsSync(root) ? readdirSync(root).map((n) => `${root}/${n}`) : [];
}

export interface Leftovers {
  processes: string[];
  mounts: string[];
  cgroups: string[];
  dirs: string[];
}

export function leftovers(slot: number): Leftovers {
  return {
    processes: blockProcesses(slot),
    mounts: blockMounts(slot),
    cgroups: blockCgroups(slot),
    dirs: blockDirs(slot),
  };
}

export const NOTHING: Leftovers = { processes: [], mounts: [], cgroups: [], dirs: [] };

/** Polls `fn` until it returns true, at most `ms` (a bound against hangs, not a timing). */
export async function until(fn: () => boolean | Promise<boolean>, ms: number, what: string): Promise<void> {
  const deadline = Date.now() + ms;
  while (!(await fn())) {
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

/** Open file descriptors of a process (the test's own leak check). */
export function fdCount(pid: number | 'self' = 'self'): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

export interface JobView {
  id: string;
  state: string;
  reason: string | null;
  history?: { state: string; reason: string | null }[];
}

export async function submit(base: string, jobs: { code: string; name?: string }[]): Promise<JobView[]> {
  const r = await fetch(`${base}/api/jobs`, {
    method: 'POST',
    headers: jsonHeaders,
    body: JSON.stringify({ jobs }),
  });
  if (r.status !== 202) throw new Error(`submit: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { jobs: JobView[] }).jobs;
}

export async function job(base: string, id: string): Promise<JobView> {
  const r = await fetch(`${base}/api/jobs/${id}`, { headers: auth });
  if (r.status !== 200) throw new Error(`job ${id}: ${r.status} ${await r.text()}`);
  return (await r.json()) as JobView;
}
