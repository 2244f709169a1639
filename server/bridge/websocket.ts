// GET /api/kernels/:id/channels?session_id=…: the Jupyter kernel websocket, in the legacy framing or
// v1.kernel.websocket.jupyter.org when the client offers it. Delivery pulls from the kernel's replay
// log with a per-connection cursor, so a slow client costs at most clientBufferBytes of memory: past
// that the connection pauses and resumes from the log when the socket drains.
import { randomUUID } from 'node:crypto';
import type { FastifyBaseLogger, FastifyInstance, FastifyRequest } from 'fastify';
import type { WebSocket } from 'ws';
import type { Caller } from '../auth.js';
import type { AppContext } from '../context.js';
import { BadRequest, NoSuchKernel } from '../errors.js';
import { decodeFrame, FramingError, frameFor, type Protocol, V1_PROTOCOL } from './framing.js';
import type { Hub, HubKernel } from './hub.js';
import type { Outgoing } from './outgoing.js';
import type { ClientSession, Sink } from './sessions.js';

const BATCH = 256;
const PING_MS = 30_000;

/** RUNCELL_KERNEL_WS_PROTOCOL: which framings the kernel websocket speaks. */
export type WsProtocolSetting = 'any' | 'legacy' | 'v1';

/**
 * Picks the subprotocol: v1 when offered and allowed, else none (the legacy framing). With `v1` a client
 * that does not offer it was refused before the upgrade (see registerChannels).
 */
export function selectProtocol(offered: Set<string>, setting: WsProtocolSetting = 'any'): string | false {
  return setting !== 'legacy' && offered.has(V1_PROTOCOL) ? V1_PROTOCOL : false;
}

/** The subprotocols a handshake offers (Sec-WebSocket-Protocol, comma-separated). */
function offeredProtocols(header: string | string[] | undefined): Set<string> {
  const all = Array.isArray(header) ? header.join(',') : (header ?? '');
  return new Set(
    all
      .split(',')
      .map((p) => p.trim())
      .filter(Boolean),
  );
}

/**
 * Errors on an open kernel websocket. ws has already started the close handshake with the right code
 * for what the client sent (1007 for a text frame that is not UTF-8, 1009 for one over the size cap,
 * 1002 for other protocol errors): the client's fault, worth a warning and no more. Anything else is
 * ours: logged as an error, and the socket is dropped.
 */
export function onSocketError(
  err: Error & { code?: unknown },
  socket: Pick<WebSocket, 'terminate'>,
  log: Pick<FastifyBaseLogger, 'warn' | 'error'>,
): void {
  if (typeof err.code === 'string' && err.code.startsWith('WS_ERR_')) {
    log.warn({ code: err.code, reason: err.message }, 'websocket closed: the client broke the protocol');
    return;
  }
  log.error({ err }, 'websocket error');
  socket.terminate();
}

/** What a sink needs of its socket (ws's WebSocket has it). */
export interface SinkSocket {
  readonly readyState: number;
  readonly OPEN: number;
  send(data: string | Buffer, options: { binary: boolean }, cb?: (err?: Error) => void): void;
  close(code?: number, reason?: string): void;
}

/** What a sink and the frame handler use of a hub. */
type SocketHub = Pick<Hub<HubKernel>, 'since' | 'notice' | 'log' | 'fromClient'>;

/**
 * Delivers one session's share of the replay log to its websocket, from the session's cursor on
 * (a reconnect resumes where the last socket stopped). Past `cap` bytes in flight it pauses until the
 * socket drains to half of that.
 */
export class SocketSink implements Sink {
  #sent: number;
  #pending = 0;
  #paused = false;
  #closing = false;
  #pumping = false;

  constructor(
    readonly ws: SinkSocket,
    readonly hub: SocketHub,
    readonly session: ClientSession,
    readonly protocol: Protocol,
    readonly cap: number,
    readonly onLost: (n: number) => void,
    readonly onBytes: (n: number) => void = () => undefined,
  ) {
    this.#sent = session.acked;
  }

  wake(): void {
    if (!this.#paused && !this.#closing) this.#pump();
  }

  #pump(): void {
    if (this.#pumping) return;
    this.#pumping = true;
    try {
      while (!this.#paused && this.ws.readyState === this.ws.OPEN) {
        const r = this.hub.since(this.session.sid, this.#sent, BATCH);
        if (r.lost > 0) {
          this.onLost(r.lost);
          this.direct(
            this.hub.notice(
              `[runcell] ${r.lost} message(s) from the kernel were lost: this connection fell behind the ` +
                `server's replay log (it keeps the latest ${this.hub.log.maxMessages}). Output shown may be incomplete.\n`,
            ),
          );
        }
        this.#sent = r.next;
        for (const e of r.entries) this.#write(frameFor(e.value, this.session.sid, this.protocol), e.seq);
        if (r.lost === 0 && r.entries.length === 0) break;
        if (!r.more) break;
      }
      // Everything invisible to this session up to `next` counts as delivered.
      if (this.#pending === 0) this.session.acked = Math.max(this.session.acked, this.#sent);
    } finally {
      this.#pumping = false;
    }
  }

  #write(frame: string | Buffer, seq: number): void {
    const bytes = typeof frame === 'string' ? Buffer.byteLength(frame) : frame.length;
    this.onBytes(bytes);
    this.#pending += bytes;
    if (this.#pending > this.cap) this.#paused = true;
    this.ws.send(frame, { binary: typeof frame !== 'string' }, (err) => {
      this.#pending -= bytes;
      if (!err) this.session.acked = Math.max(this.session.acked, seq);
      if (this.#paused && this.#pending <= this.cap / 2) {
        this.#paused = false;
        this.#pump();
      }
      if (this.#closing && this.#pending === 0) this.#close(this.#closeCode, this.#closeReason);
    });
  }

  direct(o: Outgoing): void {
    if (this.ws.readyState !== this.ws.OPEN) return;
    const f = frameFor(o, this.session.sid, this.protocol);
    this.ws.send(f, { binary: typeof f !== 'string' });
  }

  replaced(): void {
    this.#closing = true;
    this.#close(1000, 'replaced by a newer connection with the same session id');
  }

  /**
   * The close code this server sent, if it closed the socket: what the client received, which the
   * socket's own 'close' event may not say (1006 when the connection ends before the client's echo).
   */
  get closeSent(): number | undefined {
    return this.#closeSent;
  }

  #closeSent: number | undefined;
  #close(code: number, reason: string): void {
    this.#closeSent ??= code;
    this.ws.close(code, reason);
  }

  #closeCode = 1000;
  #closeReason = '';
  kernelGone(reason: string, code: number): void {
    this.#pump();
    this.#closing = true;
    this.#closeCode = code;
    // Close reasons are limited to 123 bytes.
    this.#closeReason = Buffer.from(reason)
      .subarray(0, 120)
      .toString('utf8')
      .replace(/\uFFFD$/, '');
    if (this.#pending === 0) this.#close(this.#closeCode, this.#closeReason);
  }
}

export function registerChannels(app: FastifyInstance, ctx: AppContext): void {
  app.get<{ Params: { id: string }; Querystring: { session_id?: string } }>(
    '/api/kernels/:id/channels',
    {
      websocket: true,
      config: { access: { auth: 'cell', strictOrigin: true } },
      schema: {
        params: { type: 'object', properties: { id: { type: 'string', maxLength: 128 } }, required: ['id'] },
        querystring: { type: 'object', properties: { session_id: { type: 'string', maxLength: 256 } } },
      },
      // Checks that must answer with an HTTP status run before the upgrade.
      preHandler: async (req: FastifyRequest<{ Params: { id: string } }>) => {
        const hub = ctx.kernels.get(req.params.id);
        if (!hub || hub.dead) throw new NoSuchKernel(`no kernel with id ${req.params.id}`);
        if (
          ctx.config.kernelWsProtocol === 'v1' &&
          !offeredProtocols(req.headers['sec-websocket-protocol']).has(V1_PROTOCOL)
        ) {
          throw new BadRequest(`this server's kernel websocket speaks only ${V1_PROTOCOL}`);
        }
      },
    },
    (socket, req) => {
      const hub = ctx.kernels.get(req.params.id);
      const caller = req.caller;
      if (!hub || hub.dead) {
        socket.close(1011, 'kernel not found');
        return;
      }
      const release =
        caller.kind === 'anonymous' ? ctx.limits.sockets.acquire(caller.ipKey) : () => undefined;
      if (!release) {
        ctx.metrics.refused.inc({ reason: 'sockets' });
        socket.close(1008, `too many connections from your address (${ctx.config.ipMaxSockets})`);
        return;
      }
      serve(ctx, socket, req, hub, caller, release);
    },
  );
}

function serve(
  ctx: AppContext,
  ws: WebSocket,
  req: FastifyRequest<{ Querystring: { session_id?: string } }>,
  hub: Hub,
  caller: Caller,
  release: () => void,
): void {
  const log = req.log.child({ kernel: hub.id });
  const sid = req.query.session_id || randomUUID();
  const protocol: Protocol = ws.protocol === V1_PROTOCOL ? V1_PROTOCOL : '';
  ctx.metrics.sockets.inc();
  const { session } = hub.session(sid, caller.ipKey);
  const sink = new SocketSink(
    ws,
    hub,
    session,
    protocol,
    ctx.config.clientBufferBytes,
    (n) => ctx.metrics.lost.inc(n),
    (n) => ctx.metrics.bytes.inc({ direction: 'out', transport: 'websocket' }, n),
  );
  hub.attach(sid, caller.ipKey, sink);
  // A socket to one of a page's kernels keeps the page (and so all its kernels) alive.
  const unlink = hub.page ? ctx.kernels.pages.connect(hub.page) : () => undefined;
  log.info({ session: sid, protocol: protocol || 'legacy' }, 'websocket connected');

  let alive = true;
  const ping = setInterval(() => {
    if (!alive) return ws.terminate();
    alive = false;
    ws.ping();
  }, PING_MS);
  ping.unref();
  ws.on('pong', () => {
    alive = true;
  });

  ws.on('message', (data, isBinary) => {
    const buf = Array.isArray(data) ? Buffer.concat(data) : Buffer.isBuffer(data) ? data : Buffer.from(data);
    ctx.metrics.bytes.inc({ direction: 'in', transport: 'websocket' }, buf.length);
    receiveFrame(hub, sink, { sid, caller, protocol, log }, buf, isBinary);
  });

  ws.on('close', (code) => {
    clearInterval(ping);
    release();
    unlink();
    ctx.metrics.sockets.dec();
    hub.detach(session, sink);
    // The code the client was sent when this side closed it; else the one the client closed with.
    log.info({ session: sid, code: sink.closeSent ?? code }, 'websocket closed');
  });

  // Replay what this session missed (a reconnect), then follow the log.
  sink.wake();
}

/** A connection as the frame handler needs it. */
export interface Connection {
  sid: string;
  caller: Caller;
  protocol: Protocol;
  log: Pick<FastifyBaseLogger, 'warn' | 'error'>;
}

/**
 * Decodes one frame from a client and routes it through the hub. What cannot be read or routed is
 * answered with a notice on this connection only; the connection stays open.
 */
export function receiveFrame(
  hub: SocketHub,
  sink: Pick<Sink, 'direct'>,
  conn: Connection,
  data: Buffer,
  isBinary: boolean,
): void {
  let msg: ReturnType<typeof decodeFrame>;
  try {
    msg = decodeFrame(data, isBinary, conn.protocol);
  } catch (e) {
    const why = e instanceof FramingError ? e.message : 'the message could not be read';
    if (!(e instanceof FramingError)) conn.log.warn({ err: e }, 'undecodable frame');
    sink.direct(hub.notice(`[runcell] message refused: ${why}\n`));
    return;
  }
  try {
    hub.fromClient(conn.sid, msg, conn.caller);
  } catch (e) {
    conn.log.error({ err: e }, 'routing a client message failed');
    sink.direct(hub.notice('[runcell] message refused: internal error\n'));
  }
}
