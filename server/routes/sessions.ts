// The Jupyter Server sessions API (GET/POST /api/sessions, GET/PATCH/DELETE /api/sessions/:id): a
// session names a kernel for a path. Kept in memory; a session whose kernel is gone disappears.
import { randomUUID } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { Caller } from '../auth.js';
import type { AppContext } from '../context.js';
import { NoSuchKernel, NoSuchSession } from '../errors.js';
import { takeKernelCreate } from './kernels.js';

interface Session {
  id: string;
  path: string;
  name: string;
  type: string;
  kernelId: string;
}

const KernelRef = Type.Object({
  id: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
  name: Type.Optional(Type.Union([Type.String({ maxLength: 128 }), Type.Null()])),
});
const Str = Type.Optional(Type.Union([Type.String({ maxLength: 4096 }), Type.Null()]));
const CreateBody = Type.Object({
  path: Str,
  name: Str,
  type: Str,
  kernel: Type.Optional(KernelRef),
  notebook: Type.Optional(Type.Object({ path: Str, name: Str })),
});
const Params = Type.Object({ id: Type.String({ maxLength: 128 }) });
type KernelRefT = { id?: string | null; name?: string | null };
type Body = {
  path?: string | null;
  name?: string | null;
  type?: string | null;
  kernel?: KernelRefT;
  notebook?: { path?: string | null };
};

export function registerSessions(app: FastifyInstance, ctx: AppContext): void {
  const sessions = new Map<string, Session>();
  const config = { access: { auth: 'cell' as const } };

  const live = (s: Session) => {
    const hub = ctx.kernels.get(s.kernelId);
    if (!hub || hub.dead) {
      sessions.delete(s.id);
      return undefined;
    }
    return hub;
  };
  const model = (s: Session) => {
    const hub = live(s);
    if (!hub) throw new NoSuchSession(`no session with id ${s.id}`);
    return {
      id: s.id,
      path: s.path,
      name: s.name,
      type: s.type,
      kernel: hub.model(),
      notebook: { path: s.path, name: s.name },
    };
  };
  const find = (id: string) => {
    const s = sessions.get(id);
    if (!s || !live(s)) throw new NoSuchSession(`no session with id ${id}`);
    return s;
  };
  /** The kernel a request names: an existing id, or a new kernel of the given spec. */
  const kernelFor = async (ref: KernelRefT | undefined, caller: Caller): Promise<string> => {
    if (ref?.id) {
      const hub = ctx.kernels.get(ref.id);
      if (!hub || hub.dead) throw new NoSuchKernel(`no kernel with id ${ref.id}`);
      return hub.id;
    }
    takeKernelCreate(ctx, caller);
    return (await ctx.kernels.start(ref?.name || undefined, caller)).id;
  };

  app.get('/api/sessions', { config }, async (req) => {
    const visible = new Set(ctx.kernels.list(req.caller).map((h) => h.id));
    return [...sessions.values()].filter((s) => live(s) && visible.has(s.kernelId)).map(model);
  });

  app.get<{ Params: { id: string } }>(
    '/api/sessions/:id',
    { config, schema: { params: Params } },
    async (req) => model(find(req.params.id)),
  );

  app.post<{ Body: Body }>('/api/sessions', { config, schema: { body: CreateBody } }, async (req, reply) => {
    const b = req.body ?? {};
    const path = b.path ?? b.notebook?.path ?? '';
    // Jupyter Server: a session that exists for this path is returned as is.
    const existing = path ? [...sessions.values()].find((s) => s.path === path && live(s)) : undefined;
    const s = existing ?? {
      id: `${ctx.config.kernelIdPrefix}${randomUUID()}`,
      path,
      name: b.name ?? '',
      type: b.type ?? 'notebook',
      kernelId: await kernelFor(b.kernel, req.caller),
    };
    sessions.set(s.id, s);
    reply.code(201).header('location', `/api/sessions/${s.id}`);
    return model(s);
  });

  app.patch<{ Params: { id: string }; Body: Body }>(
    '/api/sessions/:id',
    { config, schema: { params: Params, body: CreateBody } },
    async (req) => {
      const s = find(req.params.id);
      const b = req.body ?? {};
      if (typeof b.path === 'string') s.path = b.path;
      if (typeof b.name === 'string') s.name = b.name;
      if (typeof b.type === 'string') s.type = b.type;
      if (b.kernel && (b.kernel.id || b.kernel.name)) {
        const before = s.kernelId;
        const after = b.kernel.id
          ? await kernelFor(b.kernel, req.caller)
          : await kernelFor({ name: b.kernel.name ?? null }, req.caller);
        s.kernelId = after;
        // Jupyter Server shuts the previous kernel down when a session moves to a new one.
        if (before !== after && !b.kernel.id)
          await ctx.kernels.shutdown(before, 'the session moved to another kernel');
      }
      return model(s);
    },
  );

  app.delete<{ Params: { id: string } }>(
    '/api/sessions/:id',
    { config, schema: { params: Params } },
    async (req, reply) => {
      const s = find(req.params.id);
      sessions.delete(s.id);
      await ctx.kernels.shutdown(s.kernelId, 'its session was deleted');
      return reply.code(204).send();
    },
  );
}
