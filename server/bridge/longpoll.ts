// Long-poll transport over the same hub, routing, limits and replay log as the websocket:
//   POST /api/kernels/:id/messages?session_id=S   one message, an array, or {messages: [...]}
//   GET  /api/kernels/:id/messages?session_id=S&after=SEQ&timeout=SECONDS
// GET answers as soon as a message after SEQ is visible to S, or with an empty list when the hold
// ends; `next` is the cursor for the following poll, `lost` counts messages that fell out of the log.
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { AppContext } from '../context.js';
import { BadRequest, NoSuchKernel, RateLimited, withRetryAfter } from '../errors.js';
import { FramingError, jsonFor, MAX_BUFFERS, toWireMessage, type WireMessage } from './framing.js';
import type { Hub, HubKernel } from './hub.js';
import type { ClientSession } from './sessions.js';

const Params = Type.Object({ id: Type.String({ maxLength: 128 }) });
const SessionId = Type.String({ minLength: 1, maxLength: 256 });
const GetQuery = Type.Object({
  session_id: SessionId,
  after: Type.Optional(Type.Integer({ minimum: 0 })),
  timeout: Type.Optional(Type.Number({ minimum: 0, maximum: 120 })),
});
const PostQuery = Type.Object({ session_id: SessionId });

/** The messages of a POST body: one message, an array, or {messages: [...]}; buffers in base64. */
export function parseMessages(body: unknown): WireMessage[] {
  const list = Array.isArray(body)
    ? body
    : body && typeof body === 'object' && Array.isArray((body as { messages?: unknown }).messages)
      ? (body as { messages: unknown[] }).messages
      : body && typeof body === 'object'
        ? [body]
        : undefined;
  if (!list || list.length === 0)
    throw new BadRequest('send a message, an array of messages or {"messages": [...]}');
  if (list.length > 100) throw new BadRequest('at most 100 messages per request');
  return list.map((m, i) => {
    try {
      const raw = (m as { buffers?: unknown })?.buffers;
      if (
        raw !== undefined &&
        (!Array.isArray(raw) || raw.length > MAX_BUFFERS || raw.some((b) => typeof b !== 'string'))
      )
        throw new FramingError(`buffers must be an array of at most ${MAX_BUFFERS} base64 strings`);
      const buffers = ((raw as string[] | undefined) ?? []).map((b) => Buffer.from(b, 'base64'));
      if (m && typeof m === 'object') delete (m as { buffers?: unknown }).buffers;
      return toWireMessage(m, buffers);
    } catch (e) {
      if (e instanceof FramingError) throw new BadRequest(`message ${i}: ${e.message}`);
      throw e;
    }
  });
}

export function registerLongPoll(app: FastifyInstance, ctx: AppContext): void {
  const access = { auth: 'cell' as const, strictOrigin: true };

  app.post<{ Params: { id: string }; Querystring: { session_id: string } }>(
    '/api/kernels/:id/messages',
    { config: { access }, schema: { params: Params, querystring: PostQuery } },
    async (req) => {
      const hub = ctx.kernels.get(req.params.id);
      if (!hub || hub.dead) throw new NoSuchKernel(`no kernel with id ${req.params.id}`);
      const msgs = parseMessages(req.body);
      ctx.metrics.bytes.inc(
        { direction: 'in', transport: 'longpoll' },
        Number(req.headers['content-length']) || 0,
      );
      for (const m of msgs) hub.fromClient(req.query.session_id, m, req.caller, 'longpoll');
      return { accepted: msgs.length };
    },
  );

  app.get<{ Params: { id: string }; Querystring: { session_id: string; after?: number; timeout?: number } }>(
    '/api/kernels/:id/messages',
    { config: { access }, schema: { params: Params, querystring: GetQuery } },
    async (req, reply) => {
      const hub = ctx.kernels.get(req.params.id);
      if (!hub) throw new NoSuchKernel(`no kernel with id ${req.params.id}`);
      const { session_id: sid } = req.query;
      const caller = req.caller;
      const release =
        caller.kind === 'anonymous' ? ctx.limits.pollers.acquire(caller.ipKey) : () => undefined;
      if (!release) {
        ctx.metrics.refused.inc({ reason: 'pollers' });
        throw withRetryAfter(
          new RateLimited(`at most ${ctx.config.ipMaxPollers} concurrent polls per address`),
          1,
        );
      }
      const left = hub.pollerEntered();
      const unlink = hub.page ? ctx.kernels.pages.connect(hub.page) : () => undefined;
      ctx.metrics.longpolls.inc();
      const abort = new AbortController();
      const onClose = () => abort.abort();
      req.raw.on('close', onClose);
      try {
        const { session } = hub.session(sid, caller.ipKey);
        const holdMs = Math.min(
          req.query.timeout === undefined ? ctx.config.pollTimeoutMs : req.query.timeout * 1000,
          ctx.config.pollTimeoutMs,
        );
        const { body, lost } = await poll(hub, session, {
          after: req.query.after,
          holdMs,
          max: ctx.config.pollMaxMessages,
          signal: abort.signal,
          draining: () => ctx.draining,
        });
        if (lost > 0) ctx.metrics.lost.inc(lost);
        reply.header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-store');
        ctx.metrics.bytes.inc({ direction: 'out', transport: 'longpoll' }, Buffer.byteLength(body));
        return reply.send(body);
      } finally {
        req.raw.off('close', onClose);
        ctx.metrics.longpolls.dec();
        left();
        unlink();
        release();
      }
    },
  );
}

export interface PollOptions {
  /** The client's cursor; undefined: what the session was last known to have. */
  after: number | undefined;
  /** How long to wait for a first entry. */
  holdMs: number;
  /** Entries per answer at most. */
  max: number;
  /** The client went away. */
  signal: AbortSignal;
  /** The server is stopping: answer now. */
  draining(): boolean;
}

/**
 * One GET: the entries after the cursor visible to this session, as soon as there is one (or a
 * loss to report), or none when the hold ends, the client leaves, the kernel dies or the server
 * stops. Returns the response body and how many entries fell out of the log.
 */
export async function poll(
  hub: Pick<Hub<HubKernel>, 'since' | 'log' | 'dead' | 'waitForEntries'>,
  session: ClientSession,
  opts: PollOptions,
): Promise<{ body: string; lost: number }> {
  const sid = session.sid;
  const after = opts.after ?? session.acked;
  session.acked = Math.max(session.acked, Math.min(after, hub.log.lastSeq));
  const deadline = Date.now() + opts.holdMs;
  let r = hub.since(sid, after, opts.max);
  while (r.entries.length === 0 && r.lost === 0 && !hub.dead && !opts.signal.aborted && !opts.draining()) {
    const wait = deadline - Date.now();
    if (wait <= 0) break;
    await hub.waitForEntries(wait, opts.signal);
    r = hub.since(sid, after, opts.max);
  }
  session.lastSeen = Date.now();
  const dead = hub.dead && r.next >= hub.log.lastSeq ? `,"dead":${JSON.stringify(hub.dead.reason)}` : '';
  const body = `{"messages":[${r.entries.map((e) => jsonFor(e, sid)).join(',')}],"next":${r.next},"lost":${r.lost},"more":${r.more}${dead}}`;
  return { body, lost: r.lost };
}
