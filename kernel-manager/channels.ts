// The five ZMQ sockets that talk to one kernel, over ipc:// sockets in its runtime dir.
// Spec: https://jupyter-client.readthedocs.io/en/latest/messaging.html#introduction
//   shell, control, stdin: DEALER (we) <-> ROUTER (kernel); iopub: SUB <- PUB; hb: REQ <-> REP.
import { randomBytes } from 'node:crypto';
import * as zmq from 'zeromq';
import { KernelManagerError } from './errors.js';
import type { Channel, SendChannel } from './messages.js';

/** Every first byte but "s", and "s" followed by anything but "t": all iopub topics except streams. */
const NON_STREAM_PREFIXES: Buffer[] = [
  ...Array.from({ length: 256 }, (_, b) => b)
    .filter((b) => b !== 0x73)
    .map((b) => Buffer.from([b])),
  ...Array.from({ length: 256 }, (_, b) => b)
    .filter((b) => b !== 0x74)
    .map((b) => Buffer.from([0x73, b])),
];
/** Messages waiting per channel for the kernel to read before more are refused. */
const MAX_QUEUED_SENDS = 10_000;

interface Outbox {
  items: { frames: Buffer[]; resolve: () => void; reject: (e: unknown) => void }[];
  sending: boolean;
}

export const PORTS = { shell: 1, iopub: 2, stdin: 3, control: 4, hb: 5 } as const;

export interface ChannelHandlers {
  onFrames(channel: Channel, frames: Buffer[]): void;
  /** The iopub connection dropped while open: usually a message over the size limit. */
  onIopubDisconnect(): void;
}

export class Channels {
  readonly #dealers: Record<SendChannel, zmq.Dealer>;
  readonly #iopub: zmq.Subscriber;
  readonly #prefix: string;
  #hb: zmq.Request | undefined;
  #closed = false;
  #streamsOn = true;
  readonly #outbox: Record<SendChannel, Outbox> = {
    shell: { items: [], sending: false },
    control: { items: [], sending: false },
    stdin: { items: [], sending: false },
  };
  readonly #maxMessageBytes: number;
  readonly #pending = new Set<Channel>(['shell', 'control', 'stdin', 'iopub']);

  constructor(ipcPrefix: string, maxMessageBytes: number, handlers: ChannelHandlers) {
    this.#prefix = ipcPrefix;
    this.#maxMessageBytes = maxMessageBytes;
    // ipc sockets appear when the kernel binds them; retry connecting often so start-up is quick.
    const opts = { linger: 0, maxMessageSize: maxMessageBytes, reconnectInterval: 20 };
    // Deep receive queues: the kernel's PUB drops what does not fit when we fall behind, and so does
    // its ROUTER (shell, control, stdin replies; a busy server under a CPU hog lost 198 of 4,000
    // queued kernel_info replies at the default 1,000).
    const deep = { ...opts, receiveHighWaterMark: 100_000 };
    const iopubOpts = deep;
    // The kernel sends input_request to the identity the execute_request came from (on shell), so
    // stdin must share shell's routing id, as jupyter_client's session identity does.
    const identity = { ...deep, routingId: randomBytes(16).toString('hex') };
    this.#dealers = {
      shell: new zmq.Dealer(identity),
      control: new zmq.Dealer(identity),
      stdin: new zmq.Dealer(identity),
    };
    this.#iopub = new zmq.Subscriber(iopubOpts);
    this.#iopub.subscribe();
    for (const [name, sock] of Object.entries(this.#dealers) as [SendChannel, zmq.Dealer][]) {
      sock.events.on('handshake', () => this.#pending.delete(name));
      sock.connect(this.#address(name));
      void this.#pump(name, sock, handlers);
    }
    this.#iopub.events.on('handshake', () => this.#pending.delete('iopub'));
    this.#iopub.connect(this.#address('iopub'));
    void this.#pump('iopub', this.#iopub, handlers);
    this.#iopub.events.on('disconnect', () => {
      if (!this.#closed) handlers.onIopubDisconnect();
    });
  }

  /**
   * True once every channel has completed its ZMTP handshake with the kernel. Until then a ROUTER
   * in the kernel silently drops what it sends to us there (e.g. an input_request on stdin).
   */
  get connected(): boolean {
    return this.#pending.size === 0;
  }

  #address(name: keyof typeof PORTS): string {
    return `ipc://${this.#prefix}-${PORTS[name]}`;
  }

  async #pump(channel: Channel, sock: zmq.Dealer | zmq.Subscriber, h: ChannelHandlers): Promise<void> {
    try {
      for await (const frames of sock) {
        if (this.#closed) return;
        h.onFrames(channel, frames);
      }
    } catch {
      // The socket was closed under the receive loop: nothing to do.
    }
  }

  /**
   * Stops (false) or resumes (true) receiving stream output on iopub. The kernel's PUB socket does the
   * filtering (subscriptions travel upstream over ipc), so output dropped this way costs the server
   * nothing. Everything else (status, results, errors, displays) keeps arriving: ipykernel's stream
   * topics are `stream.stdout` and `stream.stderr`, and no other topic starts with "st".
   */
  streams(on: boolean): void {
    if (this.#closed || this.#streamsOn === on) return;
    this.#streamsOn = on;
    if (on) {
      this.#iopub.subscribe();
      for (const p of NON_STREAM_PREFIXES) this.#iopub.unsubscribe(p);
    } else {
      for (const p of NON_STREAM_PREFIXES) this.#iopub.subscribe(p);
      this.#iopub.unsubscribe();
    }
  }

  /**
   * Queues a message for the kernel. zeromq allows one send in progress per socket (a second one
   * throws "busy writing" once the kernel stops reading and the high-water mark is reached), so each
   * channel sends from its own queue, in order. A full queue is refused at once (BUSY).
   */
  send(channel: SendChannel, frames: Buffer[]): Promise<void> {
    if (this.#closed) return Promise.reject(new Error('channels closed'));
    const q = this.#outbox[channel];
    if (q.items.length >= MAX_QUEUED_SENDS)
      throw new KernelManagerError('BUSY', 'the kernel is not reading its messages; try again later');
    return new Promise((resolve, reject) => {
      q.items.push({ frames, resolve, reject });
      if (!q.sending) void this.#drain(channel);
    });
  }

  async #drain(channel: SendChannel): Promise<void> {
    const q = this.#outbox[channel];
    q.sending = true;
    try {
      for (let item = q.items.shift(); item; item = q.items.shift()) {
        try {
          if (this.#closed) throw new Error('channels closed');
          await this.#dealers[channel].send(item.frames);
          item.resolve();
        } catch (e) {
          item.reject(e);
        }
      }
    } finally {
      q.sending = false;
    }
  }

  /** One heartbeat round trip; resolves false when no echo arrives within timeoutMs. */
  async ping(timeoutMs: number): Promise<boolean> {
    if (this.#closed) return false;
    if (!this.#hb) {
      this.#hb = new zmq.Request({
        linger: 0,
        receiveTimeout: timeoutMs,
        maxMessageSize: this.#maxMessageBytes,
      });
      this.#hb.connect(this.#address('hb'));
    }
    const hb = this.#hb;
    try {
      await hb.send('ping');
      await hb.receive();
      return true;
    } catch {
      // REQ is stuck after a lost reply: throw it away and start afresh next time.
      hb.close();
      if (this.#hb === hb) this.#hb = undefined;
      return false;
    }
  }

  close(): void {
    if (this.#closed) return;
    this.#closed = true;
    for (const s of Object.values(this.#dealers)) s.close();
    this.#iopub.close();
    this.#hb?.close();
  }
}
