// What a kernel connection needs from a transport, whichever it is.
import type { Message } from '../messages.js';

/** open: messages flow; reconnecting: lost, retrying with backoff (output is replayed on return). */
export type LinkState = 'connecting' | 'open' | 'reconnecting' | 'closed';

export interface TransportEvents {
  message(m: Message): void;
  state(s: LinkState, detail?: string): void;
  /** The kernel is gone for good (dead, shut down, unknown to the server). */
  gone(reason: string): void;
}

export interface TransportTarget {
  /** http(s) origin of the runcell server, no trailing slash. */
  server: string;
  kernelId: string;
  /** The page's id: long-poll streams of one page share one poll. */
  page: string;
  /** Stable per connection: the server replays what this session missed on reconnect. */
  session: string;
  token?: string | undefined;
  /** Asks the REST API whether the kernel still exists (false: stop retrying). */
  alive(): Promise<boolean>;
}

export interface Transport {
  readonly kind: 'websocket' | 'longpoll';
  send(m: Message): void;
  close(): void;
}
