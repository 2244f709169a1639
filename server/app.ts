// Builds the Fastify app from its parts: body parsing, auth and origin checks, errors, metrics, routes.
// The kernel manager is passed in, so tests and main.ts decide how kernels are configured.
import websocket from '@fastify/websocket';
import Fastify, { type FastifyInstance, type FastifyReply, type FastifyRequest } from 'fastify';
import type { Logger } from 'pino';
import type { KernelManager } from '../kernel-manager/index.js';
import { type Caller, checkOrigin, extractToken, ipKey, Tokens } from './auth.js';
import { KernelRegistry } from './bridge/kernels.js';
import { registerLongPoll } from './bridge/longpoll.js';
import { registerPageClose } from './bridge/page-close.js';
import { registerPagePoll } from './bridge/pagepoll.js';
import { onSocketError, registerChannels, selectProtocol } from './bridge/websocket.js';
import type { ServerConfig } from './config.js';
import type { AppContext, RouteAccess } from './context.js';
import { allowPreflight } from './cors.js';
import { installErrorHandler } from './error-handler.js';
import { BadRequest, Forbidden, ForbiddenOrigin, NotFound, ShuttingDown, Unauthorized } from './errors.js';
import { instanceId, registerInstanceHeader } from './instance.js';
import type { Jobs } from './jobs/index.js';
import { ConcurrencyLimiter, RateLimiter, TieredRate } from './limits.js';
import { genReqId } from './logger.js';
import { Metrics } from './metrics.js';
import { registerApi } from './routes/api.js';
import { registerExecute } from './routes/execute.js';
import { fileRoutes } from './routes/files.js';
import { jobRoutes } from './routes/jobs.js';
import { registerKernels } from './routes/kernels.js';
import { registerKernelspecs } from './routes/kernelspecs.js';
import { permalinkRoutes } from './routes/permalinks.js';
import { registerSessions } from './routes/sessions.js';
import { statsRoutes } from './routes/stats.js';
import { tokenRoutes } from './routes/tokens.js';
import { tusExposedHeaders, uploadRoutes } from './routes/uploads.js';
import { webRoutes } from './routes/web.js';
import { createSampler, serverGauges } from './stats/sampler.js';
import type { Store } from './store/db.js';
import { createApiTokens } from './tokens/index.js';
import { validatorFactory } from './validation.js';

export interface BuildOptions {
  config: ServerConfig;
  manager: KernelManager;
  logger: Logger;
  /** The database; without it the store's routes are absent and nothing is recorded (some tests). */
  store?: Store;
  /** The batch jobs service (needs the store). */
  jobs?: Jobs;
}

export interface App {
  app: FastifyInstance;
  ctx: AppContext;
  /** First step of a graceful stop: new requests are refused (503), open connections stay. */
  drain(): void;
  /** Graceful stop: refuse new work, tell clients, close the listener. Kernels are the caller's. */
  close(): Promise<void>;
}

// JSON without prototype-polluting keys. Empty bodies are allowed (Jupyter clients POST without one).
function parseJson(body: string): unknown {
  if (body.trim() === '') return undefined;
  return JSON.parse(body, (k, v) => (k === '__proto__' ? undefined : v));
}

const DEFAULT_ACCESS: RouteAccess = { auth: 'cell' };
/** How long a stop lets open client connections finish before cutting them. */
const CLOSE_CONNECTIONS_AFTER_MS = 1_000;
/** Response headers cross-origin clients may read: Location of new kernels, the tus upload headers. */
const EXPOSED_HEADERS = ['Location', 'Retry-After', ...tusExposedHeaders].join(', ');

export async function buildApp({ config, manager, logger, store, jobs }: BuildOptions): Promise<App> {
  const app = Fastify({
    loggerInstance: logger,
    genReqId,
    trustProxy: config.trustProxy,
    bodyLimit: config.bodyLimitBytes,
    return503OnClosing: true,
    schemaController: { compilersFactory: { buildValidator: validatorFactory() } },
  }) as unknown as FastifyInstance;
  registerInstanceHeader(app, config.kernelIdPrefix);
  const metrics = new Metrics(manager, store);
  const tokens = new Tokens(config.tokens);
  const executions = new TieredRate(
    new RateLimiter(config.pageExecutionsPerMinute),
    new RateLimiter(config.ipExecutionsPerMinute),
  );
  const apiTokens = store
    ? await createApiTokens({
        sql: store.sql,
        events: store.events,
        configured: config.tokens,
        maxPerAccount: config.apiTokensMax,
        cacheMs: config.apiTokenCacheMs,
        codeTtlMs: config.loginCodeTtlMs,
        log: logger.child({ component: 'tokens' }),
      })
    : undefined;
  const ctx: AppContext = {
    config,
    manager,
    tokens,
    apiTokens,
    metrics,
    store,
    kernels: new KernelRegistry(manager, {
      config,
      log: logger,
      executions,
      ...(store
        ? {
            recorder: store.records,
            workFiles: {
              store,
              limits: { maxFiles: config.workFilesMax, maxFileBytes: config.workFileMaxBytes },
            },
          }
        : {}),
      ...metrics.hubHooks(),
    }),
    limits: {
      kernelCreates: new TieredRate(
        new RateLimiter(config.pageKernelCreatesPerMinute),
        new RateLimiter(config.ipKernelCreatesPerMinute),
      ),
      executions,
      pollers: new ConcurrencyLimiter(config.ipMaxPollers),
      sockets: new ConcurrencyLimiter(config.ipMaxSockets),
    },
    draining: false,
    startedAt: new Date(),
  };

  app.decorateRequest('caller', null as unknown as Caller);

  // A stop that takes long says which part held it: each hook below logs when it started (ms since
  // close()) and how long it took. Fastify runs them after the listener has closed, newest first.
  let closeStartedAt = 0;
  const closeHook = (hook: string, fn: () => Promise<void>) =>
    app.addHook('onClose', async () => {
      const t = Date.now();
      await fn();
      app.log.info({ hook, startedMs: t - closeStartedAt, ms: Date.now() - t }, 'close hook done');
    });

  app.removeContentTypeParser(['application/json', 'text/plain']);
  app.addContentTypeParser(['application/json', 'text/plain'], { parseAs: 'string' }, (_req, body, done) => {
    try {
      done(null, parseJson(body as string));
    } catch {
      done(new BadRequest('the request body is not valid JSON'), undefined);
    }
  });

  await app.register(websocket, {
    options: {
      maxPayload: config.wsMaxPayloadBytes,
      handleProtocols: (offered: Set<string>) => selectProtocol(offered, config.kernelWsProtocol),
    },
    errorHandler: (err, socket, req) => onSocketError(err, socket, req.log),
    // Clients are told by the registry (close code 1001) before the listener closes.
    preClose(done) {
      for (const c of app.websocketServer.clients) c.terminate();
      done();
    },
  });

  app.addHook('onRequest', async (req, reply) => {
    // Every response, errors included: browsers must never sniff JSON or text into HTML or script.
    reply.header('x-content-type-options', 'nosniff');
    return authorize(ctx, req, reply);
  });

  app.addHook('onResponse', async (req, reply) => {
    metrics.http.observe(
      { method: req.method, route: req.routeOptions.url ?? 'unmatched', status: String(reply.statusCode) },
      reply.elapsedTime / 1000,
    );
  });

  // Every route's failures, the store's, jobs' and tokens' included, go through this one handler.
  installErrorHandler(app);

  app.setNotFoundHandler((req, reply) => {
    reply
      .code(404)
      .send({ code: new NotFound('x').code, message: `no route for ${req.method} ${req.url.split('?')[0]}` });
  });

  // CORS preflight for allowed origins (the embed calls the API from page authors' sites), and for any
  // origin whose request will carry a token (the request itself is then checked: see authorize).
  app.options('*', { config: { access: { auth: 'public' } } }, async (req, reply) => {
    const verdict = checkOrigin(
      req.headers.origin,
      req.headers.host,
      config.allowedOrigins,
      req.protocol === 'https',
    );
    if (verdict !== 'allowed' && !(verdict === 'forbidden' && preflightCarriesToken(req))) {
      throw new ForbiddenOrigin('this origin is not allowed');
    }
    return allowPreflight(
      reply
        .code(204)
        .header('access-control-allow-origin', req.headers.origin as string)
        .header('vary', 'Origin'),
      req.headers['access-control-request-method'] ?? 'GET',
    ).send();
  });

  registerApi(app, ctx);
  registerKernelspecs(app, ctx);
  registerKernels(app, ctx);
  registerSessions(app, ctx);
  registerExecute(app, ctx);
  registerChannels(app, ctx);
  registerLongPoll(app, ctx);
  registerPagePoll(app, ctx);
  await registerPageClose(app, ctx);
  if (store) {
    await app.register(permalinkRoutes, {
      store,
      // The web UI's permalink page owns /p/:id; the store keeps /p/:id/code and /p/z/….
      page: false,
      missLimit: { max: config.permalinkMissLimit, windowMs: config.permalinkMissWindowMs },
    });
    await app.register(uploadRoutes, {
      store,
      limits: {
        maxFileBytes: config.uploadMaxBytes,
        clientMaxBytes: config.uploadClientMaxBytes,
        clientWindowMs: config.uploadClientWindowMs,
      },
    });
    await app.register(fileRoutes, { store, contentOrigin: config.contentOrigin || undefined });
  }
  if (jobs) {
    metrics.watchJobs(jobs);
    await app.register(jobRoutes, { jobs, streams: metrics.jobStreams });
  }
  if (apiTokens) {
    await app.register(tokenRoutes, {
      tokens: apiTokens,
      exchanges: new RateLimiter(config.loginExchangesPerMinute),
    });
    closeHook('tokens', () => apiTokens.close());
  }
  if (store) {
    // The stats page's history: /api/stats reads it, and this instance samples its gauges into it.
    await app.register(statsRoutes, { store, tokens });
    const sampler = createSampler({
      sql: store.sql,
      instance: instanceId(config),
      intervalMs: config.statsSampleMs,
      read: serverGauges(manager, metrics),
      log: logger.child({ component: 'stats' }),
    });
    sampler.start();
    closeHook('stats sampler', () => sampler.stop());
  }
  await app.register(webRoutes);
  // Registered last, so it runs first of these: when the listener had closed (connections included).
  closeHook('listener closed', async () => {});

  return {
    app,
    ctx,
    drain() {
      ctx.draining = true;
    },
    async close() {
      closeStartedAt = Date.now();
      ctx.draining = true;
      ctx.kernels.closeAll('the server is shutting down');
      // Streams and long-polls were ended above; a connection a client still holds open (a response
      // it has not finished reading, a keep-alive socket mid-request) gets a second, then is cut, so
      // a stop never waits on a client.
      const cut = setTimeout(() => {
        app.log.info('cutting the client connections still open');
        app.server.closeAllConnections();
      }, CLOSE_CONNECTIONS_AFTER_MS);
      try {
        await app.close();
      } finally {
        clearTimeout(cut);
      }
    },
  };
}

/**
 * Whether a preflight announces a token: the Authorization header among the request's headers, or a
 * `token` query parameter. Browsers never send credentials on a preflight, so this only lets the real
 * request through to authorize(), which refuses it unless the token is valid.
 */
function preflightCarriesToken(req: FastifyRequest): boolean {
  const headers = String(req.headers['access-control-request-headers'] ?? '').toLowerCase();
  if (headers.split(',').some((h) => h.trim() === 'authorization')) return true;
  return typeof (req.query as Record<string, unknown> | undefined)?.token === 'string';
}

/** Caller identity, token and Origin checks, and draining, for every request. */
async function authorize(ctx: AppContext, req: FastifyRequest, reply: FastifyReply): Promise<void> {
  const access = req.routeOptions.config?.access ?? DEFAULT_ACCESS;
  const { config, tokens } = ctx;
  const token = extractToken(
    req.headers.authorization,
    (req.query as Record<string, unknown> | undefined)?.token,
  );
  const ip = ipKey(req.ip);
  let caller: Caller = { kind: 'anonymous', ipKey: ip, owner: `ip:${ip}` };
  if (token !== undefined) {
    const i = token ? tokens.match(token) : -1;
    // Issued tokens are looked up only where a token matters (public routes treat callers alike).
    const issued =
      i < 0 && access.auth !== 'public' && ctx.apiTokens ? await ctx.apiTokens.authenticate(token) : null;
    if (i >= 0) {
      const credential = { kind: 'configured', index: i } as const;
      caller = { kind: 'token', ipKey: ip, owner: `token:${i}`, credential };
    } else if (issued) {
      const { id, account, name, prefix, owner } = issued;
      caller = { kind: 'token', ipKey: ip, owner, credential: { kind: 'issued', id, account, name, prefix } };
    } else if (access.auth !== 'public') {
      ctx.metrics.refused.inc({ reason: 'token' });
      throw new Unauthorized('invalid token');
    }
  }
  req.caller = caller;
  if (access.auth === 'public') return;
  if (ctx.draining) throw new ShuttingDown('the server is shutting down');
  // /metrics is an operator's view of the whole service: a configured token, never one issued to an account.
  if (access.auth === 'metrics' && caller.credential?.kind === 'issued') {
    throw new Forbidden('/metrics needs a configured (RUNCELL_TOKENS) token, not an issued one');
  }
  if (caller.kind === 'anonymous') {
    if (access.auth === 'token' || (access.auth === 'metrics' && tokens.configured)) {
      throw new Unauthorized('this endpoint needs an API token (Authorization: token …)');
    }
    if (access.auth === 'cell' && !config.anonymous) throw new Unauthorized('an API token is required');
  }
  const checked = checkOrigin(
    req.headers.origin,
    req.headers.host,
    config.allowedOrigins,
    req.protocol === 'https',
  );
  // A token in a header or the query is not ambient authority: a page from another site cannot make a
  // visitor's browser send it, so (as in Jupyter Server) token callers skip the allow-list. runcell reads
  // no cookie; anonymous callers keep the exact-match check.
  const verdict = checked === 'forbidden' && caller.kind === 'token' ? 'allowed' : checked;
  if (verdict === 'forbidden') {
    ctx.metrics.refused.inc({ reason: 'origin' });
    throw new ForbiddenOrigin(`origin ${String(req.headers.origin).slice(0, 200)} is not allowed`);
  }
  // Browsers omit Origin on same-origin GETs but always send Sec-Fetch-Site (which scripts cannot set):
  // the server's own pages long-poll without an Origin header.
  const sameOrigin = req.headers['sec-fetch-site'] === 'same-origin';
  if (verdict === 'missing' && access.strictOrigin && caller.kind === 'anonymous' && !sameOrigin) {
    ctx.metrics.refused.inc({ reason: 'origin' });
    throw new Forbidden('requests without an Origin header need an API token');
  }
  if (verdict === 'allowed') {
    reply
      .header('access-control-allow-origin', req.headers.origin as string)
      .header('vary', 'Origin')
      .header('access-control-expose-headers', EXPOSED_HEADERS);
  }
}
