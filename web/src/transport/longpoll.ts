// The long-poll API, for networks where websockets cannot connect:
//   GET  /api/kernels/:id/messages?session_id=S&after=SEQ&timeout=T  -> {messages, next, lost, dead?}
//   POST /api/kernels/:id/messages?session_id=S                     <- [message, ...]
// The cursor `next` survives failed polls, so nothing is lost while retrying with the shared backoff.

import { Backoff, sleep } from '../../../shared/backoff.js';
import type { Message } from '../messages.js';
import { Dedupe } from './dedupe.js';
import type { Transport, TransportEvents, TransportTarget } from './types.js';

export interface LongPollOptions {
  /** How long the server may hold a poll, in seconds. */
  holdS?: number;
  backoff?: Backoff;
  dedupe?: Dedupe;
}

interface PollBody {
  messages: Message[];
  next: number;
  lost: number;
  dead?: string;
}

export class LongPollTransport implements Transport {
  readonly kind = 'longpoll' as const;
  readonly #target: TransportTarget;
  readonly #events: TransportEvents;
  readonly #hold: number;
  readonly #backoff: Backoff;
  readonly #sendBackoff = new Backoff();
  readonly #dedupe: Dedupe;
  readonly #abort = new AbortController();
  #cursor: number | undefined;
  #outbox: Message[] = [];
  #sending = false;

  constructor(target: TransportTarget, events: TransportEvents, opts: LongPollOptions = {}) {
    this.#target = target;
    this.#events = events;
    this.#hold = opts.holdS ?? 25;
    this.#backoff = opts.backoff ?? new Backoff();
    this.#dedupe = opts.dedupe ?? new Dedupe();
    void this.#poll();
  }

  send(m: Message): void {
    this.#outbox.push(m);
    void this.#flush();
  }

  close(): void {
    this.#abort.abort();
    this.#events.state('closed');
  }

  #url(): URL {
    const u = new URL(
      `/api/kernels/${encodeURIComponent(this.#target.kernelId)}/messages`,
      this.#target.server,
    );
    u.searchParams.set('session_id', this.#target.session);
    return u;
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    return this.#target.token ? { ...extra, authorization: `token ${this.#target.token}` } : extra;
  }

  async #poll(): Promise<void> {
    const signal = this.#abort.signal;
    let open = false;
    this.#events.state('connecting');
    while (!signal.aborted) {
      const u = this.#url();
      u.searchParams.set('timeout', String(open ? this.#hold : 0));
      if (this.#cursor !== undefined) u.searchParams.set('after', String(this.#cursor));
      try {
        const res = await fetch(u, { signal, headers: this.#headers(), cache: 'no-store' });
        if (res.status === 404) {
          this.#events.gone('the kernel no longer exists on the server');
          return;
        }
        if (!res.ok) throw new Error(`the server answered ${res.status}`);
        const body = (await res.json()) as PollBody;
        if (!open) {
          open = true;
          this.#events.state('open');
        }
        this.#backoff.reset();
        this.#cursor = body.next;
        for (const m of body.messages) if (this.#dedupe.first(m.header?.msg_id)) this.#events.message(m);
        if (body.dead) {
          this.#events.gone(body.dead);
          return;
        }
      } catch (e) {
        if (signal.aborted) return;
        open = false;
        this.#events.state('reconnecting', e instanceof Error ? e.message : String(e));
        if (!(await sleep(this.#backoff.next(), signal))) return;
        if (!(await this.#target.alive())) {
          this.#events.gone('the kernel no longer exists on the server');
          return;
        }
      }
    }
  }

  async #flush(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (this.#outbox.length > 0 && !this.#abort.signal.aborted) {
        const batch = this.#outbox.slice(0, 100);
        try {
          const res = await fetch(this.#url(), {
            method: 'POST',
            signal: this.#abort.signal,
            // text/plain: a "simple" request, no CORS preflight (the server parses it as JSON).
            headers: this.#headers({ 'content-type': 'text/plain;charset=UTF-8' }),
            body: JSON.stringify(batch),
          });
          if (res.status === 404) {
            this.#events.gone('the kernel no longer exists on the server');
            return;
          }
          // A refused batch (400) will not get better by retrying: drop it; the kernel said why.
          if (res.status >= 500 || res.status === 429) throw new Error(`the server answered ${res.status}`);
          this.#outbox.splice(0, batch.length);
          this.#sendBackoff.reset();
        } catch {
          if (this.#abort.signal.aborted) return;
          if (!(await sleep(this.#sendBackoff.next(), this.#abort.signal))) return;
        }
      }
    } finally {
      this.#sending = false;
    }
  }
}
