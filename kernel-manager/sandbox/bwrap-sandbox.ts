// The full sandbox (mode 'bwrap'): checks what the host offers at creation, fails closed, and launches
// each kernel with its own uid, runtime dir, cgroups, bubblewrap arguments, rlimits and seccomp filter.
// Kept apart from index.ts so the fork-server (zygote.ts) can build on it without an import cycle.
import { execFile } from 'node:child_process';
import { access, constants, rm } from 'node:fs/promises';
import { promisify } from 'node:util';
import { systemView } from './bwrap.js';
import { type CgroupLayout, describeCgroups, detectCgroups, KernelCgroup } from './cgroups.js';
import { installHooks } from './hooks.js';
import { type KernelHandle, teardown } from './kernel-process.js';
import { spawnSandboxed } from './launcher.js';
import { Reaper } from './reaper.js';
import { isReclaimEmpty, type Reclaimed, reclaim } from './reclaim.js';
import { MAX_SOCKET_PATH, prepareRuntimeRoot, probeTmpfs, RuntimeDir } from './runtime.js';
import { compileSeccomp } from './seccomp.js';
import type { LaunchRequest, Sandbox, SandboxConfig, SandboxedProcess } from './types.js';
import { accountsInRange, UidAllocator, validateUidRange } from './uids.js';

export interface SandboxLog {
  info(obj: unknown, msg?: string): void;
  warn(obj: unknown, msg?: string): void;
  error(obj: unknown, msg?: string): void;
}

const MiB = 2 ** 20;
const TOOLS = [
  '/bin/bash',
  '/usr/bin/bwrap',
  '/usr/bin/setpriv',
  '/usr/bin/prlimit',
  '/usr/bin/nice',
  '/usr/bin/mount',
  '/usr/bin/umount',
];
/** Parent cgroup of every kernel cgroup, in each hierarchy. */
const CGROUP_PARENT = 'runcell';

const run = promisify(execFile);

/** A launched sandbox together with the host resources it holds (the fork-server joins them). */
export interface HeldSandbox {
  proc: SandboxedProcess;
  uid: number;
  /** The kernel's cgroup.procs files, one per hierarchy. */
  cgroupProcs: string[];
}

export class BwrapSandbox implements Sandbox {
  readonly report: string[];
  readonly #config: SandboxConfig;
  readonly #uids: UidAllocator;
  readonly #view: string[];
  readonly #seccomp: Buffer | undefined;
  readonly #layout: CgroupLayout;
  readonly #tmpfs: boolean;
  readonly #hooksDir: string;
  readonly #log: SandboxLog;
  readonly #reserved: ReadonlySet<number>;
  readonly #reaper: Reaper;

  private constructor(
    config: SandboxConfig,
    log: SandboxLog,
    parts: {
      uids: UidAllocator;
      seccomp?: Buffer;
      layout: CgroupLayout;
      tmpfs: boolean;
      hooksDir: string;
      report: string[];
      reserved: ReadonlySet<number>;
      reaper: Reaper;
    },
  ) {
    this.#reserved = parts.reserved;
    this.#reaper = parts.reaper;
    this.#config = config;
    this.#log = log;
    this.#uids = parts.uids;
    this.#seccomp = parts.seccomp;
    this.#layout = parts.layout;
    this.#tmpfs = parts.tmpfs;
    this.#hooksDir = parts.hooksDir;
    this.#view = systemView();
    this.report = parts.report;
  }

  static async create(config: SandboxConfig, log: SandboxLog): Promise<BwrapSandbox> {
    const fail = (why: string, cause?: unknown) => {
      const msg = `kernel sandbox unavailable: ${why}`;
      log.error({ err: cause }, msg);
      return new Error(msg, { cause });
    };
    if (process.getuid?.() !== 0)
      throw fail('mode bwrap needs the server to run as root (it drops to a per-kernel uid)');
    for (const tool of TOOLS) {
      try {
        await access(tool, constants.X_OK);
      } catch (e) {
        throw fail(`${tool} is missing (install bubblewrap and util-linux)`, e);
      }
    }
    validateUidRange(config.uidRange);
    const report: string[] = [];
    const { stdout: version } = await run('/usr/bin/bwrap', ['--version'], { env: {} });
    report.push(
      `${version.trim()}: per-kernel uid from ${config.uidRange[0]}-${config.uidRange[1]}, no capabilities, ` +
        'all namespaces unshared (network: only lo), no nested user namespaces, new session',
    );
    const accounts = accountsInRange(config.uidRange);
    if (accounts.length > 0) {
      log.warn({ accounts }, 'host accounts inside the kernel uid range are never used for kernels');
      report.push(`uid range overlaps host accounts, skipped: ${accounts.join(', ')}`);
    }
    const reserved = accounts.map((a) => Number(/\((\d+)\)$/.exec(a)?.[1]));
    let seccomp: Buffer | undefined;
    if (config.seccomp) {
      try {
        const prog = await compileSeccomp();
        seccomp = prog.bpf;
        report.push(
          `seccomp: on (${prog.bpf.length / 8} BPF instructions; ptrace, keyrings, io_uring, bpf, mount, ` +
            'namespaces, AF_VSOCK/AF_NETLINK sockets, TIOCSTI… denied)' +
            (prog.skipped.length ? `; unknown to libseccomp here: ${prog.skipped.join(' ')}` : ''),
        );
      } catch (e) {
        throw fail('seccomp was requested but the filter could not be built (python3-seccomp)', e);
      }
    } else {
      log.warn({}, 'seccomp disabled by configuration: AF_VSOCK and AF_NETLINK stay reachable from kernels');
      report.push('seccomp: OFF (configured); AF_VSOCK and AF_NETLINK reachable from kernels');
    }
    const r = config.rlimits;
    report.push(
      `rlimits: cpu ${r.cpuSeconds} s, address space ${Math.round(r.addressSpaceBytes / MiB)} MiB, ` +
        `${r.processes} processes per uid, file size ${Math.round(r.fileSizeBytes / MiB)} MiB, ` +
        `${r.openFiles} open files, no core dumps`,
    );
    report.push(
      `tmpfs: /tmp ${Math.round(config.tmpBytes / MiB)} MiB, /home/kernel ${Math.round(config.homeBytes / MiB)} MiB, ` +
        `/dev/shm ${Math.round(config.shmBytes / MiB)} MiB; read-only root, minimal /usr and /etc`,
    );
    const longest = `${config.runtimeRoot}/${config.uidRange[1]}/k-65535`;
    if (Buffer.byteLength(longest) > MAX_SOCKET_PATH) {
      throw fail(
        `runtime root ${config.runtimeRoot} is too long for ipc socket paths (max ${MAX_SOCKET_PATH} bytes)`,
      );
    }
    try {
      await prepareRuntimeRoot(config.runtimeRoot);
    } catch (e) {
      throw fail(`runtime root ${config.runtimeRoot} cannot be used`, e);
    }
    const layout = await detectCgroups(CGROUP_PARENT);
    const reservedSet = new Set(reserved);
    if (config.reclaim) {
      const found = await reclaim({
        runtimeRoot: config.runtimeRoot,
        uidRange: config.uidRange,
        reserved: reservedSet,
        layout,
      });
      logReclaimed(log, found, 'start');
    }
    let hooksDir: string;
    try {
      hooksDir = await installHooks(config.runtimeRoot);
    } catch (e) {
      throw fail(`the kernel start-up hooks cannot be written under ${config.runtimeRoot}`, e);
    }
    report.push('start-up hooks: network and pip notes for IPython kernels (read-only)');
    const tmpfs = await probeTmpfs(config.runtimeRoot);
    report.push(
      `runtime dirs under ${config.runtimeRoot}: ${tmpfs ? 'tmpfs of 1 MiB each' : 'plain directories'}`,
    );
    report.push(...describeCgroups(layout, config));
    const uids = new UidAllocator(config.uidRange, reserved);
    report.push('reaper: kills what kernels left running if the server is killed without its teardown');
    for (const line of report) log.info({ sandbox: 'bwrap' }, line);
    return new BwrapSandbox(config, log, {
      uids,
      seccomp,
      layout,
      tmpfs,
      hooksDir,
      report,
      reserved: reservedSet,
      reaper: Reaper.start(),
    });
  }

  /**
   * At close, once every kernel is gone: nothing of the range should be left. Anything found is a
   * leak (logged at error level) and is reclaimed. Only when `reclaim` is configured.
   */
  async close(): Promise<void> {
    // Kernels still held (a close before their owners destroyed them): the reaper stays to kill them
    // when this process exits.
    if (this.#uids.live > 0) return;
    this.#reaper.stop();
    if (!this.#config.reclaim) return;
    // The start-up hooks are this instance's own (written at create); with the range owned, they go too.
    await rm(this.#hooksDir, { recursive: true, force: true });
    const found = await reclaim({
      runtimeRoot: this.#config.runtimeRoot,
      uidRange: this.#config.uidRange,
      reserved: this.#reserved,
      layout: this.#layout,
    });
    logReclaimed(this.#log, found, 'close');
  }

  /** The configuration and compiled seccomp filter this sandbox was created with. */
  get config(): SandboxConfig {
    return this.#config;
  }
  get seccomp(): Buffer | undefined {
    return this.#seccomp;
  }

  async launch(req: LaunchRequest): Promise<SandboxedProcess> {
    return (await this.launchHeld(req)).proc;
  }

  /** launch(), also returning the uid and cgroups it holds (same lifetime as the process). */
  async launchHeld(req: LaunchRequest): Promise<HeldSandbox> {
    const uid = await this.#uids.acquire();
    this.#reaper.hold(uid);
    const h: KernelHandle = {
      uid,
      cpuSeconds: this.#config.rlimits.cpuSeconds,
      release: () => {
        this.#reaper.release(uid);
        this.#uids.release(uid);
      },
    };
    try {
      h.runtime = await RuntimeDir.create(this.#config.runtimeRoot, uid, this.#tmpfs);
      h.cgroup = await KernelCgroup.create(this.#layout, `u${uid}`, this.#config, req.background);
    } catch (e) {
      this.#log.error({ err: e, kernelId: req.kernelId, uid }, 'kernel sandbox set-up failed');
      await teardown(h).catch((err) => this.#log.error({ err, uid }, 'cleanup after failed set-up failed'));
      throw new Error('kernel sandbox set-up failed', { cause: e });
    }
    try {
      const held = h as KernelHandle & { runtime: RuntimeDir; cgroup: KernelCgroup };
      const proc = await spawnSandboxed(
        { config: this.#config, view: this.#view, seccomp: this.#seccomp, hooksDir: this.#hooksDir },
        req,
        held,
      );
      return { proc, uid, cgroupProcs: held.cgroup.procsFiles };
    } catch (e) {
      const output = (e as { output?: string }).output;
      if (req.runsToExit)
        this.#log.info({ err: e, kernelId: req.kernelId, uid }, 'a probe ended before its start was seen');
      else this.#log.error({ err: e, kernelId: req.kernelId, uid, output }, 'kernel sandbox failed to start');
      throw e;
    }
  }
}

function logReclaimed(log: SandboxLog, r: Reclaimed, when: 'start' | 'close'): void {
  if (isReclaimEmpty(r)) {
    if (when === 'start') log.info({ sandbox: 'bwrap' }, 'nothing left by a previous run to reclaim');
    return;
  }
  const summary = {
    processes: Object.values(r.processes).reduce((a, b) => a + b, 0),
    uids: Object.keys(r.processes).map(Number),
    cgroups: r.cgroups,
    mounts: r.mounts,
    dirs: r.dirs,
    failed: r.failed,
  };
  if (when === 'start') log.warn({ reclaimed: summary }, 'reclaimed sandbox resources a previous run left');
  else log.error({ reclaimed: summary }, 'sandbox resources outlived their kernels; reclaimed at close');
}
