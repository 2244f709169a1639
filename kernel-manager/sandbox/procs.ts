// Host process bookkeeping for the sandbox: which processes a uid owns, killing them all, and removing
// a directory a kernel could write without ever following a link it planted.
import { closeSync, openSync, readdirSync, readSync } from 'node:fs';
import { lstat, readdir, rm, rmdir } from 'node:fs/promises';
import { setTimeout as sleep } from 'node:timers/promises';

/**
 * Pids of every live (non-zombie) host process any of whose uids (real, effective, saved, fs) is `uid`.
 * Reads /proc/<pid>/status; processes that vanish while we read are skipped.
 */
export async function processesOfUid(uid: number): Promise<number[]> {
  const owners = await processOwners();
  return owners.get(uid) ?? [];
}

/** Large enough for any /proc/<pid>/status (about 1.5 KB; the Uid line comes in its first 600 bytes). */
const STATUS_BYTES = 4096;
const statusBuf = Buffer.allocUnsafe(STATUS_BYTES);

/**
 * uid -> pids, for every live process on the host (any of its four uids counts; zombies do not).
 * Synchronous on purpose: one reused buffer and three syscalls per process take about 2 ms for 150
 * processes, where the promise API (a FileHandle and four thread-pool round trips per file) took 10x
 * the CPU and held up the server's other file work while kernels started and stopped.
 */
export async function processOwners(): Promise<Map<number, number[]>> {
  const out = new Map<number, number[]>();
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    const status = readStatus(name);
    if (status === undefined) continue; // exited meanwhile
    // A zombie runs nothing and holds nothing but its pid; it goes once its (new) parent reaps it,
    // which for an orphaned sandbox is the host's pid 1, on its own schedule.
    if (/^State:\s+[ZX]/m.test(status)) continue;
    const m = /^Uid:\s+(\d+)\s+(\d+)\s+(\d+)\s+(\d+)/m.exec(status);
    if (!m) continue;
    const pid = Number(name);
    for (const u of new Set(m.slice(1, 5).map(Number))) {
      const list = out.get(u);
      if (list) list.push(pid);
      else out.set(u, [pid]);
    }
  }
  return out;
}

function readStatus(pid: string): string | undefined {
  let fd: number;
  try {
    fd = openSync(`/proc/${pid}/status`, 'r');
  } catch {
    return undefined;
  }
  try {
    return statusBuf.toString('latin1', 0, readSync(fd, statusBuf, 0, STATUS_BYTES, 0));
  } catch {
    return undefined; // ESRCH: it exited between open and read
  } finally {
    closeSync(fd);
  }
}

function killQuietly(pid: number): void {
  try {
    process.kill(pid, 'SIGKILL');
  } catch {
    // ESRCH: already gone
  }
}

/**
 * SIGKILLs every process of `uid` until none is left or `timeoutMs` passes; returns the survivors.
 * A killed process still needs CPU to exit: on a saturated host that can take seconds, and giving
 * up early would keep its uid from reuse until a restart.
 * Killing from outside (root, by pid) means a kernel cannot dodge it by changing namespace, session
 * or process group; RLIMIT_NPROC on the uid bounds how fast it can fork new ones meanwhile.
 */
export async function killUid(uid: number, timeoutMs = 10_000): Promise<number[]> {
  if (uid === 0) throw new Error('refusing to kill processes of uid 0');
  const deadline = Date.now() + timeoutMs;
  for (let round = 0; ; round++) {
    const pids = await processesOfUid(uid);
    if (pids.length === 0) return [];
    for (const pid of pids) killQuietly(pid);
    if (Date.now() > deadline) return pids;
    await sleep(Math.min(5 * (round + 1), 50));
  }
}

/** SIGKILLs each pid (a cgroup's member list). */
export function killAll(pids: readonly number[]): void {
  for (const pid of pids) killQuietly(pid);
}

/**
 * Removes `dir` and everything under it without following symlinks: a symlink is unlinked, never
 * entered, so a kernel that planted `link -> /etc/important` cannot make us delete its target.
 * Callers make sure nothing of the kernel is still running (no one can swap entries meanwhile).
 */
export async function removeTreeNoFollow(dir: string): Promise<void> {
  let st: Awaited<ReturnType<typeof lstat>>;
  try {
    st = await lstat(dir);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code === 'ENOENT') return;
    throw e;
  }
  if (!st.isDirectory()) {
    // Not what we created (a link or a file put in its place): remove the entry itself only.
    await rm(dir, { force: true });
    return;
  }
  for (const name of await readdir(dir)) {
    const p = `${dir}/${name}`;
    const s = await lstat(p);
    if (s.isDirectory()) await removeTreeNoFollow(p);
    else await rm(p, { force: true }); // unlinks files, sockets and symlinks (not their targets)
  }
  await rmdir(dir);
}
