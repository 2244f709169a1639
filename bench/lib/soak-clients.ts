// Clients for the soak run (bench/soak.ts): plain HTTP calls, a kernel websocket (JSON framing) and a
// long-poll session, each running one execution at a time and reporting what came back for it: the
// reply, stdout/stderr, rich outputs, and the kernel's death (iopub status `dead` with its reason).
// A kernel can put a status `dead` of its own on iopub (the forged-iopub attack does): only the server's
// own signs count as a death, so a websocket run ends on `dead` only when the server then closes the
// socket (it always does after a death), and a long-poll run only on the poll's `dead` field.

import { randomUUID } from 'node:crypto';
import WebSocket from 'ws';
import { executeRequest } from '../../shared/jupyter.js';

export interface Content {
  execution_state?: string;
  reason?: string;
  name?: string;
  text?: string;
  data?: Record<string, unknown>;
  status?: string;
  ename?: string;
  evalue?: string;
}

export interface Header {
  msg_id: string;
  msg_type: string;
  [k: string]: unknown;
}

export interface Msg {
  seq?: number;
  channel: string;
  header: Header;
  parent_header: { msg_id?: string; [k: string]: unknown };
  content: Content;
}

/** What one execution produced, as far as the client saw. */
export interface Run {
  reply?: Content;
  idle: boolean;
  stdout: string;
  stderr: string;
  /** data of display_data and execute_result messages. */
  outputs: Record<string, unknown>[];
  /** The kernel's death, with the reason the server gave. */
  dead?: string;
  /** Reasons of status `dead` messages seen while the kernel went on (a kernel's own claims). */
  deadClaims: string[];
  closed: boolean;
  timedOut: boolean;
  messages: number;
  ms: number;
}

/** An unexpected answer: the operation counts as an error with this message. */
export class Unexpected extends Error {}

export function check(ok: unknown, what: string): asserts ok {
  if (!ok) throw new Unexpected(what);
}

// Stream text kept per run: enough to check results, bounded so a flood cannot fill the harness.
const KEEP_CHARS = 1 << 20;

export function executeMsg(code: string, session: string): Msg & { metadata: object } {
  return executeRequest(code, session, { username: 'soak' }) as unknown as Msg & { metadata: object };
}

function emptyRun(): Run {
  return {
    idle: false,
    stdout: '',
    stderr: '',
    outputs: [],
    deadClaims: [],
    closed: false,
    timedOut: false,
    messages: 0,
    ms: 0,
  };
}

/** Adds one message of an execution to its run; true once reply and idle have both arrived. */
function absorb(r: Run, m: Msg): boolean {
  r.messages++;
  const t = m.header.msg_type;
  const c = m.content;
  if (t === 'stream') {
    const into = c.name === 'stderr' ? 'stderr' : 'stdout';
    if (r[into].length < KEEP_CHARS) r[into] += (c.text ?? '').slice(0, KEEP_CHARS);
  } else if (t === 'display_data' || t === 'execute_result') {
    if (c.data) r.outputs.push(c.data);
  } else if (t === 'error') {
    r.stderr += `${c.ename}: ${c.evalue}\n`;
  } else if (t === 'execute_reply') r.reply = c;
  else if (t === 'status' && c.execution_state === 'idle') r.idle = true;
  return r.reply !== undefined && r.idle;
}

// ------------------------------------------------------------------------------------------------ HTTP

export interface Answer {
  status: number;
  // biome-ignore lint/suspicious/noExplicitAny: JSON answers, checked field by field by the callers
  body: any;
  headers: Headers;
}

export async function call(
  base: string,
  method: string,
  path: string,
  headers: Record<string, string>,
  body?: unknown,
  timeoutMs = 60_000,
): Promise<Answer> {
  const res = await fetch(base + path, {
    method,
    headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    signal: AbortSignal.timeout(timeoutMs),
  });
  const text = await res.text();
  let parsed: unknown = text;
  if ((res.headers.get('content-type') ?? '').includes('json') && text) {
    try {
      parsed = JSON.parse(text);
    } catch {
      // left as text: the caller's check will say so
    }
  }
  return { status: res.status, body: parsed, headers: res.headers };
}

// ------------------------------------------------------------------------------------------- websocket

interface Pending {
  r: Run;
  t0: number;
  done: (r: Run) => void;
}

/** A kernel websocket (no subprotocol: JSON text frames) with at most a few executions in flight. */
export class KernelSocket {
  readonly session = randomUUID();
  dead: string | undefined;
  /** The reason of the last status `dead` seen: a death once the server closes the socket. */
  #deadReason: string | undefined;
  /** Called for each frame that contains the marker a forging attacker uses (never, for other users). */
  onForged: (() => void) | undefined;
  /** The header of the last execute_request sent and of the last iopub message received. */
  lastRequest: Header | undefined;
  lastIopub: Header | undefined;
  readonly #pending = new Map<string, Pending>();

  private constructor(readonly ws: WebSocket) {
    ws.on('message', (data: Buffer, isBinary: boolean) => {
      // Only messages with buffers come as binary frames; nothing the soak runs sends them.
      if (isBinary) return;
      const text = data.toString();
      if (text.includes('FORGED')) this.onForged?.();
      let m: Msg;
      try {
        m = JSON.parse(text) as Msg;
      } catch {
        return;
      }
      if (m.channel === 'iopub') this.lastIopub = m.header;
      if (m.header.msg_type === 'status' && m.content.execution_state === 'dead') {
        this.#deadReason = m.content.reason ?? 'dead (no reason given)';
        for (const p of this.#pending.values()) p.r.deadClaims.push(this.#deadReason);
        return;
      }
      const id = m.parent_header?.msg_id;
      const p = id ? this.#pending.get(id) : undefined;
      if (p && absorb(p.r, m)) this.#finish(id as string);
    });
    ws.on('close', () => {
      this.dead = this.#deadReason;
      for (const id of [...this.#pending.keys()])
        this.#finish(id, (r) => {
          r.closed = true;
          r.dead = this.dead;
          if (r.dead) r.deadClaims.pop();
        });
    });
  }

  static async open(
    wsBase: string,
    kernelId: string,
    headers: Record<string, string>,
    timeoutMs = 15_000,
  ): Promise<KernelSocket> {
    const ws = new WebSocket(`${wsBase}/api/kernels/${kernelId}/channels?session_id=${randomUUID()}`, {
      headers,
      perMessageDeflate: false,
      handshakeTimeout: timeoutMs,
    });
    const k = new KernelSocket(ws);
    await new Promise<void>((resolve, reject) => {
      ws.once('open', () => resolve());
      ws.once('error', reject);
      ws.once('unexpected-response', (_q, res) =>
        reject(new Unexpected(`websocket refused: ${res.statusCode}`)),
      );
    });
    return k;
  }

  #finish(id: string, mark?: (r: Run) => void): void {
    const p = this.#pending.get(id);
    if (!p) return;
    this.#pending.delete(id);
    mark?.(p.r);
    p.r.ms = performance.now() - p.t0;
    p.done(p.r);
  }

  /** Sends code; the promise settles on reply and idle, the kernel's death, a close, or the timeout. */
  run(code: string, timeoutMs = 30_000): Promise<Run> {
    const m = executeMsg(code, this.session);
    const id = m.header.msg_id;
    this.lastRequest = m.header;
    return new Promise((resolve) => {
      const timer = setTimeout(() => this.#finish(id, (r) => (r.timedOut = true)), timeoutMs);
      this.#pending.set(id, {
        r: emptyRun(),
        t0: performance.now(),
        done: (r) => {
          clearTimeout(timer);
          resolve(r);
        },
      });
      if (this.dead || this.ws.readyState !== WebSocket.OPEN) {
        this.#finish(id, (r) => {
          r.dead = this.dead;
          r.closed = true;
        });
        return;
      }
      this.ws.send(JSON.stringify(m));
    });
  }

  close(): Promise<void> {
    if (this.ws.readyState === WebSocket.CLOSED) return Promise.resolve();
    return new Promise((r) => {
      const t = setTimeout(() => {
        this.ws.terminate();
        r();
      }, 2_000);
      this.ws.once('close', () => {
        clearTimeout(t);
        r();
      });
      this.ws.close();
    });
  }
}

// ------------------------------------------------------------------------------------------- long-poll

/** A long-poll session on one kernel: POSTs messages, GETs everything after its cursor. */
export class PollSession {
  readonly session = randomUUID();
  cursor = 0;
  /** Set once a poll says the kernel died and everything was read. */
  dead: string | undefined;
  constructor(
    readonly base: string,
    readonly kernelId: string,
    readonly headers: Record<string, string>,
  ) {}

  #url(extra = ''): string {
    return `/api/kernels/${this.kernelId}/messages?session_id=${this.session}${extra}`;
  }

  /** Takes the current cursor (a poll that does not wait). */
  async init(): Promise<void> {
    const a = await call(this.base, 'GET', this.#url('&timeout=0'), this.headers);
    check(a.status === 200 && typeof a.body?.next === 'number', `poll init: ${a.status}`);
    this.cursor = a.body.next;
  }

  /** One poll held for up to `seconds`; returns its messages. */
  async poll(seconds: number): Promise<Msg[]> {
    const a = await call(
      this.base,
      'GET',
      this.#url(`&after=${this.cursor}&timeout=${seconds}`),
      this.headers,
      undefined,
      (seconds + 30) * 1000,
    );
    check(a.status === 200 && Array.isArray(a.body?.messages), `poll: ${a.status} ${JSON.stringify(a.body)}`);
    check(a.body.lost === 0, `poll: ${a.body.lost} messages lost`);
    this.cursor = a.body.next;
    if (typeof a.body.dead === 'string') this.dead = a.body.dead;
    return a.body.messages as Msg[];
  }

  async run(code: string, timeoutMs = 30_000): Promise<Run> {
    const m = executeMsg(code, this.session);
    const t0 = performance.now();
    const posted = await call(this.base, 'POST', this.#url(), this.headers, m);
    check(posted.status === 200 && posted.body?.accepted === 1, `poll POST: ${posted.status}`);
    const r = emptyRun();
    const deadline = Date.now() + timeoutMs;
    for (;;) {
      if (Date.now() > deadline) {
        r.timedOut = true;
        break;
      }
      let done = false;
      for (const x of await this.poll(5)) {
        if (x.parent_header?.msg_id === m.header.msg_id && absorb(r, x)) done = true;
      }
      if (done) break;
      if (this.dead) {
        r.dead = this.dead;
        break;
      }
    }
    r.ms = performance.now() - t0;
    return r;
  }
}
