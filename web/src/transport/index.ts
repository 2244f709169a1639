// Picks the transport: the websocket first, falling back to long-poll when it cannot connect (a proxy
// that drops upgrades, a Content-Security-Policy), or either one when forced by the page author.

import { Backoff } from '../../../shared/backoff.js';
import type { Message } from '../messages.js';
import { Dedupe } from './dedupe.js';
import { LongPollTransport } from './longpoll.js';
import type { Transport, TransportEvents, TransportTarget } from './types.js';
import { WebSocketTransport } from './websocket.js';

export type { LinkState, Transport, TransportEvents, TransportTarget } from './types.js';
export type TransportMode = 'auto' | 'websocket' | 'longpoll';

/** Servers whose websocket failed on this page: later cells go straight to long-poll. */
const websocketBroken = new Set<string>();

class AutoTransport implements Transport {
  #current: Transport;

  constructor(target: TransportTarget, events: TransportEvents) {
    const dedupe = new Dedupe();
    const backoff = new Backoff();
    const ws = new WebSocketTransport(target, events, {
      dedupe,
      backoff,
      onFirstFailure: () => {
        websocketBroken.add(target.server);
        const lp = new LongPollTransport(target, events, { dedupe, backoff });
        for (const m of ws.takeQueue()) lp.send(m);
        this.#current = lp;
      },
    });
    this.#current = ws;
  }

  get kind(): Transport['kind'] {
    return this.#current.kind;
  }

  send(m: Message): void {
    this.#current.send(m);
  }

  close(): void {
    this.#current.close();
  }
}

export function connect(target: TransportTarget, events: TransportEvents, mode: TransportMode): Transport {
  if (mode === 'longpoll' || (mode === 'auto' && websocketBroken.has(target.server)))
    return new LongPollTransport(target, events);
  if (mode === 'websocket') return new WebSocketTransport(target, events);
  return new AutoTransport(target, events);
}
