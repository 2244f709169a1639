// What every route needs, built once per app: configuration, kernels, limits, metrics.
import type { KernelManager } from '../kernel-manager/index.js';
import type { Caller, Tokens } from './auth.js';
import type { KernelRegistry } from './bridge/kernels.js';
import type { ServerConfig } from './config.js';
import type { ConcurrencyLimiter, TieredRate } from './limits.js';
import type { Metrics } from './metrics.js';
import type { Store } from './store/db.js';
import type { ApiTokens } from './tokens/index.js';

export interface AppContext {
  config: ServerConfig;
  manager: KernelManager;
  kernels: KernelRegistry;
  tokens: Tokens;
  /** Tokens issued by the server (needs the store). */
  apiTokens: ApiTokens | undefined;
  metrics: Metrics;
  /** The database (permalinks, files, uploads, execute records); absent in tests that run without one. */
  store: Store | undefined;
  limits: {
    kernelCreates: TieredRate;
    executions: TieredRate;
    pollers: ConcurrencyLimiter;
    sockets: ConcurrencyLimiter;
  };
  /** Set when shutdown begins: new work is refused with 503. */
  draining: boolean;
  startedAt: Date;
}

/** Route-level access rules, read by the auth hook. */
export interface RouteAccess {
  /** public: anyone; cell: anonymous allowed when configured; token: a token always; metrics: a token if any. */
  auth: 'public' | 'cell' | 'token' | 'metrics';
  /** Websocket and long-poll: an anonymous client must send an allowed Origin. */
  strictOrigin?: boolean;
}

declare module 'fastify' {
  interface FastifyRequest {
    caller: Caller;
  }
  interface FastifyContextConfig {
    access?: RouteAccess;
  }
}
