// Client sessions of one kernel. A session is a client's session_id: it outlives its connections, so
// a client that reconnects with the same id resumes from what was delivered to it. A websocket is
// attached to its session as a Sink (one at a time: a newer socket replaces an older one); long-poll
// clients hold no sink, they pull, and wait here for new entries.
import { randomUUID } from 'node:crypto';
import type { Outgoing } from './outgoing.js';

/** Sessions kept at most: beyond it, sessions without a connection are forgotten first. */
export const MAX_SESSIONS = 1_000;

/** Where a client's messages are delivered (a websocket); long-poll clients pull instead. */
export interface Sink {
  /** New entries may be visible to this session: pull them from the log. */
  wake(): void;
  /** A newer connection took over this session id. */
  replaced(): void;
  /** The kernel (or the server) is gone: flush what is queued, then close with this code. */
  kernelGone(reason: string, code: number): void;
  /** Sends one message outside the log (notices meant for this connection only). */
  direct(o: Outgoing): void;
}

export interface ClientSession {
  readonly sid: string;
  /** The session id the kernel sees in this client's headers (never the client's own). */
  readonly serverSession: string;
  ipKey: string;
  /** Highest sequence number known delivered. */
  acked: number;
  sink: Sink | undefined;
  lastSeen: number;
}

export class Sessions {
  readonly #byId = new Map<string, ClientSession>();
  readonly #waiters = new Set<() => void>();
  readonly #ttlMs: number;
  readonly #now: () => number;
  #pollers = 0;

  /** Sessions with no connection are forgotten `ttlMs` after they were last seen. */
  constructor(ttlMs: number, now: () => number = Date.now) {
    this.#ttlMs = ttlMs;
    this.#now = now;
  }

  /** The session for this client id, created when new with everything up to `head` counted as delivered. */
  get(sid: string, ipKey: string, head: number): { session: ClientSession; created: boolean } {
    let s = this.#byId.get(sid);
    const created = !s;
    if (!s) {
      s = { sid, serverSession: randomUUID(), ipKey, acked: head, sink: undefined, lastSeen: this.#now() };
      this.#byId.set(sid, s);
      this.#sweep();
    }
    s.ipKey = ipKey;
    s.lastSeen = this.#now();
    return { session: s, created };
  }

  /** An existing session, untouched. */
  find(sid: string): ClientSession | undefined {
    return this.#byId.get(sid);
  }

  /** Attaches a sink to a session; true when it replaced another sink (which is told so). */
  attach(session: ClientSession, sink: Sink): boolean {
    const old = session.sink;
    session.sink = sink;
    if (!old || old === sink) return false;
    old.replaced();
    return true;
  }

  detach(session: ClientSession, sink: Sink): void {
    if (session.sink === sink) session.sink = undefined;
    session.lastSeen = this.#now();
  }

  /** Open websockets and long-polls in progress. */
  get connections(): number {
    let n = this.#pollers;
    for (const s of this.#byId.values()) if (s.sink) n++;
    return n;
  }

  /** True when a client at this address is connected. */
  connectedFrom(ipKey: string): boolean {
    for (const s of this.#byId.values()) if (s.ipKey === ipKey && (s.sink || this.#pollers > 0)) return true;
    return false;
  }

  /** Counts a long-poll in progress; call the result when it ends (more calls do nothing). */
  pollerEntered(): () => void {
    this.#pollers++;
    let done = false;
    return () => {
      if (!done) this.#pollers--;
      done = true;
    };
  }

  /** Resolves when wake() or gone() is called, on abort, or after `ms`. */
  wait(ms: number, signal?: AbortSignal): Promise<void> {
    return new Promise((resolve) => {
      const done = () => {
        clearTimeout(t);
        this.#waiters.delete(done);
        signal?.removeEventListener('abort', done);
        resolve();
      };
      const t = setTimeout(done, ms);
      this.#waiters.add(done);
      signal?.addEventListener('abort', done, { once: true });
    });
  }

  /** A new entry for `target` (undefined: everyone): wakes the sinks that may see it and every waiter. */
  wake(target: string | undefined): void {
    for (const s of this.#byId.values())
      if (s.sink && (target === undefined || target === s.sid)) s.sink.wake();
    this.#release();
  }

  /** The kernel (or the server) is gone: every connected client is told, every waiter released. */
  gone(reason: string, code: number): void {
    for (const s of this.#byId.values()) s.sink?.kernelGone(reason, code);
    this.#release();
  }

  /** Forgets every session. */
  clear(): void {
    this.#byId.clear();
  }

  #release(): void {
    for (const w of [...this.#waiters]) w();
  }

  #sweep(): void {
    const now = this.#now();
    for (const [sid, s] of this.#byId) {
      if (!s.sink && (now - s.lastSeen > this.#ttlMs || this.#byId.size > MAX_SESSIONS))
        this.#byId.delete(sid);
    }
  }
}
