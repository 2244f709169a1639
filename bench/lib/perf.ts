// Side-by-side benchmarks against Jupyter Server: one interface over both servers (a runcell server in
// a child process, see runcell-child.ts, and Debian's Jupyter Server, see jupyter.ts), a websocket
// client speaking the JSON framing both accept, and memory readings from /proc.

import { type ChildProcess, fork } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';
import type { ServerConfig } from '../../server/config.js';
import { executeRequest } from '../../shared/jupyter.js';
import { type JupyterServer, startJupyter } from './jupyter.js';

const here = dirname(fileURLToPath(import.meta.url));

export interface Target {
  name: string;
  base: string;
  wsBase: string;
  /** The server process (its memory, its event loop). */
  pid: number;
  /** Headers for REST calls and the websocket (token or Origin). */
  headers: Record<string, string>;
  /** Waits until background work of the server is done (runcell: the warm pool is full again). */
  quiesce(timeoutMs?: number): Promise<void>;
  /** Processes to count for one idle kernel (runcell: every process of the kernel's sandbox uid). */
  kernelProcesses(ids: string[]): Promise<Map<string, number[]>>;
  /** Processes shared by all kernels (runcell's fork-server zygote). */
  sharedProcesses(): Promise<number[]>;
  /** The server's own event-loop lag over a window (runcell only). */
  lag?: { start(): Promise<void>; stop(): Promise<LagFigure> };
  stop(): Promise<void>;
}

export interface LagFigure {
  samples: number;
  p50_ms: number;
  p99_ms: number;
  max_ms: number;
}

// ---------------------------------------------------------------------------------------------- /proc

/** Pss of one process in bytes (0 if gone). */
export function pss(pid: number): number {
  try {
    const m = /^Pss:\s+(\d+) kB/m.exec(readFileSync(`/proc/${pid}/smaps_rollup`, 'utf8'));
    return Number(m?.[1] ?? 0) * 1024;
  } catch {
    return 0;
  }
}

function statusField(pid: number, field: string): number | undefined {
  try {
    const m = new RegExp(`^${field}:\\s+(\\d+)`, 'm').exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return m ? Number(m[1]) : undefined;
  } catch {
    return undefined;
  }
}

/** Live pids per uid, for the uids asked. */
export function pidsByUid(uids: Set<number>): Map<number, number[]> {
  const out = new Map<number, number[]>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const uid = statusField(Number(d), 'Uid');
    if (uid === undefined || !uids.has(uid)) continue;
    const list = out.get(uid) ?? [];
    list.push(Number(d));
    out.set(uid, list);
  }
  return out;
}

/** Resets a process's peak RSS (VmHWM) so a later read gives the peak of what follows (needs root). */
export function resetPeakRss(pid: number): void {
  writeFileSync(`/proc/${pid}/clear_refs`, '5');
}
/** Peak RSS (VmHWM) in bytes since start or the last reset. */
export function peakRss(pid: number): number {
  return (statusField(pid, 'VmHWM') ?? 0) * 1024;
}
/** CPU time (user + system) of a process in ms, from /proc/<pid>/stat (clock ticks of 10 ms). */
export function cpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    return (Number(f[11]) + Number(f[12])) * 10;
  } catch {
    return 0;
  }
}
export function rss(pid: number): number {
  return (statusField(pid, 'VmRSS') ?? 0) * 1024;
}

// --------------------------------------------------------------------------------------------- runcell

/** The same settings for every runcell in these benches: limits that let 100 sessions from one IP in. */
export function runcellSettings(over: Partial<ServerConfig>): Partial<ServerConfig> {
  return {
    anonymous: true,
    maxKernels: 120,
    queueTimeoutMs: 120_000,
    kernelIdleTimeoutMs: 0,
    ipKernelCreatesPerMinute: 100_000,
    ipMaxKernels: 1_000,
    // Visitors that name no page count as one per address: the bench's stand for different people.
    pageKernelCreatesPerMinute: 100_000,
    pageMaxKernels: 1_000,
    pageExecutionsPerMinute: 10_000_000,
    ipExecutionsPerMinute: 10_000_000,
    ipMaxSockets: 1_000,
    ipMaxPollers: 1_000,
    ...over,
  };
}

export async function startRuncell(
  name: string,
  over: Partial<ServerConfig>,
  nodeArgs: string[] = [],
): Promise<Target & { ask<T>(cmd: string): Promise<T> }> {
  const child: ChildProcess = fork(join(here, 'runcell-child.ts'), [], {
    execArgv: ['--import', 'tsx', ...nodeArgs],
    env: { ...process.env, BENCH_RC_CONFIG: JSON.stringify(runcellSettings(over)) },
    stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
  });
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const pending = new Map<number, { resolve(v: unknown): void; reject(e: Error): void }>();
  let next = 1;
  let ready: (v: { port: number; pid: number }) => void = () => {};
  let failed: (e: Error) => void = () => {};
  const started = new Promise<{ port: number; pid: number }>((res, rej) => {
    ready = res;
    failed = rej;
  });
  child.on(
    'message',
    (m: { id?: number; value?: unknown; error?: string; ready?: boolean; port: number }) => {
      if (m.ready) return ready({ port: m.port, pid: child.pid as number });
      const p = pending.get(m.id as number);
      if (!p) return;
      pending.delete(m.id as number);
      if (m.error) p.reject(new Error(m.error));
      else p.resolve(m.value);
    },
  );
  child.once('exit', (code) => {
    failed(new Error(`runcell (${name}) exited with ${code} before it was ready`));
    for (const p of pending.values()) p.reject(new Error(`runcell (${name}) exited`));
    pending.clear();
  });
  const ask = <T>(cmd: string): Promise<T> =>
    new Promise((resolve, reject) => {
      if (!child.connected) return reject(new Error(`runcell (${name}) is gone`));
      const id = next++;
      pending.set(id, { resolve: resolve as (v: unknown) => void, reject });
      child.send({ id, cmd });
    });
  const stop = async () => {
    if (child.exitCode === null && child.signalCode === null) {
      const t = setTimeout(() => child.kill('SIGKILL'), 40_000);
      if (child.connected) await ask('stop').catch(() => {});
      else child.kill('SIGTERM');
      await exited;
      clearTimeout(t);
    }
  };
  let port: number;
  try {
    ({ port } = await started);
  } catch (e) {
    await stop();
    throw e;
  }
  const base = `http://127.0.0.1:${port}`;
  const uidsOf = async () =>
    new Map((await ask<{ id: string; uid: number }[]>('kernels')).map((k) => [k.id, k.uid]));
  return {
    name,
    base,
    wsBase: `ws://127.0.0.1:${port}`,
    pid: child.pid as number,
    // Anonymous visitors, as browsers: the server's own origin.
    headers: { origin: base },
    async quiesce(timeoutMs = 120_000) {
      const deadline = Date.now() + timeoutMs;
      for (;;) {
        const s = await ask<{ pooled: number; starting: number; refillPending: boolean }>('stats');
        if (s.starting === 0 && !s.refillPending && s.pooled >= (over.poolSize ?? 0)) return;
        if (Date.now() > deadline) throw new Error(`runcell (${name}): the pool did not fill in time`);
        await new Promise((r) => setTimeout(r, 25));
      }
    },
    async kernelProcesses(ids) {
      const uids = await uidsOf();
      const byUid = pidsByUid(new Set(ids.map((id) => uids.get(id) as number)));
      return new Map(ids.map((id) => [id, byUid.get(uids.get(id) as number) ?? []]));
    },
    async sharedProcesses() {
      const report = await ask<string[]>('report');
      const m = /zygote pid (\d+)/.exec(report.join(' '));
      return m ? [Number(m[1])] : [];
    },
    /** A request to the child (runcell-child.ts handlers: stats, starts, report, …). */
    ask,
    lag: {
      start: () => ask<boolean>('lagStart').then(() => {}),
      stop: () => ask<LagFigure>('lagStop'),
    },
    stop,
  };
}

// --------------------------------------------------------------------------------------------- Jupyter

export async function startJupyterTarget(token: string): Promise<Target & { version: string }> {
  const j: JupyterServer = await startJupyter(token);
  return {
    name: 'jupyter-server',
    version: j.version,
    base: j.base,
    wsBase: j.wsBase,
    pid: j.pid,
    headers: { authorization: `token ${token}` },
    async quiesce() {},
    async kernelProcesses(ids) {
      return new Map(ids.map((id) => [id, [j.kernelPid(id)].filter((p): p is number => p !== undefined)]));
    },
    async sharedProcesses() {
      return [];
    },
    stop: () => j.stop(),
  };
}

// ---------------------------------------------------------------------------------------------- REST

export async function createKernel(t: Target): Promise<string> {
  const r = await fetch(`${t.base}/api/kernels`, {
    method: 'POST',
    headers: { ...t.headers, 'content-type': 'application/json' },
    body: JSON.stringify({ name: 'python3' }),
    signal: AbortSignal.timeout(120_000),
  });
  if (r.status !== 201) throw new Error(`${t.name}: POST /api/kernels: ${r.status} ${await r.text()}`);
  return ((await r.json()) as { id: string }).id;
}

export async function deleteKernel(t: Target, id: string): Promise<void> {
  const r = await fetch(`${t.base}/api/kernels/${id}`, {
    method: 'DELETE',
    headers: t.headers,
    signal: AbortSignal.timeout(60_000),
  });
  if (r.status !== 204) throw new Error(`${t.name}: DELETE /api/kernels/${id}: ${r.status}`);
}

// ----------------------------------------------------------------------------------------- websocket

interface Wire {
  channel: string;
  header: { msg_type: string; msg_id: string };
  parent_header: { msg_id?: string };
  content: { execution_state?: string; text?: string; name?: string };
}

export interface RunResult {
  /** ms from send to the first stream output (undefined: none). */
  firstOutputMs?: number;
  /** ms from send to execute_reply and idle. */
  doneMs: number;
  /** Bytes of every frame received while the run was in flight. */
  bytes: number;
  streamChars: number;
  /** Stream text of the run, if asked to keep it. */
  text: string;
  /** The first 4 KiB of stderr (rate-limit notices). */
  stderr: string;
}

/** A kernel websocket client (JSON framing) that runs one execution at a time. */
export class Session {
  readonly session = randomUUID();
  #waiting:
    | {
        id: string;
        t0: number;
        reply: boolean;
        idle: boolean;
        r: RunResult;
        keep: boolean;
        onOutput?: () => void;
        done: (r: RunResult) => void;
      }
    | undefined;
  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      const w = this.#waiting;
      if (!w) return;
      w.r.bytes += data.length;
      // Most frames under load are other sessions' output: skip them without parsing (the client
      // must not be what limits the figures).
      if (isBinary || data.indexOf(w.id) < 0) return;
      const m = JSON.parse(data.toString()) as Wire;
      if (m.parent_header.msg_id !== w.id) return;
      const type = m.header.msg_type;
      if (type === 'stream') {
        w.r.firstOutputMs ??= performance.now() - w.t0;
        w.r.streamChars += m.content.text?.length ?? 0;
        if (w.keep) w.r.text += m.content.text ?? '';
        if (m.content.name === 'stderr' && w.r.stderr.length < 4096) w.r.stderr += m.content.text ?? '';
        w.onOutput?.();
      } else if (type === 'execute_reply') w.reply = true;
      else if (type === 'status' && m.content.execution_state === 'idle') w.idle = true;
      if (w.reply && w.idle) {
        this.#waiting = undefined;
        w.r.doneMs = performance.now() - w.t0;
        w.done(w.r);
      }
    });
  }
  static async open(t: Target, kernelId: string): Promise<Session> {
    const ws = new WebSocket(`${t.wsBase}/api/kernels/${kernelId}/channels?session_id=${randomUUID()}`, {
      headers: t.headers,
      perMessageDeflate: false,
    });
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) =>
        reject(new Error(`${t.name}: websocket ${res.statusCode}`)),
      );
    });
    return new Session(ws);
  }
  /** Sends code; resolves on execute_reply and idle. `onOutput` is called on each stream message. */
  run(
    code: string,
    opts: { keepText?: boolean; onOutput?: () => void; timeoutMs?: number } = {},
  ): Promise<RunResult> {
    const msgId = randomUUID();
    const m = executeRequest(code, this.session, { username: 'b', msgId });
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.#waiting = undefined;
        reject(new Error(`no execute_reply and idle within ${opts.timeoutMs ?? 60_000} ms`));
      }, opts.timeoutMs ?? 60_000);
      this.#waiting = {
        id: msgId,
        t0: performance.now(),
        reply: false,
        idle: false,
        keep: opts.keepText ?? false,
        ...(opts.onOutput ? { onOutput: opts.onOutput } : {}),
        r: { doneMs: 0, bytes: 0, streamChars: 0, text: '', stderr: '' },
        done: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      };
      this.ws.send(JSON.stringify(m));
    });
  }
  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((r) => {
      this.ws.once('close', () => r());
      this.ws.close();
      setTimeout(r, 2_000).unref();
    });
  }
}

// ---------------------------------------------------------------------------------------------- misc

/** Runs fn with a deadline: rejects (and leaves cleanup to the caller's finally) when it passes. */
export function within<T>(ms: number, what: string, fn: () => Promise<T>): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    fn(),
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: over its ${ms / 1000} s budget`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
