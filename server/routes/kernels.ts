// The Jupyter Server kernels API: GET/POST /api/kernels, GET/DELETE /api/kernels/:id,
// POST /api/kernels/:id/interrupt (204) and /restart (200 with the model).
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { KernelManagerError } from '../../kernel-manager/index.js';
import type { Caller } from '../auth.js';
import type { Hub } from '../bridge/hub.js';
import { PAGE_ID } from '../bridge/pages.js';
import type { AppContext } from '../context.js';
import {
  BadRequest,
  FileRefused,
  fromKernelManager,
  KernelDead,
  NoSuchKernel,
  NotFound,
  RateLimited,
  withRetryAfter,
} from '../errors.js';
import { visitorKey } from '../limits.js';
import { safeFileName } from '../store/filename.js';

const Params = Type.Object({ id: Type.String({ maxLength: 128 }) });
const PlaceBody = Type.Object(
  { upload: Type.String({ maxLength: 128 }), name: Type.Optional(Type.String({ maxLength: 255 })) },
  { additionalProperties: false },
);
// Jupyter clients may send path and env; env is ignored on purpose (it would reach the sandbox).
const StartBody = Type.Union([
  Type.Object({
    name: Type.Optional(Type.String({ maxLength: 128 })),
    path: Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()])),
    env: Type.Optional(Type.Unknown()),
  }),
  Type.Null(),
]);

/** The page a cell's kernel belongs to (`?page=`, a random id per page load; see bridge/pages.ts). */
const StartQuery = Type.Object({ page: Type.Optional(Type.String({ pattern: PAGE_ID.source })) });

/** Kernel creation rate for anonymous callers, per page and per address; throws 429 with Retry-After. */
export function takeKernelCreate(ctx: AppContext, caller: Caller, page?: string): void {
  if (caller.kind !== 'anonymous') return;
  const t = ctx.limits.kernelCreates.take(caller.ipKey, visitorKey(caller.ipKey, page));
  if (!t.ok) {
    ctx.metrics.refused.inc({ reason: 'kernel-rate' });
    const from = t.scope === 'page' ? (page ? 'this page' : 'this client') : 'your address';
    throw withRetryAfter(new RateLimited(`too many kernels started from ${from}`), t.retryAfterS);
  }
}

export function registerKernels(app: FastifyInstance, ctx: AppContext): void {
  const config = { access: { auth: 'cell' as const } };

  const hubOf = (req: FastifyRequest<{ Params: { id: string } }>, liveOnly = true): Hub => {
    const hub = ctx.kernels.get(req.params.id);
    if (!hub || (liveOnly && hub.dead)) throw new NoSuchKernel(`no kernel with id ${req.params.id}`);
    return hub;
  };

  app.get('/api/kernels', { config }, async (req) => ctx.kernels.list(req.caller).map((h) => h.model()));

  app.post<{ Body: { name?: string } | null; Querystring: { page?: string } }>(
    '/api/kernels',
    { config, schema: { body: StartBody, querystring: StartQuery } },
    async (req, reply) => {
      const { page } = req.query;
      takeKernelCreate(ctx, req.caller, page);
      const hub = await ctx.kernels.start(req.body?.name || undefined, req.caller, page);
      reply.code(201).header('location', `/api/kernels/${encodeURIComponent(hub.id)}`);
      return hub.model();
    },
  );

  app.get<{ Params: { id: string } }>(
    '/api/kernels/:id',
    { config, schema: { params: Params } },
    async (req) => hubOf(req, false).model(),
  );

  app.delete<{ Params: { id: string } }>(
    '/api/kernels/:id',
    { config, schema: { params: Params } },
    async (req, reply) => {
      hubOf(req, false);
      await ctx.kernels.shutdown(req.params.id);
      return reply.code(204).send();
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/kernels/:id/interrupt',
    { config, schema: { params: Params } },
    async (req, reply) => {
      const hub = hubOf(req);
      try {
        await hub.kernel.interrupt();
      } catch (e) {
        throw fromKernelManager(e);
      }
      return reply.code(204).send();
    },
  );

  // Places a finished upload in the kernel's work dir under a safe name, for the code to open.
  app.post<{ Params: { id: string }; Body: { upload: string; name?: string } }>(
    '/api/kernels/:id/files',
    { config, schema: { params: Params, body: PlaceBody } },
    async (req, reply) => {
      const hub = hubOf(req);
      const store = ctx.store;
      if (!store) throw new NotFound('uploads are not available on this server');
      const { info, data } = await store.uploads.read(req.body.upload);
      let name: string;
      try {
        name = safeFileName(req.body.name ?? info.metadata?.filename ?? '');
      } catch (e) {
        throw new BadRequest(`unacceptable file name: ${(e as Error).message}`);
      }
      try {
        const size = await hub.kernel.files.write(name, data, ctx.config.workFileMaxBytes);
        hub.workFilesChanged();
        return reply.code(201).send({ name, size });
      } catch (e) {
        if (e instanceof KernelManagerError && e.code === 'FILE_REFUSED') throw new FileRefused(e.message);
        throw fromKernelManager(e);
      }
    },
  );

  app.post<{ Params: { id: string } }>(
    '/api/kernels/:id/restart',
    { config, schema: { params: Params } },
    async (req) => {
      const hub = hubOf(req);
      // A restart takes a while; its page is present meanwhile (see bridge/pages.ts).
      const present = hub.page ? ctx.kernels.pages.connect(hub.page) : () => undefined;
      try {
        await hub.kernel.restart();
      } catch (e) {
        throw fromKernelManager(e);
      } finally {
        present();
      }
      if (hub.dead) throw new KernelDead(`the kernel died while restarting: ${hub.dead.reason}`);
      return hub.model();
    },
  );
}
