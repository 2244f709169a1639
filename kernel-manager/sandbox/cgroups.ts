// Per-kernel cgroups. Production hosts: cgroup v2 at /sys/fs/cgroup with the memory and pids
// controllers. Hybrid hosts (like CI): v1 memory and pids hierarchies, plus a controller-less v2
// hierarchy at /sys/fs/cgroup/unified that still offers cgroup.kill. Each kernel gets
// <hierarchy>/<parent>/u<uid>; the launcher writes its own pid into every cgroup.procs before it execs
// anything, so nothing of the kernel ever runs outside its cgroups.
//
// CPU: kernels also get a cgroup each in the cpu hierarchy (v2 `+cpu`, or v1 `cpu`), so they share the
// CPU equally whatever their thread count, under a parent that weighs as one ordinary process per core:
// however many kernels are busy, the server keeps at least 1/(cores + 1) of the machine, and kernels
// keep theirs against any other busy process. Without it, every kernel is a new session (bubblewrap's
// --new-session) and session autogroups (CONFIG_SCHED_AUTOGROUP, on by default in Debian's and most
// kernels) weighed each one as much as the whole server, whatever its niceness: a task outside the
// root cpu group is not scheduled by autogroup. (A fixed nice-10 weight for all kernels together was
// tried: the server kept all its CPU, but two other busy processes on the host slowed a kernel's
// start 8-fold.)
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { mkdir, readdir, readFile, rmdir, writeFile } from 'node:fs/promises';
import { availableParallelism } from 'node:os';
import { setTimeout as sleep } from 'node:timers/promises';
import { moveAll } from './cgroup-mover.js';
import { killAll } from './procs.js';

const ROOT = '/sys/fs/cgroup';

export interface CgroupLimits {
  memoryBytes: number;
  pids: number;
}

export interface CgroupLayout {
  /** cgroup v2 directory holding the kernel cgroups (memory/pids limits only if `v2Limits`). */
  v2?: string;
  v2Limits: boolean;
  /** cgroup v1 memory and pids parents. */
  v1Memory?: string;
  v1Pids?: string;
  /**
   * The kernels' cpu parent: the v2 directory (cpu controller on) or the v1 cpu one. On v1, `poolDir`
   * is a second parent beside it, for kernels starting for the pool (see STARTING_WEIGHT).
   */
  cpu?: { dir: string; v2: boolean; poolDir?: string };
}

/** The kernels' parent weighs as this many nice-0 processes: one per core. */
const KERNELS_WEIGHT = availableParallelism();
/**
 * All kernels starting for the pool, together, weigh as a quarter of one nice-0 process, in a parent
 * of their own beside the kernels' (v1 cpu hierarchy): a refill yields to the server and to the
 * kernels visitors use, and still runs at full speed on a core nothing else wants. Inside the kernels'
 * parent a starting kernel's own low weight did not help: alone in that parent it weighed as the
 * whole parent, more than the server. Handed out, a kernel moves to the kernels' parent
 * (setBackground(false)). On cgroup v2 a move would leave the kernel's memory charged to the old
 * cgroup, so there a starting kernel keeps a quarter of a kernel's weight inside the kernels' parent.
 */
const STARTING_SHARES = 256;

const mib = (n: number) => `${Math.round(n / 2 ** 20)} MiB`;

async function tryWrite(file: string, value: string): Promise<boolean> {
  try {
    await writeFile(file, value);
    return true;
  } catch {
    return false;
  }
}

async function readText(file: string): Promise<string | undefined> {
  try {
    return await readFile(file, 'utf8');
  } catch {
    return undefined;
  }
}

function readSync(file: string): string | undefined {
  try {
    return readFileSync(file, 'utf8');
  } catch {
    return undefined;
  }
}

/** Value of `key N` in a flat-keyed cgroup file (memory.events, pids.events, memory.oom_control). */
export function keyed(text: string | undefined, key: string): number | undefined {
  const m = text && new RegExp(`^${key} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : undefined;
}

/**
 * Finds what this host lets us use and creates the `parent` cgroups; the kernels as a whole weigh on
 * the CPU as one process per core. Never throws.
 */
export async function detectCgroups(parent: string): Promise<CgroupLayout> {
  const layout: CgroupLayout = { v2Limits: false };
  const pureV2 = existsSync(`${ROOT}/cgroup.controllers`);
  const v2Root = pureV2 ? ROOT : existsSync(`${ROOT}/unified/cgroup.procs`) ? `${ROOT}/unified` : undefined;
  if (v2Root) {
    const dir = `${v2Root}/${parent}`;
    try {
      await mkdir(dir, { recursive: true });
      if (existsSync(`${dir}/cgroup.kill`)) {
        layout.v2 = dir;
        const offered = (await readText(`${v2Root}/cgroup.controllers`)) ?? '';
        if (/\bmemory\b/.test(offered) && /\bpids\b/.test(offered)) {
          // Controllers must be enabled on every level down to the kernel cgroups' parent.
          await tryWrite(`${v2Root}/cgroup.subtree_control`, '+memory +pids');
          await tryWrite(`${dir}/cgroup.subtree_control`, '+memory +pids');
          const enabled = (await readText(`${dir}/cgroup.subtree_control`)) ?? '';
          layout.v2Limits = /\bmemory\b/.test(enabled) && /\bpids\b/.test(enabled);
        }
        if (/\bcpu\b/.test(offered)) {
          await tryWrite(`${v2Root}/cgroup.subtree_control`, '+cpu');
          await tryWrite(`${dir}/cgroup.subtree_control`, '+cpu');
          const enabled = (await readText(`${dir}/cgroup.subtree_control`)) ?? '';
          // cpu.weight 100 is a nice-0 process's (at most 10000).
          if (
            /\bcpu\b/.test(enabled) &&
            (await tryWrite(`${dir}/cpu.weight`, String(Math.min(10_000, 100 * KERNELS_WEIGHT))))
          )
            layout.cpu = { dir, v2: true };
        }
      }
    } catch {
      // not writable: no v2
    }
  }
  if (!layout.v2Limits && !pureV2) {
    for (const [ctl, probe, key] of [
      ['memory', 'memory.limit_in_bytes', 'v1Memory'],
      ['pids', 'pids.max', 'v1Pids'],
    ] as const) {
      const dir = `${ROOT}/${ctl}/${parent}`;
      try {
        await mkdir(dir, { recursive: true });
        if (existsSync(`${dir}/${probe}`)) layout[key] = dir;
      } catch {
        // not writable
      }
    }
  }
  if (!layout.cpu && !pureV2) {
    const dir = `${ROOT}/cpu/${parent}`;
    try {
      await mkdir(dir, { recursive: true });
      // cpu.shares 1024 is a nice-0 process's.
      if (await tryWrite(`${dir}/cpu.shares`, String(1024 * KERNELS_WEIGHT))) {
        layout.cpu = { dir, v2: false };
        const poolDir = `${ROOT}/cpu/${parent}-starting`;
        await mkdir(poolDir, { recursive: true });
        if (await tryWrite(`${poolDir}/cpu.shares`, String(STARTING_SHARES))) layout.cpu.poolDir = poolDir;
      }
    } catch {
      // not writable
    }
  }
  return layout;
}

/** Report lines describing what the layout enforces. */
export function describeCgroups(layout: CgroupLayout, limits: CgroupLimits): string[] {
  const lines: string[] = [];
  if (layout.v2Limits) {
    lines.push(`cgroup v2 ${layout.v2}: memory ${mib(limits.memoryBytes)} (no swap), ${limits.pids} pids`);
  } else {
    if (layout.v1Memory)
      lines.push(`cgroup v1 memory ${layout.v1Memory}: ${mib(limits.memoryBytes)} (no swap)`);
    else lines.push('cgroup memory limit: NOT available on this host (RLIMIT_AS only)');
    if (layout.v1Pids) lines.push(`cgroup v1 pids ${layout.v1Pids}: ${limits.pids} pids`);
    else lines.push('cgroup pids limit: NOT available on this host (RLIMIT_NPROC only)');
  }
  lines.push(
    layout.cpu
      ? `cgroup ${layout.cpu.v2 ? 'v2' : 'v1'} cpu ${layout.cpu.dir}: kernels weigh as one process per core, one cgroup each` +
          (layout.cpu.poolDir
            ? `; kernels starting for the pool weigh as a quarter of one process together (${layout.cpu.poolDir})`
            : '')
      : 'cgroup cpu: NOT available on this host (niceness only; with session autogroups it barely counts)',
  );
  lines.push(
    layout.v2
      ? `cgroup v2 ${layout.v2}: cgroup.kill for cleanup`
      : 'cgroup.kill: not available (cleanup kills cgroup members and every process of the uid)',
  );
  return lines;
}

/**
 * The parents kernel cgroups are made under, once each (v2's cpu parent is its only v2 one); with
 * `starting`, the cpu parent of kernels starting for the pool in place of the kernels' one.
 */
function uniqueDirs(layout: CgroupLayout, starting = false): string[] {
  const cpu = starting ? (layout.cpu?.poolDir ?? layout.cpu?.dir) : layout.cpu?.dir;
  const dirs = [layout.v2, layout.v1Memory, layout.v1Pids, cpu];
  return [...new Set(dirs.filter((d): d is string => d !== undefined))];
}

export class KernelCgroup {
  /** Every cgroup the kernel's processes may be in (while moving out of the pool's parent: both). */
  #dirs: string[];
  /** Its cgroup under the pool's cpu parent, until it is handed out (v1 only). */
  #startingDir: string | undefined;
  /** The move out of the pool's cpu parent, while it runs. */
  #leaving: Promise<void> | undefined;
  readonly #layout: CgroupLayout;
  readonly #limits: CgroupLimits;
  readonly #name: string;

  private constructor(layout: CgroupLayout, name: string, limits: CgroupLimits, starting = false) {
    this.#layout = layout;
    this.#name = name;
    this.#limits = limits;
    this.#dirs = uniqueDirs(layout, starting).map((d) => `${d}/${name}`);
    if (starting && layout.cpu?.poolDir) this.#startingDir = `${layout.cpu.poolDir}/${name}`;
  }

  /**
   * Creates the kernel's cgroups (replacing a leftover of a crashed run) and applies the limits; a
   * `background` kernel (starting for the pool) yields the CPU until setBackground(false).
   */
  static async create(
    layout: CgroupLayout,
    name: string,
    limits: CgroupLimits,
    background = false,
  ): Promise<KernelCgroup> {
    await KernelCgroup.removeLeftover(layout, name);
    const cg = new KernelCgroup(layout, name, limits, background);
    for (const d of cg.#dirs) await mkdir(d);
    const set = async (file: string, value: number | string) => {
      try {
        await writeFile(file, String(value));
      } catch (e) {
        throw new Error(`cannot set ${file}`, { cause: e });
      }
    };
    const v2 = layout.v2 && `${layout.v2}/${name}`;
    if (v2 && layout.v2Limits) {
      await set(`${v2}/memory.max`, limits.memoryBytes);
      if (existsSync(`${v2}/memory.swap.max`)) await set(`${v2}/memory.swap.max`, 0);
      await set(`${v2}/memory.oom.group`, 1); // an OOM kills the whole kernel, not a random child
      await set(`${v2}/pids.max`, limits.pids);
    }
    if (layout.v1Memory) {
      const d = `${layout.v1Memory}/${name}`;
      await set(`${d}/memory.limit_in_bytes`, limits.memoryBytes);
      if (existsSync(`${d}/memory.memsw.limit_in_bytes`))
        await set(`${d}/memory.memsw.limit_in_bytes`, limits.memoryBytes);
    }
    if (layout.v1Pids) await set(`${layout.v1Pids}/${name}/pids.max`, limits.pids);
    if (background && !cg.#startingDir) await cg.setBackground(true);
    return cg;
  }

  /**
   * A kernel starting for the pool yields the CPU (background), or has a kernel's full CPU weight. On
   * v1, going to the foreground moves the kernel's processes from the pool's cpu parent to the
   * kernels' one, on the cgroup mover's thread (cgroup-mover.ts: each move waits in the kernel, off
   * the event loop); on v2, a starting kernel has a quarter of a kernel's weight (one synchronous
   * write, well under a millisecond, not queued in libuv's thread pool behind refills' file work).
   */
  setBackground(background: boolean): Promise<void> {
    const cpu = this.#layout.cpu;
    if (!cpu) return Promise.resolve();
    if (this.#startingDir) {
      if (background) return Promise.resolve();
      this.#leaving ??= this.#leavePool(cpu.dir).finally(() => {
        this.#leaving = undefined;
      });
      return this.#leaving;
    }
    const [file, full] = cpu.v2 ? ['cpu.weight', 100] : ['cpu.shares', 1024];
    const value = String(background ? full / 4 : full);
    try {
      writeFileSync(`${cpu.dir}/${this.#name}/${file}`, value);
    } catch (e) {
      return Promise.reject(new Error(`cannot set ${cpu.dir}/${this.#name}/${file}`, { cause: e }));
    }
    return Promise.resolve();
  }

  /**
   * Moves every process from the kernel's cgroup under the pool's cpu parent to one under the kernels'
   * parent, then removes the old one. Both stay in #dirs until the old one is gone, so a kill
   * meanwhile finds every process.
   */
  async #leavePool(cpuParent: string): Promise<void> {
    const from = this.#startingDir as string;
    const to = `${cpuParent}/${this.#name}`;
    if (!this.#dirs.includes(to)) this.#dirs = [...this.#dirs.filter((d) => d !== from), to, from];
    const { stuck, removed } = await moveAll(from, to);
    if (stuck.length > 0) throw new Error(`processes ${stuck.join(' ')} stayed in ${from}`);
    if (!removed) return; // still busy (a process being reaped): destroy() removes it with the rest
    this.#dirs = this.#dirs.filter((d) => d !== from);
    this.#startingDir = undefined;
  }

  /** Kills and removes a cgroup `name` a previous run left in any hierarchy of `layout` (reclaim.ts). */
  static async removeLeftover(layout: CgroupLayout, name: string): Promise<void> {
    const cg = new KernelCgroup(layout, name, { memoryBytes: 0, pids: 0 });
    const pool = layout.cpu?.poolDir;
    if (pool) cg.#dirs.push(`${pool}/${name}`);
    if (cg.#dirs.some((d) => existsSync(d))) await cg.destroy();
  }

  /** Names of the kernel cgroups that exist under `layout`'s parents, in any hierarchy. */
  static async existing(layout: CgroupLayout): Promise<string[]> {
    const names = new Set<string>();
    const pool = layout.cpu?.poolDir;
    for (const d of [...uniqueDirs(layout), ...(pool ? [pool] : [])]) {
      try {
        for (const e of await readdir(d, { withFileTypes: true })) if (e.isDirectory()) names.add(e.name);
      } catch {
        // gone
      }
    }
    return [...names];
  }

  /** The cgroup.procs files the launcher joins before exec'ing the kernel. */
  get procsFiles(): string[] {
    return this.#dirs.map((d) => `${d}/cgroup.procs`);
  }

  /** Every pid in any of the kernel's cgroups. */
  async members(): Promise<number[]> {
    const pids = new Set<number>();
    for (const d of this.#dirs) {
      for (const line of ((await readText(`${d}/cgroup.procs`)) ?? '').split('\n')) {
        if (line) pids.add(Number(line));
      }
    }
    return [...pids];
  }

  /** Says which cgroup limit the kernel ran into, if any (synchronous: a few tiny sysfs reads). */
  limitHit(): string | undefined {
    const v2 = this.#layout.v2Limits ? `${this.#layout.v2}/${this.#name}` : undefined;
    const mem = this.#layout.v1Memory && `${this.#layout.v1Memory}/${this.#name}`;
    const pids = v2 ?? (this.#layout.v1Pids && `${this.#layout.v1Pids}/${this.#name}`);
    let oom = 0;
    if (v2) oom = keyed(readSync(`${v2}/memory.events`), 'oom_kill') ?? 0;
    if (mem) {
      // oom_kill appeared in Linux 4.13; before that, a failed charge at the limit is the best sign.
      oom =
        keyed(readSync(`${mem}/memory.oom_control`), 'oom_kill') ??
        Number(readSync(`${mem}/memory.failcnt`) ?? 0);
    }
    if (oom > 0) return `memory limit of ${mib(this.#limits.memoryBytes)} reached`;
    if (pids && (keyed(readSync(`${pids}/pids.events`), 'max') ?? 0) > 0) {
      return `process limit of ${this.#limits.pids} reached`;
    }
    return undefined;
  }

  /**
   * Kills every member (cgroup.kill where offered) until the cgroups are empty or time runs out. A
   * pool kernel's quarter weight goes first: dying takes CPU too, and a starved one died in seconds.
   */
  async kill(timeoutMs = 10_000): Promise<number[]> {
    const deadline = Date.now() + timeoutMs;
    await this.setBackground(false).catch(() => undefined); // a leftover may have no cpu cgroup
    for (let round = 0; ; round++) {
      if (this.#layout.v2) await tryWrite(`${this.#layout.v2}/${this.#name}/cgroup.kill`, '1');
      const left = await this.members();
      if (left.length === 0) return [];
      killAll(left);
      if (Date.now() > deadline) return left;
      await sleep(Math.min(5 * (round + 1), 50));
    }
  }

  /** Kills what is left and removes the cgroups. */
  async destroy(): Promise<void> {
    await this.kill();
    for (const d of this.#dirs) {
      for (let i = 0; existsSync(d); i++) {
        try {
          await rmdir(d);
        } catch (e) {
          // EBUSY while the last members are being reaped.
          if (i > 100) throw new Error(`cannot remove cgroup ${d}`, { cause: e });
          await sleep(10);
        }
      }
    }
  }
}
