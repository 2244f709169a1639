// Long-poll for a whole page: one held request carries the messages of every kernel the page talks
// to, so a page with twenty cells needs one connection for its poll and one for everything else (a
// browser opens at most six HTTP/1.1 connections per host, shared with the page's other requests).
//   POST /api/poll/:kernel           {page?, timeout?, streams: [{kernel, session, after?}]}
//                                    -> {streams: [{kernel, session, messages, next, lost, more, dead?, gone?}]}
//   POST /api/poll/:kernel/messages  {messages: [{kernel, session, message}]} -> {accepted, gone: [kernel]}
// `:kernel` is any kernel of the streams: it names the instance for a proxy that routes by kernel id
// (ops/haproxy), so a page polls each instance its kernels live on once.
// Each stream is one kernel and session with its own cursor, as in GET /api/kernels/:id/messages:
// the answer comes as soon as any stream has something (a message, a loss, the kernel's death or
// absence), else empty when the hold ends; resuming every cursor after a drop loses and repeats nothing.
// A message for a stream of the page that a held poll does not carry (a cell's first run on its new
// kernel) ends that poll at once (pagewake.ts), so the client polls again with the new stream instead
// of dropping the held request.
import { setMaxListeners } from 'node:events';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import { sleep } from '../../shared/backoff.js';
import type { AppContext } from '../context.js';
import { BadRequest, RateLimited, withRetryAfter } from '../errors.js';
import { jsonFor } from './framing.js';
import type { Hub } from './hub.js';
import { parseMessages } from './longpoll.js';
import { PAGE_ID } from './pages.js';
import { PageWakes, streamKey } from './pagewake.js';
import type { ClientSession } from './sessions.js';

/** Streams per poll at most (a page's kernels; more than the per-page kernel limit allows by default). */
export const MAX_STREAMS = 64;

const Id = Type.String({ minLength: 1, maxLength: 128 });
const SessionId = Type.String({ minLength: 1, maxLength: 256 });
const Page = Type.String({ pattern: PAGE_ID.source });
const Route = Type.Object({ kernel: Id });
const PollBody = Type.Object({
  page: Type.Optional(Page),
  timeout: Type.Optional(Type.Number({ minimum: 0, maximum: 120 })),
  streams: Type.Array(
    Type.Object({ kernel: Id, session: SessionId, after: Type.Optional(Type.Integer({ minimum: 0 })) }),
    { maxItems: MAX_STREAMS },
  ),
});
const SendBody = Type.Object({
  messages: Type.Array(
    Type.Object({ kernel: Id, session: SessionId, message: Type.Unknown() }, { additionalProperties: false }),
    { minItems: 1, maxItems: 100 },
  ),
});

interface PollReq {
  page?: string;
  timeout?: number;
  streams: { kernel: string; session: string; after?: number }[];
}

interface Stream {
  kernel: string;
  hub: Hub | undefined;
  session: ClientSession | undefined;
  after: number;
}

export function registerPagePoll(app: FastifyInstance, ctx: AppContext): void {
  const access = { auth: 'cell' as const, strictOrigin: true };
  const wakes = new PageWakes();
  app.addHook('onClose', async () => wakes.dispose());

  app.post<{ Body: PollReq; Params: { kernel: string } }>(
    '/api/poll/:kernel',
    { config: { access }, schema: { body: PollBody, params: Route } },
    async (req, reply) => {
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
      ctx.metrics.longpolls.inc();
      // The client went away: the response closes unfinished (the request's own 'close' comes as
      // soon as its body has been read, which a POST's always has).
      const abort = new AbortController();
      const onClose = () => {
        if (!reply.raw.writableFinished) abort.abort();
      };
      reply.raw.on('close', onClose);
      // Ended early (not aborted): answered with what the streams have, usually nothing.
      const wake = new AbortController();
      const cleanup: (() => void)[] = [];
      try {
        const streams: Stream[] = req.body.streams.map((s) => {
          const hub = ctx.kernels.get(s.kernel);
          if (!hub) return { kernel: s.kernel, hub, session: undefined, after: s.after ?? 0 };
          const { session } = hub.session(s.session, caller.ipKey);
          return { kernel: s.kernel, hub, session, after: s.after ?? session.acked };
        });
        // While it is held, this poll is the page's connection (and each stream's, for /api/kernels).
        const pages = new Set<string>();
        if (req.body.page) pages.add(req.body.page);
        for (const s of streams) {
          if (s.hub?.page) pages.add(s.hub.page);
          if (s.hub) cleanup.push(s.hub.pollerEntered());
        }
        for (const p of pages) cleanup.push(ctx.kernels.pages.connect(p));
        cleanup.push(
          wakes.hold(pages, new Set(req.body.streams.map((s) => streamKey(s.kernel, s.session))), () =>
            wake.abort(),
          ),
        );
        const holdMs = Math.min(
          req.body.timeout === undefined ? ctx.config.pollTimeoutMs : req.body.timeout * 1000,
          ctx.config.pollTimeoutMs,
        );
        const body = await pollStreams(streams, {
          holdMs,
          max: ctx.config.pollMaxMessages,
          signal: AbortSignal.any([abort.signal, wake.signal]),
          draining: () => ctx.draining,
          onLost: (n) => ctx.metrics.lost.inc(n),
        });
        reply.header('content-type', 'application/json; charset=utf-8').header('cache-control', 'no-store');
        ctx.metrics.bytes.inc({ direction: 'out', transport: 'longpoll' }, Buffer.byteLength(body));
        return reply.send(body);
      } finally {
        reply.raw.off('close', onClose);
        for (const c of cleanup) c();
        ctx.metrics.longpolls.dec();
        release();
      }
    },
  );

  app.post<{
    Body: { messages: { kernel: string; session: string; message: unknown }[] };
    Params: { kernel: string };
  }>(
    '/api/poll/:kernel/messages',
    { config: { access }, schema: { body: SendBody, params: Route } },
    async (req) => {
      // A kernel that is gone refuses only its own messages: the answer lists it, the rest go through.
      const parsed = req.body.messages.map((m, i) => {
        try {
          return parseMessages([m.message])[0] as ReturnType<typeof parseMessages>[number];
        } catch (e) {
          throw e instanceof BadRequest ? new BadRequest(`messages[${i}]: ${e.message}`) : e;
        }
      });
      const gone = new Set<string>();
      const items: { hub: Hub; session: string; msg: (typeof parsed)[number] }[] = [];
      req.body.messages.forEach((m, i) => {
        const hub = ctx.kernels.get(m.kernel);
        if (!hub || hub.dead) gone.add(m.kernel);
        else items.push({ hub, session: m.session, msg: parsed[i] as (typeof parsed)[number] });
      });
      ctx.metrics.bytes.inc(
        { direction: 'in', transport: 'longpoll' },
        Number(req.headers['content-length']) || 0,
      );
      for (const { hub, session, msg } of items) hub.fromClient(session, msg, req.caller, 'longpoll');
      // The page's held polls that lack one of these streams end now: the next poll carries it.
      for (const { hub, session } of items) if (hub.page) wakes.sent(hub.page, streamKey(hub.id, session));
      return { accepted: items.length, gone: [...gone] };
    },
  );
}

export interface StreamsPollOptions {
  holdMs: number;
  /** Messages per answer at most, over all streams. */
  max: number;
  signal: AbortSignal;
  draining(): boolean;
  onLost?(n: number): void;
}

/** One answer for every stream, as soon as any has something, or empty when the hold ends. */
export async function pollStreams(streams: Stream[], opts: StreamsPollOptions): Promise<string> {
  const deadline = Date.now() + opts.holdMs;
  for (const s of streams)
    if (s.hub && s.session) s.session.acked = Math.max(s.session.acked, Math.min(s.after, s.hub.log.lastSeq));
  const read = () => {
    let budget = opts.max;
    let ready = false;
    const parts = streams.map((s) => {
      const head = `"kernel":${JSON.stringify(s.kernel)}`;
      if (!s.hub || !s.session) {
        ready = true;
        return `{${head},"messages":[],"next":${s.after},"lost":0,"more":false,"gone":true}`;
      }
      const sid = s.session.sid;
      const r =
        budget > 0 ? s.hub.since(sid, s.after, budget) : { entries: [], next: s.after, lost: 0, more: true };
      budget -= r.entries.length;
      const dead = s.hub.dead && r.next >= s.hub.log.lastSeq ? s.hub.dead.reason : undefined;
      if (r.entries.length > 0 || r.lost > 0 || dead !== undefined) ready = true;
      if (r.lost > 0) opts.onLost?.(r.lost);
      const msgs = r.entries.map((e) => jsonFor(e, sid)).join(',');
      const tail = dead === undefined ? '' : `,"dead":${JSON.stringify(dead)}`;
      return `{${head},"session":${JSON.stringify(sid)},"messages":[${msgs}],"next":${r.next},"lost":${r.lost},"more":${r.more}${tail}}`;
    });
    return { ready, body: `{"streams":[${parts.join(',')}]}` };
  };
  let r = read();
  while (!r.ready && !opts.signal.aborted && !opts.draining()) {
    const wait = deadline - Date.now();
    if (wait <= 0) break;
    await waitAny(streams, wait, opts.signal);
    r = read();
  }
  const now = Date.now();
  for (const s of streams) if (s.session) s.session.lastSeen = now;
  return r.body;
}

/** Resolves when any stream's kernel has a new entry (or dies), on abort, or after `ms`. */
async function waitAny(streams: Stream[], ms: number, signal: AbortSignal): Promise<void> {
  const hubs = [...new Set(streams.map((s) => s.hub).filter((h): h is Hub => h !== undefined))];
  if (hubs.length === 0) {
    await sleep(ms, signal);
    return;
  }
  const done = new AbortController();
  // One listener per kernel of the page on this signal: more than Node's default warning level of 10.
  setMaxListeners(hubs.length + 1, done.signal);
  const onAbort = () => done.abort();
  signal.addEventListener('abort', onAbort, { once: true });
  try {
    await Promise.race(hubs.map((h) => h.waitForEntries(ms, done.signal)));
  } finally {
    signal.removeEventListener('abort', onAbort);
    done.abort();
  }
}
