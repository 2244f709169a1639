// The zygote process of the fork-server: one /usr/bin/python3 per forked kernelspec, run as root with
// the modules imported, talking JSON lines with node (fd 0 in, fd 1 out, fd 2 log). See
// zygote-script.ts for what each fork does; this file only spawns it and speaks its protocol.
import { type ChildProcess, spawn } from 'node:child_process';
import { EventEmitter } from 'node:events';
import type { Writable } from 'node:stream';
import { OutputTail } from './tail.js';
import { BOOTSTRAP, ZYGOTE_SCRIPT } from './zygote-script.js';

export const ZYGOTE_PYTHON = '/usr/bin/python3';

export interface ZygoteInit {
  /** The compiled seccomp filter every fork loads (the one bubblewrap gets), or none. */
  seccomp: Buffer | undefined;
  /** [RLIMIT_* name, soft, hard]. */
  rlimits: [string, number, number][];
  /** Niceness every fork runs at (the plain sandbox's `nice`). */
  nice: number;
  /** The complete environment of every kernel forked (non-secret: the same for all of them). */
  kernelEnv: Record<string, string>;
  /** The environment the zygote itself is started with (shows in a fork's /proc/self/environ). */
  zygoteEnv: Record<string, string>;
  connectionFile: string;
  home: string;
  preload: string[];
}

export interface ForkRequest {
  uid: number;
  /** Host pid of a process of `uid` inside the kernel's sandbox (bubblewrap's placeholder). */
  target: number;
  cgroups: string[];
  /** Probe: the fork sets everything up and then waits instead of running ipykernel. */
  probe?: boolean;
}

export interface Forked {
  /** Host pid of the kernel process. */
  pid: number;
  /** Its wait status as an exit code (128 + signal when signalled); never rejects. */
  exit: Promise<number>;
}

interface Pending {
  resolve(f: Forked): void;
  reject(e: Error): void;
  timer: NodeJS.Timeout;
}

type Reply = {
  ready?: boolean;
  drewFigure?: boolean;
  pid?: number;
  fatal?: string;
  seq?: number;
  error?: string;
  log?: string;
  exit?: number;
};

/**
 * One zygote. Events: 'exit' (code, signal) when the process is gone (then every fork still waiting
 * for its exit status never gets one); 'log' (seq, text) for start-up errors of forked kernels.
 */
export class Zygote extends EventEmitter {
  readonly #child: ChildProcess;
  readonly #tail = new OutputTail(8 * 1024);
  readonly #pending = new Map<number, Pending>();
  readonly #exits = new Map<number, (code: number) => void>();
  #seq = 0;
  #buf = '';
  #alive = true;
  #pid = 0;
  #drewFigure = false;

  private constructor(child: ChildProcess) {
    super();
    this.#child = child;
  }

  get pid(): number {
    return this.#pid;
  }

  /** It drew a matplotlib figure before forking: its forks have paid for the renderer's first use. */
  get drewFigure(): boolean {
    return this.#drewFigure;
  }
  get alive(): boolean {
    return this.#alive;
  }
  /** The last lines the zygote wrote on stderr. */
  output(): string {
    return this.#tail.text();
  }

  /** Starts a zygote and resolves once its imports are done (or rejects with why not). */
  static start(init: ZygoteInit, timeoutMs = 60_000): Promise<Zygote> {
    const child = spawn(ZYGOTE_PYTHON, ['-I', '-c', BOOTSTRAP], {
      env: init.zygoteEnv,
      cwd: '/',
      stdio: ['pipe', 'pipe', 'pipe', 'pipe'],
    });
    const z = new Zygote(child);
    z.#tail.follow(child.stderr);
    return new Promise((resolve, reject) => {
      const fail = (why: string) => {
        clearTimeout(timer);
        z.kill();
        const out = z.#tail.text().trim();
        reject(new Error(`fork-server zygote failed to start: ${why}${out ? `\n${out}` : ''}`));
      };
      const timer = setTimeout(() => fail(`not ready within ${timeoutMs / 1000} s`), timeoutMs);
      z.once('ready', () => {
        clearTimeout(timer);
        resolve(z);
      });
      z.once('fatal', (why: string) => fail(why));
      child.once('error', (e) => fail(e.message));
      child.once('exit', (code, signal) => {
        z.#alive = false;
        for (const [, p] of z.#pending) {
          clearTimeout(p.timer);
          p.reject(new Error('the fork-server zygote exited'));
        }
        z.#pending.clear();
        z.#exits.clear();
        if (z.#pid === 0) fail(`it exited (${signal ?? `code ${code}`})`);
        z.emit('exit', code, signal);
      });
      child.stdout?.setEncoding('utf8');
      child.stdout?.on('data', (chunk: string) => z.#onData(chunk));
      const quiet = (s: Writable | null | undefined) => s?.on('error', () => {});
      quiet(child.stdin);
      const script = (child.stdio as unknown[])[3] as Writable | undefined;
      quiet(script);
      script?.end(ZYGOTE_SCRIPT);
      const initLine = {
        seccomp: init.seccomp ? init.seccomp.toString('hex') : null,
        rlimits: init.rlimits,
        nice: init.nice,
        env: init.kernelEnv,
        connectionFile: init.connectionFile,
        home: init.home,
        preload: init.preload,
      };
      child.stdin?.write(`${JSON.stringify(initLine)}\n`);
    });
  }

  #onData(chunk: string): void {
    this.#buf += chunk;
    if (this.#buf.length > 1 << 20) this.#buf = this.#buf.slice(-(1 << 20));
    for (;;) {
      const nl = this.#buf.indexOf('\n');
      if (nl < 0) return;
      const line = this.#buf.slice(0, nl);
      this.#buf = this.#buf.slice(nl + 1);
      let msg: Reply;
      try {
        msg = JSON.parse(line) as Reply;
      } catch {
        continue;
      }
      this.#onReply(msg);
    }
  }

  #onReply(msg: Reply): void {
    if (msg.ready) {
      this.#pid = typeof msg.pid === 'number' ? msg.pid : (this.#child.pid ?? 0);
      this.#drewFigure = msg.drewFigure === true;
      this.emit('ready');
      return;
    }
    if (typeof msg.fatal === 'string') {
      this.emit('fatal', msg.fatal);
      return;
    }
    const seq = msg.seq;
    if (typeof seq !== 'number') return;
    if (typeof msg.exit === 'number') {
      const code = msg.exit < 0 ? 128 - msg.exit : msg.exit;
      const p = this.#pending.get(seq);
      if (p) {
        clearTimeout(p.timer);
        this.#pending.delete(seq);
        p.reject(new Error(`the fork exited during set-up (status ${code})`));
      }
      this.#exits.get(seq)?.(code);
      this.#exits.delete(seq);
      return;
    }
    if (typeof msg.log === 'string') {
      this.emit('log', seq, msg.log);
      return;
    }
    const p = this.#pending.get(seq);
    if (!p) return;
    clearTimeout(p.timer);
    this.#pending.delete(seq);
    if (typeof msg.pid === 'number' && Number.isInteger(msg.pid) && msg.pid > 1) {
      const exit = new Promise<number>((resolve) => this.#exits.set(seq, resolve));
      p.resolve({ pid: msg.pid, exit });
    } else {
      this.#exits.delete(seq);
      p.reject(new Error(`the fork failed: ${msg.error ?? 'unknown error'}`));
    }
  }

  /** Forks a kernel into the sandbox of `req.target`. */
  fork(req: ForkRequest, timeoutMs = 15_000): Promise<Forked> {
    if (!this.#alive) return Promise.reject(new Error('the fork-server zygote is not running'));
    const seq = ++this.#seq;
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#pending.delete(seq);
        reject(new Error(`the fork did not report within ${timeoutMs / 1000} s`));
      }, timeoutMs);
      this.#pending.set(seq, { resolve, reject, timer });
      const cmd = { seq, uid: req.uid, target: req.target, cgroups: req.cgroups, probe: !!req.probe };
      this.#child.stdin?.write(`${JSON.stringify(cmd)}\n`);
    });
  }

  /** Kills the zygote (its forks live on: they are in their own sandboxes and cgroups). */
  kill(): void {
    if (this.#child.exitCode === null && this.#child.signalCode === null) this.#child.kill('SIGKILL');
  }
}
