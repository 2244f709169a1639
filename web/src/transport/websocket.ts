// The Jupyter kernel websocket (GET /api/kernels/:id/channels?session_id=…) in the legacy JSON framing.
// Reconnects with the shared backoff and the same session_id, so the server replays what was missed.

import { Backoff, sleep } from '../../../shared/backoff.js';
import type { Message } from '../messages.js';
import { decodeBinaryFrame } from './binary.js';
import { Dedupe } from './dedupe.js';
import type { Transport, TransportEvents, TransportTarget } from './types.js';

export interface WebSocketOptions {
  /** A connection attempt that has not opened by then counts as failed. */
  connectTimeoutMs?: number;
  /** Called instead of retrying when the very first attempt fails (auto mode falls back to long-poll). */
  onFirstFailure?: (why: string) => void;
  backoff?: Backoff;
  dedupe?: Dedupe;
}

export function channelsUrl(t: TransportTarget): string {
  const u = new URL(`/api/kernels/${encodeURIComponent(t.kernelId)}/channels`, t.server);
  u.protocol = u.protocol === 'https:' ? 'wss:' : 'ws:';
  u.searchParams.set('session_id', t.session);
  if (t.token) u.searchParams.set('token', t.token);
  return u.href;
}

export class WebSocketTransport implements Transport {
  readonly kind = 'websocket' as const;
  readonly #target: TransportTarget;
  readonly #events: TransportEvents;
  readonly #opts: WebSocketOptions;
  readonly #backoff: Backoff;
  readonly #dedupe: Dedupe;
  readonly #abort = new AbortController();
  #ws: WebSocket | undefined;
  #queue: Message[] = [];
  #everOpened = false;

  constructor(target: TransportTarget, events: TransportEvents, opts: WebSocketOptions = {}) {
    this.#target = target;
    this.#events = events;
    this.#opts = opts;
    this.#backoff = opts.backoff ?? new Backoff();
    this.#dedupe = opts.dedupe ?? new Dedupe();
    // Not synchronously: a failure handler may need this object fully constructed.
    queueMicrotask(() => this.#connect());
  }

  send(m: Message): void {
    if (this.#ws?.readyState === WebSocket.OPEN) this.#ws.send(JSON.stringify(m));
    else this.#queue.push(m);
  }

  /** Messages not yet sent (handed to the long-poll transport on fallback). */
  takeQueue(): Message[] {
    return this.#queue.splice(0);
  }

  close(): void {
    this.#abort.abort();
    this.#ws?.close(1000, 'closed by the page');
    this.#events.state('closed');
  }

  #connect(): void {
    if (this.#abort.signal.aborted) return;
    this.#events.state(this.#everOpened ? 'reconnecting' : 'connecting');
    let ws: WebSocket;
    try {
      ws = new WebSocket(channelsUrl(this.#target));
    } catch (e) {
      // A Content-Security-Policy without this origin in connect-src throws here.
      this.#failed(e instanceof Error ? e.message : 'the websocket was refused');
      return;
    }
    this.#ws = ws;
    ws.binaryType = 'arraybuffer';
    let opened = false;
    const timer = setTimeout(() => {
      if (!opened) ws.close();
    }, this.#opts.connectTimeoutMs ?? 5_000);
    ws.onopen = () => {
      opened = true;
      clearTimeout(timer);
      this.#everOpened = true;
      this.#backoff.reset();
      this.#events.state('open');
      for (const m of this.#queue.splice(0)) ws.send(JSON.stringify(m));
    };
    ws.onmessage = (e: MessageEvent) => {
      let m: Message | undefined;
      if (typeof e.data === 'string') {
        try {
          m = JSON.parse(e.data) as Message;
        } catch {
          return;
        }
      } else if (e.data instanceof ArrayBuffer) {
        // A message with buffers (widget values: an Image's bytes) comes as a binary frame.
        m = decodeBinaryFrame(e.data);
      }
      if (m && this.#dedupe.first(m.header?.msg_id)) this.#events.message(m);
    };
    ws.onclose = (e: CloseEvent) => {
      clearTimeout(timer);
      if (this.#ws !== ws || this.#abort.signal.aborted) return;
      this.#ws = undefined;
      // The server closes with the reason when the kernel died or was shut down.
      if (/^kernel (dead|not found)/.test(e.reason)) {
        this.#events.gone(e.reason.replace(/^kernel dead: /, ''));
        return;
      }
      if (/replaced by a newer connection/.test(e.reason)) {
        this.#events.state('closed', 'another tab took over this connection');
        return;
      }
      this.#failed(e.reason || `the connection closed (code ${e.code})`);
    };
  }

  async #failed(why: string): Promise<void> {
    if (!this.#everOpened && this.#opts.onFirstFailure) {
      this.#opts.onFirstFailure(why);
      return;
    }
    this.#events.state('reconnecting', why);
    const delay = this.#backoff.next();
    if (!(await sleep(delay, this.#abort.signal))) return;
    if (!(await this.#target.alive())) {
      this.#events.gone('the kernel no longer exists on the server');
      return;
    }
    this.#connect();
  }
}
