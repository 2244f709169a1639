// Entry point (`npm start`): configuration, kernel manager, app, listener, graceful shutdown.

import { resolve } from 'node:path';
import { KernelManager } from '../kernel-manager/index.js';
import { buildApp } from './app.js';
import {
  ConfigError,
  jobLimits,
  kernelManagerConfig,
  loadConfig,
  type ServerConfig,
  storeOptions,
} from './config.js';
import { instanceId } from './instance.js';
import { createJobs } from './jobs/index.js';
import { createLogger } from './logger.js';
import { shutdown } from './shutdown.js';
import { openStore } from './store/db.js';

async function main(): Promise<void> {
  let config: ServerConfig;
  try {
    config = loadConfig();
  } catch (e) {
    if (e instanceof ConfigError) {
      process.stderr.write(`runcell: ${e.message}\n`);
      process.exit(2);
    }
    throw e;
  }
  const logger = await createLogger(config.logLevel);
  const store = await openStore(storeOptions(config, logger.child({ component: 'store' })));
  logger.info({ backend: store.backend }, config.databaseUrl ? 'store: Postgres' : 'store: embedded PGlite');
  let manager: KernelManager;
  const km = kernelManagerConfig(config);
  try {
    // This instance owns its uid range and runtime root: it reclaims what a crashed run left there.
    // A failed start's explanation leaves out the data dir (kernel-manager hides its own paths).
    manager = await KernelManager.create(
      { ...km, sandbox: { ...km.sandbox, reclaim: true }, hidePaths: [resolve(config.dataDir)] },
      logger,
    );
  } catch (e) {
    await store.close();
    throw e;
  }
  const jobs = await createJobs({
    sql: store.sql,
    events: store.events,
    files: store.files,
    uploads: store.uploads,
    manager,
    // The jobs service binds its own component: binding it here too would write the key twice.
    log: logger,
    instance: instanceId(config),
    limits: jobLimits(config),
  });
  const server = await buildApp({ config, manager, logger, store, jobs });
  await server.app.listen({ host: config.host, port: config.port });

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) {
      logger.warn({ signal }, 'second signal: exiting now');
      process.exit(1);
    }
    stopping = true;
    logger.info(
      { signal },
      'shutting down: refusing new work, ending jobs, closing connections, stopping kernels',
    );
    const force = setTimeout(() => {
      logger.error('graceful shutdown took too long; exiting');
      process.exit(1);
    }, config.shutdownGraceMs);
    force.unref();
    const ok = await shutdown(
      { server, jobs, manager, store },
      { graceMs: config.shutdownGraceMs, jobsGraceMs: config.jobsShutdownGraceMs },
      logger,
    );
    process.exit(ok ? 0 : 1);
  };
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGINT', () => void stop('SIGINT'));
}

main().catch((e: unknown) => {
  process.stderr.write(`runcell: failed to start: ${e instanceof Error ? e.message : String(e)}\n`);
  process.exit(1);
});
