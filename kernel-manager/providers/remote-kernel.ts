// One kernel on a Jupyter Server / Kernel Gateway / Enterprise Gateway host: started and stopped over
// REST, messages over the kernel's channels websocket (Jupyter's JSON websocket protocol, serialized by
// @jupyterlab/services; the gateway signs and verifies the ZMQ side). Lifecycle, limits and execution
// tracking are the kernel core's (kernel-core.ts), as for LocalKernel.
import { deserialize, serialize } from '@jupyterlab/services/lib/kernel/serialize.js';
import type { Logger } from 'pino';
import WebSocket from 'ws';
import { KernelManagerError } from '../errors.js';
import { KernelCore, sleep } from '../kernel-core.js';
import type { ChannelMessage, Header, JsonObject, Message, SendChannel } from '../messages.js';
import type { FileStat, GatewayConfig, KernelFiles, Limits } from '../types.js';
import { call, channelsUrl, GatewayHttpError, isHostFailure } from './rest.js';

const CHANNEL_NAMES = new Set(['shell', 'control', 'stdin', 'iopub']);

export interface RemoteKernelDeps {
  gateway: GatewayConfig;
  limits: Limits;
  log: Logger;
  /** Every REST call's outcome, for the provider's health accounting. */
  onCall(ok: boolean): void;
}

/** A remote kernel's work dir is on the gateway's host: not reachable from here. */
class RemoteFiles implements KernelFiles {
  readonly hostSide = false;
  async grow(): Promise<void> {
    throw new KernelManagerError('FILE_REFUSED', 'not available for remote kernels');
  }
  list(): FileStat[] {
    return [];
  }
  read(): Buffer {
    throw new KernelManagerError('FILE_REFUSED', 'not available for remote kernels');
  }
  async write(): Promise<number> {
    throw new KernelManagerError('FILE_REFUSED', 'not available for remote kernels');
  }
}

export class RemoteKernel extends KernelCore {
  readonly files: KernelFiles = new RemoteFiles();
  readonly #deps: RemoteKernelDeps;
  /** The kernel's id on the gateway. */
  #remoteId: string | undefined;
  #ws: WebSocket | undefined;
  #generation = 0;

  constructor(id: string, specName: string, deps: RemoteKernelDeps) {
    // No lost idle is supplied: this kernel's iopub is the gateway's to deliver.
    super(id, specName, {
      limits: deps.limits,
      log: deps.log.child({ kernel: id, gateway: deps.gateway.url }),
      idleGraceMs: 0,
    });
    this.#deps = deps;
  }

  /** The gateway this kernel runs on. */
  get gateway(): string {
    return this.#deps.gateway.url;
  }
  /** The kernel's id on the gateway (diagnostics). */
  get remoteId(): string | undefined {
    return this.#remoteId;
  }

  async #rest(method: string, path: string, body?: unknown): Promise<unknown> {
    try {
      const r = await call(this.#deps.gateway, method, path, body);
      this.#deps.onCall(true);
      return r;
    } catch (e) {
      this.#deps.onCall(!isHostFailure(e));
      throw e;
    }
  }

  #kernelPath(suffix = ''): string {
    return `api/kernels/${encodeURIComponent(this.#remoteId ?? '')}${suffix}`;
  }

  /** POST /api/kernels, then the channels websocket; resolves when the kernel answers kernel_info. */
  async launch(): Promise<void> {
    let model: unknown;
    try {
      model = await this.#rest('POST', 'api/kernels', { name: this.specName });
    } catch (e) {
      throw new KernelManagerError('START_FAILED', `the gateway ${this.gateway} did not start a kernel`, {
        cause: e,
      });
    }
    const rid = (model as { id?: unknown } | undefined)?.id;
    if (typeof rid !== 'string')
      throw new KernelManagerError('START_FAILED', 'the gateway sent no kernel id');
    this.#remoteId = rid;
    try {
      await this.#connectAndWait();
    } catch (e) {
      await this.#stopRemote();
      throw e;
    }
    this.log.debug({ remoteId: rid }, 'remote kernel ready');
    void this.#monitor();
  }

  async #connectAndWait(): Promise<void> {
    const gen = ++this.#generation;
    const deadline = Date.now() + this.limits.startupTimeoutMs;
    const ws = await this.#open(gen, deadline);
    await this.awaitReady({
      deadline,
      what: 'the remote kernel',
      failed: () =>
        gen !== this.#generation || this.isDead() || ws.readyState !== WebSocket.OPEN
          ? 'the remote kernel went away during start-up'
          : undefined,
    });
  }

  #open(gen: number, deadline: number): Promise<WebSocket> {
    const g = this.#deps.gateway;
    const ws = new WebSocket(channelsUrl(g, this.#remoteId ?? '', this.session), {
      headers: g.token ? { authorization: `token ${g.token}` } : {},
      maxPayload: this.limits.maxMessageBytes,
      handshakeTimeout: Math.max(1, deadline - Date.now()),
    });
    ws.binaryType = 'arraybuffer';
    this.#ws = ws;
    ws.on('message', (data: ArrayBuffer | Buffer, isBinary: boolean) =>
      this.#onData(gen, isBinary ? (data as ArrayBuffer) : data.toString()),
    );
    ws.on('close', (code) => this.#onClose(gen, code));
    // A later socket error is followed by 'close', which decides what it means; without a listener it would throw.
    ws.on('error', (e) => this.log.debug({ err: e }, 'kernel websocket error'));
    return new Promise((resolve, reject) => {
      ws.once('open', () => resolve(ws));
      ws.once('error', (e) =>
        reject(new KernelManagerError('START_FAILED', 'the kernel websocket did not open', { cause: e })),
      );
    });
  }

  #onData(gen: number, data: ArrayBuffer | string): void {
    if (gen !== this.#generation) return;
    let raw: JsonObject;
    try {
      raw = deserialize(data as ArrayBuffer, '') as unknown as JsonObject;
    } catch {
      this.log.warn('dropped an unreadable message from the gateway');
      return;
    }
    const channel = raw.channel;
    const header = raw.header as Header | undefined;
    if (typeof channel !== 'string' || !CHANNEL_NAMES.has(channel) || typeof header?.msg_type !== 'string') {
      return;
    }
    const buffers = Array.isArray(raw.buffers)
      ? (raw.buffers as (ArrayBuffer | ArrayBufferView)[]).map((b) =>
          ArrayBuffer.isView(b) ? Buffer.from(b.buffer, b.byteOffset, b.byteLength) : Buffer.from(b),
        )
      : [];
    const msg: ChannelMessage = {
      channel: channel as ChannelMessage['channel'],
      header,
      parent_header: (raw.parent_header ?? {}) as Partial<Header>,
      metadata: (raw.metadata ?? {}) as JsonObject,
      content: (raw.content ?? {}) as JsonObject,
      buffers,
    };
    this.receive(msg, typeof data === 'string' ? data.length : data.byteLength);
  }

  /** The websocket closed under us: find out whether the kernel or the gateway is gone. */
  #onClose(gen: number, code: number): void {
    if (gen !== this.#generation || this.transitioning || this.isDead()) return;
    void (async () => {
      const why = await this.#probe();
      if (gen !== this.#generation || this.transitioning || this.isDead()) return;
      if (why) {
        this.die(why);
        return;
      }
      // The kernel lives on: the connection alone dropped (a gateway restart of its proxy, say).
      try {
        this.log.info({ code }, 'kernel websocket closed; reconnecting');
        await this.#open(++this.#generation, Date.now() + this.limits.startupTimeoutMs);
      } catch {
        this.die("the websocket to the kernel's gateway closed and could not be reopened");
      }
    })();
  }

  /** GET the kernel's model: undefined while it lives, else why it is gone. */
  async #probe(): Promise<string | undefined> {
    try {
      const m = (await this.#rest('GET', this.#kernelPath())) as { execution_state?: unknown } | undefined;
      if (m?.execution_state === 'dead') return 'the kernel died on its gateway';
      return undefined;
    } catch (e) {
      if (e instanceof GatewayHttpError && e.status === 404) return 'the kernel is gone from its gateway';
      return "the kernel's gateway stopped answering";
    }
  }

  /** Heartbeat: the websocket plus a periodic GET of the kernel model; 3 failed checks in a row: dead. */
  async #monitor(): Promise<void> {
    const interval = Math.max(this.limits.heartbeatIntervalMs, 1_000);
    let failures = 0;
    while (!this.isDead()) {
      await sleep(interval);
      if (this.isDead()) return;
      if (this.transitioning) continue;
      const why = await this.#probe();
      if (this.isDead() || this.transitioning) continue;
      if (!why) failures = 0;
      else if (why.includes('gone') || why.includes('died') || ++failures >= 3) {
        this.die(why);
        return;
      }
    }
  }

  /** Marks the kernel dead from outside (its gateway was marked down). */
  lost(reason: string): void {
    this.die(reason);
  }

  protected transmit(channel: SendChannel, msg: Message): void {
    const ws = this.#ws;
    if (!ws || ws.readyState !== WebSocket.OPEN)
      throw new KernelManagerError('DEAD', 'the kernel is not connected');
    const wire = {
      ...msg,
      channel,
      buffers: msg.buffers.map((b) => new DataView(b.buffer, b.byteOffset, b.byteLength)),
    };
    ws.send(serialize(wire as unknown as Parameters<typeof serialize>[0], ''));
  }

  /** REST interrupt: the gateway signals or messages the kernel as its spec says. */
  protected async interruptKernel(): Promise<void> {
    await this.#rest('POST', this.#kernelPath('/interrupt'));
  }

  /** REST restart (the gateway keeps the kernel's id), then a new channels websocket. */
  protected async restartKernel(): Promise<void> {
    this.#generation++;
    this.#ws?.close();
    await this.#rest('POST', this.#kernelPath('/restart'));
    await this.#connectAndWait();
  }

  protected stopKernel(): Promise<void> {
    return this.#stopRemote();
  }

  protected destroyKernel(): Promise<void> {
    return this.#stopRemote();
  }

  /** DELETE the kernel on the gateway (best effort: a gone gateway has nothing left to delete). */
  async #stopRemote(): Promise<void> {
    this.#generation++;
    this.#ws?.close();
    this.#ws = undefined;
    if (this.#remoteId === undefined) return;
    try {
      await this.#rest('DELETE', this.#kernelPath());
    } catch (e) {
      this.log.debug({ err: e }, 'DELETE of the remote kernel failed');
    }
  }

  protected override die(reason: string): void {
    if (this.isDead()) return;
    this.#generation++;
    this.#ws?.terminate();
    this.#ws = undefined;
    // Reasons reach browsers: they never name the gateway's (internal) address; the log does.
    this.log.info({ reason }, 'remote kernel dead');
    super.die(reason);
  }
}
