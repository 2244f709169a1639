// Long-poll for the whole page, for networks where websockets cannot connect. Every kernel the page
// talks to on one server is a stream of one held request (docs/api.md "Long-poll for a page"):
//   POST /api/poll/K           {page, timeout, streams: [{kernel, session, after}]} -> {streams: [...]}
//   POST /api/poll/K/messages  {messages: [{kernel, session, message}]}           -> {accepted, gone}
// so a page of twenty cells holds one connection for its poll and sends everything else through its
// lane (api.ts), one request at a time: never more than two connections per host. The held poll is
// never dropped for a new stream (the server ends it when the new stream's first message arrives).
// K is one of the streams' kernels: behind a proxy that routes by kernel id, each instance (kernel id
// prefix) gets its own poll. Each stream keeps its own cursor, which survives failed polls: after a
// drop every stream resumes where it was, nothing lost or repeated.

import { Backoff, sleep } from '../../../shared/backoff.js';
import { laneFor } from '../api.js';
import { lostNotice, type Message, request } from '../messages.js';
import { Dedupe } from './dedupe.js';
import type { Transport, TransportEvents, TransportTarget } from './types.js';

export interface LongPollOptions {
  backoff?: Backoff;
  dedupe?: Dedupe;
}

interface StreamAnswer {
  kernel: string;
  messages: Message[];
  next: number;
  lost: number;
  dead?: string;
  gone?: boolean;
}

/** How long the server may hold a poll, in seconds. */
const HOLD_S = 25;

/** One server's poll for every stream of the page. */
class PageLink {
  readonly #streams = new Set<LongPollTransport>();
  readonly #backoff = new Backoff();
  readonly #sendBackoff = new Backoff();
  #outbox: { stream: LongPollTransport; m: Message }[] = [];
  #sending = false;
  #running = false;
  /** The streams of the poll being held (undefined between polls). */
  #held: Set<LongPollTransport> | undefined;
  /** Aborts the poll in flight: only when the page has no stream left here. */
  #inflight: AbortController | undefined;
  /** Streams that have sent something (their message ends a held poll that lacks them). */
  readonly #spoke = new WeakSet<LongPollTransport>();
  /** While the page has streams here, its other requests to this server go one at a time. */
  #unnarrow: (() => void) | undefined;

  constructor(
    readonly server: string,
    readonly token: string | undefined,
    readonly page: string,
  ) {}

  add(s: LongPollTransport): void {
    this.#streams.add(s);
    this.#unnarrow ??= laneFor(this.server).narrow();
    if (!this.#running) {
      void this.#loop();
      return;
    }
    // The held poll does not carry the new stream. Dropping it would cost its connection (a browser
    // cannot reuse a connection whose response it abandoned) and open another: instead the stream's
    // first message ends it on the server, and the next poll carries the stream. A stream that sends
    // nothing at once (a kernel started before its cell runs) says hello, as Jupyter clients do on
    // connecting: a kernel_info_request.
    setTimeout(() => {
      if (this.#held && !this.#held.has(s) && this.#streams.has(s) && !this.#spoke.has(s))
        this.send(s, request('kernel_info_request', {}, s.key().session));
    }, 0);
  }

  remove(s: LongPollTransport): void {
    this.#streams.delete(s);
    this.#outbox = this.#outbox.filter((o) => o.stream !== s);
    if (this.#streams.size === 0) {
      this.#unnarrow?.();
      this.#unnarrow = undefined;
      this.#inflight?.abort();
    }
  }

  send(stream: LongPollTransport, m: Message): void {
    this.#spoke.add(stream);
    this.#outbox.push({ stream, m });
    void this.#flush();
  }

  #url(anchor: LongPollTransport, tail: string): URL {
    return new URL(`/api/poll/${encodeURIComponent(anchor.key().kernel)}${tail}`, this.server);
  }

  #headers(extra: Record<string, string> = {}): Record<string, string> {
    // text/plain: a "simple" request, no CORS preflight (the server parses it as JSON).
    const h = { 'content-type': 'text/plain;charset=UTF-8', ...extra };
    return this.token ? { ...h, authorization: `token ${this.token}` } : h;
  }

  async #loop(): Promise<void> {
    this.#running = true;
    try {
      while (this.#streams.size > 0) {
        const streams = [...this.#streams];
        const abort = new AbortController();
        this.#inflight = abort;
        this.#held = new Set(streams);
        // A stream not yet open gets an immediate answer, so its cell knows it is connected; one that
        // has sent something (a run) will have an answer soon anyway, and the poll is held for it.
        const fresh = streams.some((s) => !s.open && !this.#spoke.has(s));
        try {
          const res = await fetch(this.#url(streams[0] as LongPollTransport, ''), {
            method: 'POST',
            signal: abort.signal,
            headers: this.#headers(),
            cache: 'no-store',
            body: JSON.stringify({
              page: this.page,
              timeout: fresh ? 0 : HOLD_S,
              streams: streams.map((s) => s.cursorRequest()),
            }),
          });
          if (!res.ok) throw new Error(`the server answered ${res.status}`);
          const body = (await res.json()) as { streams: StreamAnswer[] };
          this.#backoff.reset();
          for (const [i, a] of body.streams.entries()) streams[i]?.answer(a);
        } catch (e) {
          if (abort.signal.aborted) continue; // no streams left: the loop ends
          const why = e instanceof Error ? e.message : String(e);
          for (const s of streams) s.failed(why);
          await sleep(this.#backoff.next());
        } finally {
          this.#held = undefined;
        }
      }
    } finally {
      this.#running = false;
      this.#inflight = undefined;
      this.#held = undefined;
    }
  }

  async #flush(): Promise<void> {
    if (this.#sending) return;
    this.#sending = true;
    try {
      while (this.#outbox.length > 0) {
        const batch = this.#outbox.slice(0, 100);
        try {
          const res = await laneFor(this.server).run(() =>
            fetch(this.#url((batch[0] as { stream: LongPollTransport }).stream, '/messages'), {
              method: 'POST',
              headers: this.#headers(),
              body: JSON.stringify({
                messages: batch.map(({ stream, m }) => ({ ...stream.key(), message: m })),
              }),
            }),
          );
          if (res.status >= 500 || res.status === 429) throw new Error(`the server answered ${res.status}`);
          // A refused batch (400) will not get better by retrying: drop it.
          this.#outbox = this.#outbox.filter((o) => !batch.includes(o));
          this.#sendBackoff.reset();
          if (res.ok) {
            const { gone = [] } = (await res.json()) as { gone?: string[] };
            for (const { stream } of batch)
              if (gone.includes(stream.key().kernel))
                stream.gone('the kernel no longer exists on the server');
          }
        } catch {
          await sleep(this.#sendBackoff.next());
        }
      }
    } finally {
      this.#sending = false;
    }
  }
}

const links = new Map<string, PageLink>();

/** Kernel ids are an instance prefix (RUNCELL_KERNEL_ID_PREFIX, often empty) and a UUID. */
const instanceOf = (kernelId: string) => kernelId.slice(0, Math.max(0, kernelId.length - 36));

function linkFor(t: TransportTarget): PageLink {
  const key = `${t.server}|${t.token ?? ''}|${instanceOf(t.kernelId)}`;
  let l = links.get(key);
  if (!l) {
    l = new PageLink(t.server, t.token, t.page);
    links.set(key, l);
  }
  return l;
}

/** One kernel's stream on the page's poll. */
export class LongPollTransport implements Transport {
  readonly kind = 'longpoll' as const;
  readonly #target: TransportTarget;
  readonly #events: TransportEvents;
  readonly #dedupe: Dedupe;
  readonly #link: PageLink;
  #cursor: number | undefined;
  #closed = false;
  open = false;

  constructor(target: TransportTarget, events: TransportEvents, opts: LongPollOptions = {}) {
    this.#target = target;
    this.#events = events;
    this.#dedupe = opts.dedupe ?? new Dedupe();
    this.#link = linkFor(target);
    events.state('connecting');
    this.#link.add(this);
  }

  key(): { kernel: string; session: string } {
    return { kernel: this.#target.kernelId, session: this.#target.session };
  }

  cursorRequest(): { kernel: string; session: string; after?: number } {
    return this.#cursor === undefined ? this.key() : { ...this.key(), after: this.#cursor };
  }

  send(m: Message): void {
    if (!this.#closed) this.#link.send(this, m);
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#link.remove(this);
    this.#events.state('closed');
  }

  /** This stream's share of a poll's answer. */
  answer(a: StreamAnswer): void {
    if (this.#closed || a.kernel !== this.#target.kernelId) return;
    if (a.gone) {
      this.gone('the kernel no longer exists on the server');
      return;
    }
    if (!this.open) {
      this.open = true;
      this.#events.state('open');
    }
    this.#cursor = a.next;
    if (a.lost > 0) this.#events.message(lostNotice(a.lost, this.#target.session));
    for (const m of a.messages) if (this.#dedupe.first(m.header?.msg_id)) this.#events.message(m);
    if (a.dead !== undefined) this.gone(a.dead);
  }

  failed(why: string): void {
    if (this.#closed) return;
    this.open = false;
    this.#events.state('reconnecting', why);
  }

  gone(reason: string): void {
    if (this.#closed) return;
    this.#closed = true;
    this.#link.remove(this);
    this.#events.gone(reason);
  }
}
