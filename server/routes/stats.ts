// GET /api/stats: the stats page's series (docs/api.md "Stats"), read from the server's own history
// in the store. Service-wide figures (every instance sharing the database, every caller, instance
// names), so an operator's view: it needs one of the tokens configured on the server (RUNCELL_TOKENS).
// No token or a wrong one is a 401 (the auth hook); any other valid token (one issued to an account)
// is a 403. Nothing is read before that. Register as: app.register(statsRoutes, { store, tokens }).
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync } from 'fastify';
import { extractToken, type Tokens } from '../auth.js';
import { Forbidden, toStoreError } from '../errors.js';
import { readStats, resolveRange } from '../stats/query.js';
import { StatsQuery, StatsReply } from '../stats/schemas.js';
import type { Store } from '../store/db.js';

export interface StatsRoutesOptions {
  store: Store;
  /** The configured tokens (RUNCELL_TOKENS): the only ones that may read the stats. */
  tokens: Tokens;
}

export const statsRoutes: FastifyPluginAsync<StatsRoutesOptions> = async (instance, { store, tokens }) => {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();
  app.get(
    '/api/stats',
    {
      config: { access: { auth: 'token' } },
      schema: { querystring: StatsQuery, response: { 200: StatsReply } },
    },
    async (req, reply) => {
      const token = extractToken(req.headers.authorization, req.query.token);
      if (!token || tokens.match(token) < 0)
        throw new Forbidden("the stats need one of the server's configured API tokens (RUNCELL_TOKENS)");
      const range = resolveRange(req.query);
      reply.header('cache-control', 'no-store');
      try {
        return await readStats(store.sql, range);
      } catch (err) {
        throw toStoreError(err);
      }
    },
  );
};
