// Moves a kernel's processes from one cgroup to another on a thread of its own. On cgroup v1 a write
// to cgroup.procs that moves a process first waits in the kernel for an RCU grace period (the global
// threadgroup lock's writer side): 5-15 ms measured on a 2-core VM, all of it asleep. On the server's
// event loop that blocked every visitor's traffic at each hand-out; in libuv's thread pool it queued
// behind the refills' file work (up to 140 ms under load). One worker thread does nothing else.
import { Worker } from 'node:worker_threads';

/** What a move left: processes still in `from` after the rounds, and whether `from` was removed. */
export interface MoveResult {
  stuck: string[];
  removed: boolean;
}

// Plain JavaScript (the worker is eval'd: no loader for TypeScript sources under tests). Each write
// moves a whole process, its threads included; a process forked during a move may land in the old
// cgroup, so it repeats until nothing is left there (at most 50 rounds), then removes the old one.
const WORKER = `
const { parentPort } = require('node:worker_threads');
const fs = require('node:fs');
const pids = (file) => {
  try { return fs.readFileSync(file, 'utf8').split('\\n').filter(Boolean); } catch { return []; }
};
parentPort.on('message', ({ id, from, to }) => {
  try {
    if (!fs.existsSync(to)) fs.mkdirSync(to);
    for (let round = 0; round < 50; round++) {
      const left = pids(from + '/cgroup.procs');
      if (left.length === 0) break;
      for (const pid of left) {
        try { fs.writeFileSync(to + '/cgroup.procs', pid); } catch { /* exited meanwhile (ESRCH) */ }
      }
    }
    const stuck = pids(from + '/cgroup.procs');
    let removed = false;
    if (stuck.length === 0) {
      try { fs.rmdirSync(from); removed = true; } catch { /* a member still being reaped */ }
    }
    parentPort.postMessage({ id, stuck, removed });
  } catch (e) {
    parentPort.postMessage({ id, error: String(e && e.message || e) });
  }
});
`;

interface Pending {
  resolve: (r: MoveResult) => void;
  reject: (e: Error) => void;
}

let worker: Worker | undefined;
let seq = 0;
const pending = new Map<number, Pending>();

function failAll(e: Error): void {
  for (const p of pending.values()) p.reject(e);
  pending.clear();
  worker = undefined;
}

function theWorker(): Worker {
  if (worker) return worker;
  // Plain CommonJS, whatever flags this process runs with (--input-type=module would make it ESM).
  const w = new Worker(WORKER, { eval: true, env: {}, execArgv: [], stdout: false, stderr: false });
  w.on('message', (m: { id: number; stuck?: string[]; removed?: boolean; error?: string }) => {
    const p = pending.get(m.id);
    if (!p) return;
    pending.delete(m.id);
    if (pending.size === 0) w.unref();
    if (m.error !== undefined) p.reject(new Error(m.error));
    else p.resolve({ stuck: m.stuck ?? [], removed: m.removed === true });
  });
  w.on('error', (e) => failAll(e));
  w.on('exit', (code) => {
    if (worker === w) failAll(new Error(`the cgroup mover exited (${code})`));
  });
  // An idle mover never keeps the process alive; one with moves in flight does (moveAll). Only after
  // the listeners: adding a 'message' listener refs the worker's port again.
  w.unref();
  worker = w;
  return w;
}

/** Moves every process of cgroup dir `from` into `to` (created if missing), then removes `from`. */
export function moveAll(from: string, to: string): Promise<MoveResult> {
  const id = ++seq;
  return new Promise<MoveResult>((resolve, reject) => {
    const w = theWorker();
    if (pending.size === 0) w.ref();
    pending.set(id, { resolve, reject });
    w.postMessage({ id, from, to });
  });
}
