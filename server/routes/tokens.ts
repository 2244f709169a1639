// API tokens and the browser login (docs/api.md, docs/jobs.md "Login"), a Fastify plugin:
// app.register(tokenRoutes, { tokens, exchanges }). Every route but the code exchange needs a token;
// an account sees and revokes only its own tokens (another account's ids answer 404, like missing ones).
//   GET    /api/whoami          who this token is
//   GET    /api/tokens          the account's live tokens (never their secrets)
//   POST   /api/tokens          a new token {name}; the secret is in this answer only       201
//   DELETE /api/tokens/current  revoke the token this request carries (logout)             204
//   DELETE /api/tokens/:id      revoke one of the account's tokens                         204
//   POST   /api/login/codes     an approved browser login: a one-time code for the CLI     201
//   POST   /api/login/token     the CLI's exchange of code + verifier for a new token      201
import type { TypeBoxTypeProvider } from '@fastify/type-provider-typebox';
import type { FastifyPluginAsync, FastifyRequest } from 'fastify';
import { RateLimited, TokenNotRevocable, withRetryAfter } from '../errors.js';
import type { RateLimiter } from '../limits.js';
import {
  type ApiTokens,
  CodeBody,
  CodeReply,
  CreateBody,
  CreatedToken,
  ExchangeBody,
  IdParams,
  TokenList,
  WhoAmI,
} from '../tokens/index.js';

export interface TokenRoutesOptions {
  tokens: ApiTokens;
  /** Code exchanges per client address. */
  exchanges: RateLimiter;
}

const access = { access: { auth: 'token' as const } };
/** Answers that carry a secret are never stored by a cache. */
const NO_STORE = 'no-store';

export const tokenRoutes: FastifyPluginAsync<TokenRoutesOptions> = async (
  instance,
  { tokens, exchanges },
) => {
  const app = instance.withTypeProvider<TypeBoxTypeProvider>();

  /** The account behind the caller's token (the auth hook has made sure there is one). */
  const accountOf = (req: FastifyRequest): string => {
    const c = req.caller.credential;
    if (!c) throw new Error('token route reached without a credential');
    return c.kind === 'issued' ? c.account : tokens.accountOf(c.index);
  };
  const currentId = (req: FastifyRequest) =>
    req.caller.credential?.kind === 'issued' ? req.caller.credential.id : undefined;

  app.get('/api/whoami', { config: access, schema: { response: { 200: WhoAmI } } }, async (req) => {
    const c = req.caller.credential;
    return {
      owner: req.caller.owner,
      credential: c?.kind ?? 'configured',
      token: c?.kind === 'issued' ? { id: c.id, name: c.name, prefix: c.prefix } : null,
    };
  });

  app.get('/api/tokens', { config: access, schema: { response: { 200: TokenList } } }, async (req, reply) => {
    reply.header('cache-control', NO_STORE);
    return { tokens: await tokens.list(accountOf(req), currentId(req)), max: tokens.maxPerAccount };
  });

  app.post(
    '/api/tokens',
    { config: access, schema: { body: CreateBody, response: { 201: CreatedToken } } },
    async (req, reply) =>
      reply
        .code(201)
        .header('cache-control', NO_STORE)
        .send(await tokens.create(accountOf(req), req.body.name)),
  );

  app.delete('/api/tokens/current', { config: access }, async (req, reply) => {
    const c = req.caller.credential;
    if (c?.kind !== 'issued') {
      throw new TokenNotRevocable(
        'this token is configured on the server (RUNCELL_TOKENS); only its operator can remove it',
      );
    }
    await tokens.revoke(c.account, c.id);
    return reply.code(204).send();
  });

  app.delete('/api/tokens/:id', { config: access, schema: { params: IdParams } }, async (req, reply) => {
    await tokens.revoke(accountOf(req), req.params.id);
    return reply.code(204).send();
  });

  app.post(
    '/api/login/codes',
    { config: access, schema: { body: CodeBody, response: { 201: CodeReply } } },
    async (req, reply) =>
      reply
        .code(201)
        .header('cache-control', NO_STORE)
        .send(await tokens.createCode(accountOf(req), req.body)),
  );

  // Unauthenticated: the code and the verifier are the credentials. Rate-limited per address.
  app.post(
    '/api/login/token',
    {
      config: { access: { auth: 'public' } },
      schema: { body: ExchangeBody, response: { 201: CreatedToken } },
    },
    async (req, reply) => {
      const t = exchanges.take(req.caller.ipKey);
      if (!t.ok)
        throw withRetryAfter(new RateLimited('too many login attempts; try again later'), t.retryAfterS);
      return reply
        .code(201)
        .header('cache-control', NO_STORE)
        .send(await tokens.exchange(req.body));
    },
  );
};
