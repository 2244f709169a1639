// The server as its own process for the fault tests (SIGKILL and restart, a full disk): what
// server/main.ts composes, minus the job runner, configured from the environment like `npm start`.
import { pino } from 'pino';
import { KernelManager } from '../../kernel-manager/index.js';
import { buildApp } from '../../server/app.js';
import { kernelManagerConfig, loadConfig, storeOptions } from '../../server/config.js';
import { openStore } from '../../server/store/db.js';

const config = loadConfig();
const logger = pino({ level: config.logLevel });
const store = await openStore(storeOptions(config, logger));
const km = kernelManagerConfig(config);
// As main.ts: this instance owns its uid block and runtime root, and reclaims what a killed run left.
const manager = await KernelManager.create({ ...km, sandbox: { ...km.sandbox, reclaim: true } }, logger);
const server = await buildApp({ config, manager, logger, store });
await server.app.listen({ host: config.host, port: config.port });
process.once('SIGTERM', async () => {
  await server.close();
  await manager.close();
  await store.close();
  process.exit(0);
});
