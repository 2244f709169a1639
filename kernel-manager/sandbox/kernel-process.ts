// One sandboxed kernel as kernel.ts sees it (SandboxedProcess), and the teardown that does not trust
// namespace teardown: kill the cgroups and every process of the uid, check nothing is left, then
// remove the cgroups and runtime dir and give the uid back.
import type { ChildProcess } from 'node:child_process';
import { readFileSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import type { KernelCgroup } from './cgroups.js';
import { killUid } from './procs.js';
import type { RuntimeDir } from './runtime.js';
import { type OutputTail, signalName } from './tail.js';
import type { ExitInfo, SandboxedProcess } from './types.js';

/** Everything a kernel holds on the host. */
export interface KernelHandle {
  uid: number;
  cgroup?: KernelCgroup;
  runtime?: RuntimeDir;
  cpuSeconds: number;
  /** Gives the uid back to the allocator. */
  release(): void;
}

/** Kills everything of `h`, verifies, and frees it. Throws (keeping the uid) if processes survive. */
export async function teardown(h: KernelHandle): Promise<void> {
  const survivors = new Set<number>(await (h.cgroup?.kill() ?? Promise.resolve([])));
  // killUid returns only after a /proc scan found none of the uid's processes (or the survivors).
  for (const pid of await killUid(h.uid)) survivors.add(pid);
  if (survivors.size > 0) {
    // The uid stays allocated: handing it to a new kernel would share it with the survivors.
    throw new Error(`kernel processes survived the kill (uid ${h.uid}, pids ${[...survivors].join(' ')})`);
  }
  await h.cgroup?.destroy();
  await h.runtime?.remove();
  h.release();
}

/** Host pid of the first child of `ppid` (bubblewrap's pid 1 runs the kernel as its only child). */
function firstChild(ppid: number): number | undefined {
  try {
    const kids = readFileSync(`/proc/${ppid}/task/${ppid}/children`, 'utf8').trim().split(/\s+/);
    return kids[0] ? Number(kids[0]) : undefined;
  } catch {
    return undefined;
  }
}

const BWRAP = '/usr/bin/bwrap';

/** Device and inode of the file at `path` (following links: /proc/<pid>/exe is the running binary). */
function fileId(path: string): string | undefined {
  try {
    const st = statSync(path);
    return `${st.dev}:${st.ino}`;
  } catch {
    return undefined; // gone, or not yet readable
  }
}

function ownedBy(pid: number, uid: number): boolean {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1]) === uid;
  } catch {
    return false;
  }
}

export class KernelProcess implements SandboxedProcess {
  readonly kernelId: string;
  readonly exited: Promise<ExitInfo>;
  readonly #child: ChildProcess;
  readonly #tail: OutputTail;
  readonly #h: KernelHandle;
  #pid: number | undefined;
  #hasExited = false;
  #destroying: Promise<void> | undefined;

  foreground(): Promise<void> {
    return this.#h.cgroup?.setBackground(false) ?? Promise.resolve();
  }

  constructor(kernelId: string, child: ChildProcess, tail: OutputTail, h: KernelHandle) {
    this.kernelId = kernelId;
    this.#child = child;
    this.#tail = tail;
    this.#h = h;
    this.exited = new Promise((resolve) => {
      const done = (code: number | null, sig: NodeJS.Signals | null) => {
        this.#hasExited = true;
        resolve(this.#exitInfo(code, sig));
      };
      // What it wrote last is read before the exit is told (a start-up failure's traceback).
      child.once('exit', (code, sig) => {
        this.#hasExited = true;
        void tail.ended(250).then(() => done(code, sig));
      });
      child.once('error', () => done(null, null)); // spawn failure: no 'exit' follows
    });
  }

  get pid(): number | undefined {
    return this.#pid;
  }

  get uid(): number {
    return this.#h.uid;
  }

  get ipcPrefix(): string {
    return this.#h.runtime?.ipcPrefix ?? '';
  }

  #exitInfo(code: number | null, sig: NodeJS.Signals | null): ExitInfo {
    // bubblewrap's pid 1 reports a signalled kernel as 128 + signal.
    const signal = sig ?? (code !== null && code > 128 ? (signalName(code - 128) ?? null) : null);
    const info: ExitInfo = { code: signal && !sig ? null : code, signal };
    if (this.#destroying) return info; // we killed it: the caller knows why
    const limit = this.#h.cgroup?.limitHit();
    if (limit?.startsWith('memory')) info.reason = limit;
    else if (signal === 'SIGXCPU') info.reason = `CPU time limit of ${this.#h.cpuSeconds} s reached`;
    return info;
  }

  /**
   * Waits for bubblewrap's pid 1 (`init`, from --info-fd) to start the kernel, until the kernel's
   * start-up deadline (a fixed few seconds failed starts on a loaded machine); records its pid.
   * The child exists before it is set up: bubblewrap forks it, and only then does the child drop
   * what is left of its privileges, load the seccomp filter and exec the command. So the pid counts
   * only once the child has exec'd (its executable is no longer bubblewrap): before that, a host-side
   * check of it (zygote.ts verifyFork) or a fork entering its sandbox would race that set-up.
   */
  async attach(init: number, deadline: number): Promise<void> {
    const bwrap = fileId(BWRAP);
    for (;;) {
      if (this.#hasExited) throw new Error('the sandbox exited during set-up');
      const pid = firstChild(init);
      if (pid !== undefined) {
        const exe = fileId(`/proc/${pid}/exe`);
        if (exe !== undefined && exe !== bwrap) {
          this.#pid = pid;
          return;
        }
      }
      if (Date.now() > deadline) throw new Error('the kernel process did not appear in the sandbox');
      await sleep(2);
    }
  }

  signal(sig: NodeJS.Signals): void {
    const pid = this.#pid;
    // Only while the tree is alive and the pid is still the kernel's (never a recycled pid).
    if (pid === undefined || this.#hasExited || this.#destroying || !ownedBy(pid, this.#h.uid)) return;
    try {
      process.kill(pid, sig);
    } catch {
      // exited meanwhile
    }
  }

  limitHit(): string | undefined {
    return this.#h.cgroup?.limitHit();
  }

  /** The last few KiB the kernel wrote to stdout and stderr. */
  output(): string {
    return this.#tail.text();
  }

  destroy(): Promise<void> {
    this.#destroying ??= (async () => {
      // The chain's top process first: a launch given up early (its deadline passed) may still be in
      // the root part of the chain, where neither the kernel's cgroups nor its uid reach it yet, and
      // would go on to start the kernel after the uid was freed.
      if (!this.#hasExited) this.#child.kill('SIGKILL');
      await teardown(this.#h);
      // Everything is dead; let Node reap the top process so `exited` settles.
      if (!this.#hasExited && this.#child.exitCode === null && this.#child.signalCode === null) {
        await Promise.race([this.exited, sleep(2000)]);
      }
    })();
    const p = this.#destroying;
    // A failed teardown may be retried by calling destroy() again.
    p.catch(() => {
      if (this.#destroying === p) this.#destroying = undefined;
    });
    return p;
  }
}
