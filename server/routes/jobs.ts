// The jobs API (docs/jobs.md), a Fastify plugin: app.register(jobRoutes, { jobs }). Every route
// needs an API token; jobs belong to the token that submitted them and another token's jobs answer
// 404 exactly like missing ones.
//   POST /api/jobs                  submit one job or {jobs: [...]} (with needs: a pipeline) 202
//   GET  /api/jobs                  history (state, tag, batch, since, until; paginated)
//   GET  /api/jobs/events           state changes after a cursor: long-poll JSON, or server-sent
//                                   events with Accept: text/event-stream (resumes from Last-Event-ID)
//   GET  /api/jobs/:id              one job with its outputs and transitions
//   GET  /api/jobs/:id/files/:file  a file the job wrote
//   POST /api/jobs/:id/cancel       cancel a queued or running job
//   POST /api/jobs/:id/rerun        a new attempt of a finished job                202
//   POST /api/jobs/rerun            new attempts of every aborted job (of a batch)  202

import { once } from 'node:events';
import { Readable } from 'node:stream';
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { Type } from 'typebox';
import type { Jobs } from '../jobs/index.js';
import {
  EventsQuery,
  EventsReply,
  FileParams,
  IdParams,
  JobDetail,
  ListQuery,
  ListReply,
  RerunBody,
  RerunReply,
  SubmitBody,
  SubmitReply,
} from '../jobs/schemas.js';

export interface JobRoutesOptions {
  jobs: Jobs;
  /** Counts the open server-sent event streams (the app's runcell_job_event_streams gauge). */
  streams?: { inc(): void; dec(): void };
}

const access = { access: { auth: 'token' as const } };

/** Media types a browser would render or run are served as plain bytes. */
const ACTIVE = /html|xml|svg|javascript|ecmascript|pdf/i;

export const jobRoutes: FastifyPluginAsync<JobRoutesOptions> = async (instance, { jobs, streams: gauge }) => {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  /** Open event streams and held long-polls, ended when the server closes (either would hold close() up). */
  const streams = new Set<AbortController>();
  app.addHook('preClose', async () => {
    for (const s of streams) s.abort();
  });

  app.post(
    '/api/jobs',
    { config: access, schema: { body: SubmitBody, response: { 202: SubmitReply } } },
    async (req, reply) => reply.code(202).send(await jobs.submit(req.caller.owner, req.body)),
  );

  app.get(
    '/api/jobs',
    { config: access, schema: { querystring: ListQuery, response: { 200: ListReply } } },
    async (req) => jobs.list(req.caller.owner, req.query),
  );

  app.get(
    '/api/jobs/events',
    { config: access, schema: { querystring: EventsQuery, response: { 200: EventsReply } } },
    async (req, reply) => {
      const owner = req.caller.owner;
      const { batch, job, limit } = req.query;
      const filter = { ...(batch ? { batch } : {}), ...(job ? { job } : {}), ...(limit ? { limit } : {}) };
      const ac = new AbortController();
      reply.raw.once('close', () => ac.abort());
      if (/\btext\/event-stream\b/.test(req.headers.accept ?? '')) {
        // Server-sent events (HTML Living Standard, 9.2): `id` is the seq, so a reconnecting
        // EventSource sends Last-Event-ID and resumes exactly after the last event it got.
        const last = Number(req.headers['last-event-id']);
        const after = Number.isSafeInteger(last) && last >= 0 ? last : (req.query.after ?? 0);
        reply.hijack();
        const raw = reply.raw;
        raw.writeHead(200, {
          ...(reply.getHeaders() as Record<string, string>),
          'content-type': 'text/event-stream; charset=utf-8',
          'cache-control': 'no-cache',
          'x-accel-buffering': 'no',
        });
        raw.write('retry: 2000\n\n');
        streams.add(ac);
        gauge?.inc();
        try {
          for await (const ev of jobs.follow(owner, after, {
            ...filter,
            signal: ac.signal,
            idleMs: 15_000,
          })) {
            const text = ev
              ? `id: ${ev.seq}\nevent: state\ndata: ${JSON.stringify(ev)}\n\n`
              : ': keep-alive\n\n';
            // A client that stops reading fills its buffer; one that then goes away never drains
            // it: wait for either ('close' aborts the signal).
            if (!raw.write(text) && !(await drained(raw, ac.signal))) break;
            if (ac.signal.aborted) break;
          }
        } catch (err) {
          req.log.warn({ err }, 'job event stream ended with an error');
        } finally {
          streams.delete(ac);
          gauge?.dec();
          raw.end();
        }
        return reply;
      }
      const waitMs = (req.query.timeout ?? 25) * 1000;
      // A held long-poll answers (with what it has) when the server closes, as streams end.
      streams.add(ac);
      try {
        return await jobs.events(owner, req.query.after ?? 0, { ...filter, waitMs, signal: ac.signal });
      } finally {
        streams.delete(ac);
      }
    },
  );

  app.post(
    '/api/jobs/rerun',
    { config: access, schema: { body: Type.Union([RerunBody, Type.Null()]), response: { 202: RerunReply } } },
    async (req, reply) => reply.code(202).send(await jobs.rerunMany(req.caller.owner, req.body ?? {})),
  );

  app.get(
    '/api/jobs/:id',
    { config: access, schema: { params: IdParams, response: { 200: JobDetail } } },
    async (req) => jobs.get(req.caller.owner, req.params.id),
  );

  app.get(
    '/api/jobs/:id/files/:file',
    { config: access, schema: { params: FileParams } },
    async (req, reply) => {
      const f = await jobs.file(req.caller.owner, req.params.id, req.params.file);
      if (!f) return reply.callNotFound();
      const name = f.name.split('/').pop() ?? 'file';
      return reply
        .header('content-type', ACTIVE.test(f.mediaType) ? 'application/octet-stream' : f.mediaType)
        .header('content-length', String(f.size))
        .header('content-disposition', `attachment; filename*=UTF-8''${encodeURIComponent(name)}`)
        .header('x-content-type-options', 'nosniff')
        .header('content-security-policy', "sandbox; default-src 'none'")
        .send(Readable.from(f.data));
    },
  );

  app.post(
    '/api/jobs/:id/cancel',
    { config: access, schema: { params: IdParams, response: { 200: JobDetail } } },
    async (req) => jobs.cancel(req.caller.owner, req.params.id),
  );

  app.post(
    '/api/jobs/:id/rerun',
    { config: access, schema: { params: IdParams, response: { 202: RerunReply } } },
    async (req, reply) => reply.code(202).send(await jobs.rerun(req.caller.owner, req.params.id)),
  );
};

/** Resolves true once `stream` drains, false if `signal` aborts first (the client went away). */
async function drained(stream: NodeJS.EventEmitter, signal: AbortSignal): Promise<boolean> {
  if (signal.aborted) return false;
  try {
    await once(stream, 'drain', { signal });
    return true;
  } catch (e) {
    if (signal.aborted) return false;
    throw e;
  }
}
