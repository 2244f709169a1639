// POST /api/pages/:page/close, the page's pagehide beacon: its kernels end now, on every instance.
// Behind a proxy the beacon reaches one instance (it names no kernel to route by), while the page's
// kernels may live on several; that instance ends its own and tells the others through the store
// (PAGE_CLOSED, LISTEN/NOTIFY on a shared Postgres), and each ends those it holds. Without the store,
// or while it is down, the others free them after the page's grace period, as for a closed tab
// that sent no beacon.
// A bodiless POST (the embed's keepalive fetch, or a sendBeacon) is a simple request: no preflight.
// The page id is the capability, as a kernel id is for DELETE /api/kernels/:id.
import type { FastifyInstance } from 'fastify';
import { Type } from 'typebox';
import type { AppContext } from '../context.js';
import { PAGE_ID } from './pages.js';

/** The store event channel: payload {page}. */
export const PAGE_CLOSED = 'runcell_page_closed';

const REASON = 'the page was closed';

export async function registerPageClose(app: FastifyInstance, ctx: AppContext): Promise<void> {
  const events = ctx.store?.events;
  const log = app.log.child({ component: 'pages' });
  if (events) {
    const unsubscribe = await events
      .subscribe(PAGE_CLOSED, (payload) => {
        // From the database: checked like anything else that arrives from outside.
        const page = (payload as { page?: unknown } | null)?.page;
        if (typeof page === 'string' && PAGE_ID.test(page)) ctx.kernels.pages.close(page, REASON);
      })
      .catch((err: unknown) => {
        log.warn(
          { err },
          "pages closed on other instances end their kernels here only after the page's grace",
        );
        return async () => {};
      });
    app.addHook('onClose', () => unsubscribe());
  }

  app.post<{ Params: { page: string } }>(
    '/api/pages/:page/close',
    {
      config: { access: { auth: 'cell' as const } },
      schema: { params: Type.Object({ page: Type.String({ pattern: PAGE_ID.source }) }) },
    },
    async (req, reply) => {
      const { page } = req.params;
      ctx.kernels.pages.close(page, REASON);
      // Not awaited: the page is going away and its beacon gets no answer it could read.
      events?.publish(PAGE_CLOSED, { page }).catch((err: unknown) => {
        req.log.warn({ err }, "the page's kernels on other instances end after its grace period");
      });
      return reply.code(204).send();
    },
  );
}
