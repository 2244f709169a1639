// Start-up reclaim: what a previous run of this instance left when it was killed (SIGKILL, OOM, a
// stop that ran out of time) before its kernels' teardown finished. An instance owns its runtime
// root and its uid range (several instances may share a host, each with its own), so everything of
// that range is a leftover when the sandbox is created, before any kernel of this run starts:
//   - processes of the range's uids (never a host account's uid in the range: those are never used);
//   - kernel cgroups u<uid> of the range, in every hierarchy (killed through cgroup.kill, then removed);
//   - mounts under the runtime root (per-kernel tmpfs), then its per-uid dirs and probe dirs.
// Nothing outside the range or the root is touched: another instance's kernels are safe.

import { execFile } from 'node:child_process';
import { readdir, readFile } from 'node:fs/promises';
import { promisify } from 'node:util';
import { type CgroupLayout, KernelCgroup } from './cgroups.js';
import { killUid, processOwners, removeTreeNoFollow } from './procs.js';

const run = promisify(execFile);

export interface Reclaimed {
  /** uid -> number of processes killed. */
  processes: Record<number, number>;
  cgroups: string[];
  mounts: string[];
  dirs: string[];
  /** What could not be reclaimed (its uid then stays unused: uids.ts skips uids with processes). */
  failed: string[];
}

export interface ReclaimScope {
  runtimeRoot: string;
  uidRange: readonly [number, number];
  /** uids in the range that belong to host accounts: never touched. */
  reserved: ReadonlySet<number>;
  layout: CgroupLayout;
}

const unescapeOctal = (p: string) =>
  p.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8)));

/** Mount points at or under `root`, deepest first. */
async function mountsUnder(root: string): Promise<string[]> {
  const text = await readFile('/proc/self/mountinfo', 'utf8');
  const out = new Set<string>();
  for (const line of text.split('\n')) {
    const mp = line.split(' ')[4];
    if (!mp) continue;
    const p = unescapeOctal(mp);
    if (p.startsWith(`${root}/`)) out.add(p);
  }
  return [...out].sort((a, b) => b.length - a.length);
}

export function isReclaimEmpty(r: Reclaimed): boolean {
  return (
    Object.keys(r.processes).length + r.cgroups.length + r.mounts.length + r.dirs.length + r.failed.length ===
    0
  );
}

export async function reclaim(scope: ReclaimScope): Promise<Reclaimed> {
  const [lo, hi] = scope.uidRange;
  const ours = (uid: number) => uid >= lo && uid <= hi && !scope.reserved.has(uid);
  const out: Reclaimed = { processes: {}, cgroups: [], mounts: [], dirs: [], failed: [] };
  // Processes first: they hold the mounts and fill the cgroups.
  for (const [uid, pids] of await processOwners()) {
    if (!ours(uid)) continue;
    const left = await killUid(uid);
    out.processes[uid] = pids.length;
    if (left.length > 0) out.failed.push(`uid ${uid}: pids ${left.join(' ')} survived SIGKILL`);
  }
  for (const name of await KernelCgroup.existing(scope.layout)) {
    const m = /^u(\d+)$/.exec(name);
    if (!m || !ours(Number(m[1]))) continue;
    try {
      await KernelCgroup.removeLeftover(scope.layout, name);
      out.cgroups.push(name);
    } catch (e) {
      out.failed.push(`cgroup ${name}: ${(e as Error).message}`);
    }
  }
  const root = scope.runtimeRoot;
  for (const mp of await mountsUnder(root)) {
    try {
      await run('/usr/bin/umount', ['-l', mp], { env: {} });
      out.mounts.push(mp);
    } catch (e) {
      out.failed.push(`mount ${mp}: ${(e as Error).message}`);
    }
  }
  let entries: string[] = [];
  try {
    entries = await readdir(root);
  } catch {
    // no root yet
  }
  for (const name of entries) {
    const uid = /^\d+$/.test(name) ? Number(name) : undefined;
    if (!(uid !== undefined && ours(uid)) && !/^probe-\d+$/.test(name)) continue;
    try {
      await removeTreeNoFollow(`${root}/${name}`);
      out.dirs.push(`${root}/${name}`);
    } catch (e) {
      out.failed.push(`dir ${root}/${name}: ${(e as Error).message}`);
    }
  }
  return out;
}
