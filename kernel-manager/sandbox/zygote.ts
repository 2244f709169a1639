// The fork-server: a second Sandbox for Python kernelspecs whose kernels are forks of a zygote that
// has ipykernel and the configured modules imported. Isolation is the plain sandbox's, by
// construction: every kernel first gets a complete bubblewrap sandbox exactly as a plain start does
// (its own uid, cgroups, rlimits, namespaces, minimal read-only root, tmpfs, private connection file,
// seccomp) running a placeholder process; the fork then enters that sandbox (zygote-script.ts) and
// node checks from the host that it really did (verifyFork) before anyone talks to it. Cleanup is
// the plain sandbox's destroy(): the fork has the kernel's uid and sits in its cgroups.
import { existsSync, readFileSync, readlinkSync, realpathSync, statSync } from 'node:fs';
import { setTimeout as sleep } from 'node:timers/promises';
import { INSIDE, kernelEnv } from './bwrap.js';
import type { BwrapSandbox, SandboxLog } from './bwrap-sandbox.js';
import { SandboxStartError } from './launcher.js';
import { signalName } from './tail.js';
import type { ExitInfo, LaunchRequest, Sandbox, SandboxedProcess } from './types.js';
import { type Forked, ZYGOTE_PYTHON, Zygote, type ZygoteInit } from './zygote-process.js';

/** What the fork-server needs to know of a kernelspec. */
export interface ForkSpec {
  name: string;
  argv: string[];
  env: Record<string, string>;
}

export interface ForkOptions {
  /** Modules the zygote imports besides ipykernel (e.g. numpy, matplotlib.pyplot). */
  preload: string[];
}

/** bubblewrap runs this instead of the kernel; the fork joins its namespaces. */
const PLACEHOLDER = ['/usr/bin/sleep', 'infinity'];
/** Modules every zygote imports: what IPKernelApp would import at start-up anyway. */
const BASE_MODULES = ['ipykernel.kernelapp', 'ipykernel.ipkernel', 'ipykernel.zmqshell'];
const NAMESPACES = ['user', 'mnt', 'net', 'ipc', 'uts', 'pid', 'cgroup'] as const;
const MODULE_NAME = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;
const MiB = 2 ** 20;

/** Why this spec cannot be forked (undefined: it can). */
export function forkIncompatibility(spec: ForkSpec): string | undefined {
  const [cmd, ...rest] = spec.argv;
  if (!cmd) return 'empty argv';
  let interpreter: string;
  try {
    interpreter = realpathSync(cmd.includes('/') ? cmd : `/usr/bin/${cmd}`);
  } catch {
    return `interpreter ${cmd} not found`;
  }
  if (interpreter !== realpathSync(ZYGOTE_PYTHON)) {
    return `argv[0] ${cmd} is not ${ZYGOTE_PYTHON}, the only interpreter the fork-server preloads`;
  }
  const args = rest.join(' ');
  if (args !== '-m ipykernel_launcher -f {connection_file}' && args !== '-m ipykernel -f {connection_file}') {
    return `argv ${JSON.stringify(spec.argv)} is not a plain ipykernel start (extra arguments are not forked)`;
  }
  return undefined;
}

function statusOf(pid: number): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  for (const line of readFileSync(`/proc/${pid}/status`, 'utf8').split('\n')) {
    const i = line.indexOf(':');
    if (i > 0)
      out[line.slice(0, i)] = line
        .slice(i + 1)
        .trim()
        .split(/\s+/)
        .filter(Boolean);
  }
  return out;
}

/**
 * Checks from the host, independently of the zygote's own checks, that the forked kernel `pid` is in
 * exactly the sandbox of `placeholder`: same namespaces, root and cgroups; the kernel's uid and gid
 * and nothing else; no capabilities of any kind; no_new_privs; the seccomp filter.
 */
export function verifyFork(pid: number, placeholder: number, uid: number, seccomp: boolean): void {
  const problems: string[] = [];
  const st = statusOf(pid);
  const u = String(uid);
  if (st.Uid?.join() !== [u, u, u, u].join() || st.Gid?.join() !== [u, u, u, u].join()) {
    problems.push(`uid/gid ${st.Uid?.join(' ')} / ${st.Gid?.join(' ')}`);
  }
  if ((st.Groups ?? []).length > 0) problems.push(`supplementary groups ${st.Groups?.join(' ')}`);
  for (const k of ['CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb']) {
    if (!/^0+$/.test(st[k]?.[0] ?? 'x')) problems.push(`${k} ${st[k]?.[0]}`);
  }
  if (st.NoNewPrivs?.[0] !== '1') problems.push('no_new_privs is not set');
  if (seccomp && st.Seccomp?.[0] !== '2') problems.push('no seccomp filter');
  if ((st.NSpid ?? []).length < 2) problems.push('not in a child pid namespace');
  for (const ns of NAMESPACES) {
    const mine = readlinkSync(`/proc/${pid}/ns/${ns}`);
    if (mine !== readlinkSync(`/proc/${placeholder}/ns/${ns}`)) problems.push(`${ns} namespace differs`);
    if (mine === readlinkSync(`/proc/self/ns/${ns}`)) problems.push(`shares the host's ${ns} namespace`);
  }
  const a = statSync(`/proc/${pid}/root`);
  const b = statSync(`/proc/${placeholder}/root`);
  if (a.dev !== b.dev || a.ino !== b.ino) problems.push('root directory differs');
  if (readFileSync(`/proc/${pid}/cgroup`, 'utf8') !== readFileSync(`/proc/${placeholder}/cgroup`, 'utf8')) {
    problems.push('cgroups differ');
  }
  if (problems.length > 0)
    throw new Error(`forked kernel failed its isolation check: ${problems.join('; ')}`);
}

/** Process start time (clock ticks since boot), to tell a pid from a recycled one. */
function startTime(pid: number): string | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
  } catch {
    return undefined;
  }
}

function ownedBy(pid: number, uid: number): boolean {
  try {
    return statusOf(pid).Uid?.[0] === String(uid);
  } catch {
    return false;
  }
}

/** A forked kernel as kernel.ts sees it; the placeholder's sandbox holds its uid, cgroups and dirs. */
class ForkedProcess implements SandboxedProcess {
  readonly kernelId: string;
  readonly pid: number;
  readonly uid: number;
  readonly exited: Promise<ExitInfo>;
  readonly figureDrawn: boolean;
  readonly #sandbox: SandboxedProcess;
  readonly #cpuSeconds: number;
  readonly #start: string | undefined;
  #resolve!: (info: ExitInfo) => void;
  #done = false;
  #destroying: Promise<void> | undefined;
  #poll: NodeJS.Timeout | undefined;

  constructor(
    kernelId: string,
    sandbox: SandboxedProcess,
    pid: number,
    uid: number,
    cpuSeconds: number,
    figureDrawn: boolean,
  ) {
    this.kernelId = kernelId;
    this.figureDrawn = figureDrawn;
    this.#sandbox = sandbox;
    this.pid = pid;
    this.uid = uid;
    this.#cpuSeconds = cpuSeconds;
    this.#start = startTime(pid);
    this.exited = new Promise((resolve) => {
      this.#resolve = resolve;
    });
    // The sandbox going away (its placeholder killed, bubblewrap gone) takes the kernel with it.
    void sandbox.exited.then(() => this.#finish(null));
  }

  get ipcPrefix(): string {
    return this.#sandbox.ipcPrefix;
  }

  /** The fork sits in its placeholder's cgroups. */
  foreground(): Promise<void> {
    return this.#sandbox.foreground?.() ?? Promise.resolve();
  }

  /** The kernel's wait status as reported by the zygote (128 + n: killed by signal n). */
  exitedWith(status: number | null): void {
    this.#finish(status);
  }

  /** The zygote is gone and will not report this kernel's exit: watch the pid instead. */
  orphaned(): void {
    if (this.#done || this.#poll) return;
    this.#poll = setInterval(() => {
      if (startTime(this.pid) !== this.#start) this.#finish(null);
    }, 250);
    this.#poll.unref();
  }

  #finish(status: number | null): void {
    if (this.#done) return;
    this.#done = true;
    if (this.#poll) clearInterval(this.#poll);
    const signal = status !== null && status > 128 ? (signalName(status - 128) ?? null) : null;
    const info: ExitInfo = { code: status === null || signal ? null : status, signal };
    if (!this.#destroying) {
      const limit = this.#sandbox.limitHit();
      if (limit?.startsWith('memory')) info.reason = limit;
      else if (signal === 'SIGXCPU') info.reason = `CPU time limit of ${this.#cpuSeconds} s reached`;
    }
    this.#resolve(info);
  }

  signal(sig: NodeJS.Signals): void {
    // Only while it runs and the pid is still the kernel's (never a recycled pid).
    if (this.#done || this.#destroying || startTime(this.pid) !== this.#start || !ownedBy(this.pid, this.uid))
      return;
    try {
      process.kill(this.pid, sig);
    } catch {
      // exited meanwhile
    }
  }

  limitHit(): string | undefined {
    return this.#sandbox.limitHit();
  }

  output(): string {
    return this.#sandbox.output?.() ?? '';
  }

  destroy(): Promise<void> {
    this.#destroying ??= this.#sandbox.destroy().then(() => this.#finish(null));
    const p = this.#destroying;
    p.catch(() => {
      if (this.#destroying === p) this.#destroying = undefined;
    });
    return p;
  }
}

export class ForkSandbox implements Sandbox {
  readonly report: string[];
  readonly #base: BwrapSandbox;
  readonly #spec: ForkSpec;
  readonly #init: ZygoteInit;
  readonly #log: SandboxLog;
  readonly #live = new Set<ForkedProcess>();
  #zygote: Zygote | undefined;
  #restarts = 0;
  #restartTimer: NodeJS.Timeout | undefined;
  #closed = false;
  #warnedPlain = false;

  private constructor(base: BwrapSandbox, spec: ForkSpec, init: ZygoteInit, log: SandboxLog) {
    this.#base = base;
    this.#spec = spec;
    this.#init = init;
    this.#log = log;
    this.report = [];
  }

  /**
   * Starts the zygote for `spec` and proves on this host, with a probe fork checked from outside, that
   * a fork gets every guarantee of the plain sandbox. Rejects (fail closed) otherwise.
   */
  static async create(
    base: BwrapSandbox,
    spec: ForkSpec,
    opts: ForkOptions,
    log: SandboxLog,
  ): Promise<ForkSandbox> {
    const fail = (why: string, cause?: unknown) =>
      new Error(`fork-server for kernelspec "${spec.name}" unavailable: ${why}`, { cause });
    const why = forkIncompatibility(spec);
    if (why) throw fail(why);
    const bad = opts.preload.find((m) => !MODULE_NAME.test(m));
    if (bad !== undefined) throw fail(`preload entry ${JSON.stringify(bad)} is not a module name`);
    if (!existsSync('/proc/self/ns/cgroup') || !existsSync('/proc/self/ns/user'))
      throw fail('this kernel lacks cgroup or user namespaces');
    const c = base.config;
    const r = c.rlimits;
    const n = (x: number) => Math.floor(x);
    const env = kernelEnv({ ...spec.env, JPY_PARENT_PID: '1' });
    const init: ZygoteInit = {
      seccomp: base.seccomp,
      rlimits: [
        ['RLIMIT_CPU', n(r.cpuSeconds), n(r.cpuSeconds) + 1],
        ['RLIMIT_AS', n(r.addressSpaceBytes), n(r.addressSpaceBytes)],
        ['RLIMIT_NPROC', n(r.processes), n(r.processes)],
        ['RLIMIT_FSIZE', n(r.fileSizeBytes), n(r.fileSizeBytes)],
        ['RLIMIT_NOFILE', n(r.openFiles), n(r.openFiles)],
        ['RLIMIT_CORE', 0, 0],
      ],
      nice: Math.floor(c.nice),
      kernelEnv: env,
      // Read by matplotlib at import: without it the inline backend set later by ipykernel is ignored.
      zygoteEnv: { MPLBACKEND: 'module://matplotlib_inline.backend_inline', ...env },
      connectionFile: INSIDE.connectionFile,
      home: INSIDE.home,
      preload: [...new Set([...opts.preload, ...BASE_MODULES])],
    };
    const fs = new ForkSandbox(base, spec, init, log);
    try {
      await fs.#startZygote();
      await fs.#probe();
    } catch (e) {
      fs.#closed = true;
      fs.#zygote?.kill();
      throw fail((e as Error).message, e);
    }
    const z = fs.#zygote;
    fs.report.push(
      `fork-server for "${spec.name}": zygote pid ${z?.pid} (root, private mount namespace, runs no user code) ` +
        `with ${init.preload.join(', ')} imported; each fork enters its own bubblewrap sandbox ` +
        '(uid, cgroups, rlimits, namespaces, root, seccomp), checked from the host before use',
    );
    for (const line of fs.report) log.info({ sandbox: 'fork', spec: spec.name }, line);
    return fs;
  }

  /** The zygote's host pid (0 while it is down). */
  get zygotePid(): number {
    return this.#zygote?.alive ? this.#zygote.pid : 0;
  }

  async #startZygote(): Promise<void> {
    const z = await Zygote.start(this.#init);
    this.#zygote = z;
    z.on('log', (_seq: number, text: string) =>
      this.#log.warn({ spec: this.#spec.name, output: text.slice(-2000) }, 'forked kernel start-up error'),
    );
    z.once('exit', (code: number | null, signal: NodeJS.Signals | null) =>
      this.#onZygoteExit(z, code, signal),
    );
  }

  #onZygoteExit(z: Zygote, code: number | null, signal: NodeJS.Signals | null): void {
    if (this.#zygote === z) this.#zygote = undefined;
    for (const p of this.#live) p.orphaned();
    if (this.#closed) return;
    const delay = Math.min(30_000, 1000 * 2 ** Math.min(this.#restarts, 5));
    this.#log.error(
      { spec: this.#spec.name, code, signal, output: z.output().slice(-2000), retryMs: delay },
      'fork-server zygote died; restarting it, kernels start plain meanwhile',
    );
    this.#warnedPlain = false;
    this.#scheduleRestart(delay);
  }

  #scheduleRestart(delay: number): void {
    this.#restartTimer = setTimeout(() => {
      this.#restartTimer = undefined;
      if (this.#closed) return;
      this.#restarts++;
      this.#startZygote().then(
        () => {
          if (this.#closed) {
            this.#zygote?.kill();
            return;
          }
          this.#log.info(
            { spec: this.#spec.name, zygotePid: this.#zygote?.pid },
            'fork-server zygote restarted',
          );
          this.#restarts = 0;
        },
        (e: unknown) => {
          const next = Math.min(30_000, 1000 * 2 ** Math.min(this.#restarts, 5));
          this.#log.error(
            { err: e, spec: this.#spec.name, retryMs: next },
            'fork-server zygote restart failed',
          );
          this.#scheduleRestart(next);
        },
      );
    }, delay);
    this.#restartTimer.unref();
  }

  /** A throwaway sandbox, a fork into it that stops before ipykernel, the host-side check, cleanup. */
  async #probe(): Promise<void> {
    const held = await this.#base.launchHeld({
      kernelId: 'fork-server-probe',
      argv: PLACEHOLDER,
      env: {},
      connectionFile: () => Buffer.from('{}'),
    });
    try {
      const f = await this.#fork(held.uid, held.proc, held.cgroupProcs, true);
      verifyFork(f.pid, held.proc.pid ?? 0, held.uid, this.#init.seccomp !== undefined);
    } finally {
      await held.proc.destroy();
    }
  }

  async #fork(uid: number, sandbox: SandboxedProcess, cgroups: string[], probe = false): Promise<Forked> {
    const z = this.#zygote;
    if (!z?.alive) throw new Error('the fork-server zygote is not running');
    const target = sandbox.pid;
    if (target === undefined) throw new Error('the sandbox placeholder has no pid');
    return z.fork({ uid, target, cgroups, probe });
  }

  /** Whether this request is the spec the zygote was made for (its argv and environment). */
  #matches(req: LaunchRequest): boolean {
    if (req.argv.join('\0') !== this.#spec.argv.join('\0')) return false;
    const want = this.#init.kernelEnv;
    let got: Record<string, string>;
    try {
      got = kernelEnv(req.env);
    } catch {
      return false;
    }
    const keys = Object.keys(want);
    return keys.length === Object.keys(got).length && keys.every((k) => got[k] === want[k]);
  }

  async launch(req: LaunchRequest): Promise<SandboxedProcess> {
    if (this.#closed || !this.#zygote?.alive || !this.#matches(req)) {
      if (!this.#warnedPlain) {
        this.#warnedPlain = true;
        this.#log.warn(
          { spec: this.#spec.name, kernelId: req.kernelId },
          this.#matches(req)
            ? 'fork-server zygote not running: starting kernels plain'
            : 'launch request differs from the forked kernelspec: starting it plain',
        );
      }
      return this.#base.launch(req);
    }
    const started = Date.now();
    const drew = this.#zygote.drewFigure;
    const held = await this.#base.launchHeld({ ...req, argv: PLACEHOLDER });
    let f: Forked;
    try {
      f = await this.#fork(held.uid, held.proc, held.cgroupProcs);
      verifyFork(f.pid, held.proc.pid ?? 0, held.uid, this.#init.seccomp !== undefined);
    } catch (e) {
      this.#log.error({ err: e, kernelId: req.kernelId, uid: held.uid }, 'forked kernel failed to start');
      await held.proc.destroy().catch(() => {});
      throw new SandboxStartError((e as Error).message, held.proc.output?.() ?? '', e);
    }
    const proc = new ForkedProcess(
      req.kernelId,
      held.proc,
      f.pid,
      held.uid,
      this.#base.config.rlimits.cpuSeconds,
      drew,
    );
    this.#live.add(proc);
    void f.exit.then((status) => proc.exitedWith(status));
    void proc.exited.then(() => this.#live.delete(proc));
    if (!this.#zygote?.alive) proc.orphaned();
    this.#log.info(
      { kernelId: req.kernelId, uid: held.uid, kernelPid: f.pid, ms: Date.now() - started },
      'kernel forked',
    );
    return proc;
  }

  /** Stops the zygote (forked kernels are not affected; their owners shut them down). */
  async close(): Promise<void> {
    this.#closed = true;
    if (this.#restartTimer) clearTimeout(this.#restartTimer);
    const z = this.#zygote;
    this.#zygote = undefined;
    for (const p of this.#live) p.orphaned();
    if (z?.alive) {
      const gone = new Promise((r) => z.once('exit', r));
      z.kill();
      await Promise.race([gone, sleep(2000)]);
    }
  }

  /** For tests: kill the zygote as a crash would. */
  killZygote(): void {
    this.#zygote?.kill();
  }

  /** Memory figures for reports: MiB of RSS of the zygote. */
  zygoteRssMiB(): number | undefined {
    const pid = this.zygotePid;
    if (!pid) return undefined;
    try {
      const kb = Number(/^VmRSS:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))?.[1]);
      return Math.round((kb * 1024) / MiB);
    } catch {
      return undefined;
    }
  }
}
