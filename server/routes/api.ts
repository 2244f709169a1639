// Service routes: GET /api (version), /api/status, /healthz, /readyz, /metrics.
import type { FastifyInstance } from 'fastify';
import type { AppContext } from '../context.js';

/** The Jupyter Server API version we implement (clients may read it). */
export const API_VERSION = '2.14.0';

export function registerApi(app: FastifyInstance, ctx: AppContext): void {
  const pub = { access: { auth: 'public' as const } };

  app.get('/api', { config: pub }, async () => ({ version: API_VERSION }));

  app.get('/api/status', { config: { access: { auth: 'cell' } } }, async () => {
    const hubs = ctx.kernels.all();
    let connections = 0;
    let last = ctx.startedAt.getTime();
    for (const h of hubs) {
      connections += h.connections;
      last = Math.max(last, h.kernel.lastActivity.getTime());
    }
    return {
      started: ctx.startedAt.toISOString(),
      last_activity: new Date(last).toISOString(),
      connections,
      kernels: hubs.length,
    };
  });

  app.get('/healthz', { config: pub }, async () => ({ status: 'ok' }));

  app.get('/readyz', { config: pub }, async (_req, reply) => {
    const kernels = ctx.manager.ready();
    const database = ctx.store ? await ctx.store.ping(2_000) : true;
    const ok = !ctx.draining && kernels && database;
    return reply
      .code(ok ? 200 : 503)
      .send({ status: ok ? 'ready' : 'not ready', kernelPool: kernels, database, draining: ctx.draining });
  });

  app.get('/metrics', { config: { access: { auth: 'metrics' } } }, async (_req, reply) => {
    reply.header('content-type', ctx.metrics.registry.contentType);
    return ctx.metrics.registry.metrics();
  });
}
