// The server's configuration. Every setting is declared once, in config/settings.ts (its environment
// variable, default, accepted values and meaning); config/load.ts reads and validates them. This
// module is what the rest of the server imports, and hands each part of the server its share.
import type { DeepPartial, KernelManagerConfig } from '../kernel-manager/index.js';
import { explicitSettings } from './config/load.js';
import type { ServerConfig } from './config/settings.js';
import type { JobLimits } from './jobs/limits.js';

export {
  ConfigError,
  defaultServerConfig,
  explicitSettings,
  loadConfig,
  NOT_SETTINGS,
} from './config/load.js';
export { SETTINGS, type ServerConfig } from './config/settings.js';

type KernelManagerPart = DeepPartial<KernelManagerConfig>;

/** Where each of our kernel settings goes in kernel-manager's configuration (undefined: nowhere). */
const TO_KERNEL_MANAGER: {
  [K in keyof ServerConfig]?: (v: ServerConfig[K]) => KernelManagerPart | undefined;
} = {
  kernelspecDirs: (v) => ({ specDirs: v }),
  defaultKernel: (v) => ({ defaultSpec: v }),
  maxKernels: (v) => ({ maxKernels: v }),
  kernelIdPrefix: (v) => ({ idPrefix: v }),
  gateways: (v) => ({ gateways: v }),
  placement: (v) => ({ placement: v }),
  gatewayHealthIntervalMs: (v) => ({ gatewayHealthIntervalMs: v }),
  gatewayReadmitMs: (v) => ({ gatewayReadmitMs: v }),
  poolSize: (v) => ({ pool: { size: v } }),
  poolSpecs: (v) => ({ pool: { specs: v } }),
  poolMax: (v) => ({ pool: { max: v } }),
  poolParallelStarts: (v) => ({ pool: { parallel: v } }),
  kernelPrelude: (v) => ({ prelude: { python: v } }),
  queueMax: (v) => ({ pool: { queueMax: v } }),
  queueTimeoutMs: (v) => ({ pool: { queueTimeoutMs: v } }),
  kernelStartupTimeoutMs: (v) => ({ limits: { startupTimeoutMs: v } }),
  kernelIdleTimeoutMs: (v) => ({ limits: { idleTimeoutMs: v } }),
  kernelMaxLifetimeMs: (v) => ({ limits: { maxLifetimeMs: v } }),
  executionTimeoutMs: (v) => ({ limits: { executionWallMs: v } }),
  executionOutputBytes: (v) => ({ limits: { executionOutputBytes: v } }),
  kernelMessageBytes: (v) => ({ limits: { maxMessageBytes: v } }),
  sandbox: (v) => ({ sandbox: { mode: v } }),
  // null, '' and 0 stand for kernel-manager's own default.
  sandboxUidRange: (v) => (v ? { sandbox: { uidRange: v } } : undefined),
  sandboxRuntimeRoot: (v) => (v ? { sandbox: { runtimeRoot: v } } : undefined),
  sandboxMemoryBytes: (v) => (v > 0 ? { sandbox: { memoryBytes: v } } : undefined),
  kernelNice: (v) => ({ sandbox: { nice: v } }),
  forkSpecs: (v) => ({ fork: { specs: v[0] === 'auto' ? 'auto' : v } }),
};

/**
 * kernel-manager's configuration from ours: only what the operator set (explicitSettings) is passed
 * on, so kernel-manager's own defaults apply to the rest.
 */
export function kernelManagerConfig(c: ServerConfig): KernelManagerPart {
  const out: Record<string, unknown> = {};
  for (const key of explicitSettings(c)) {
    const to = TO_KERNEL_MANAGER[key] as ((v: unknown) => KernelManagerPart | undefined) | undefined;
    for (const [k, v] of Object.entries(to?.(c[key]) ?? {})) {
      // One level deep is enough: pool, limits, sandbox and fork gather several settings.
      out[k] = typeof v === 'object' && !Array.isArray(v) ? { ...(out[k] as object), ...v } : v;
    }
  }
  return out as KernelManagerPart;
}

/** The store's options from ours. */
export function storeOptions(
  c: ServerConfig,
  log: import('pino').Logger,
): import('./store/db.js').StoreOptions {
  return {
    databaseUrl: c.databaseUrl || undefined,
    dataDir: c.dataDir,
    poolMax: c.dbPoolMax,
    connectTimeoutMs: c.dbConnectTimeoutMs,
    idleTimeoutS: c.dbIdleTimeoutS,
    startupTimeoutMs: c.dbStartupTimeoutMs,
    clientHashSalt: c.clientHashSalt || undefined,
    chunkBytes: c.storeChunkBytes,
    records: { flushIntervalMs: c.recordsFlushMs },
    retention: {
      recordsDays: c.retentionRecordsDays,
      filesDays: c.retentionFilesDays,
      uploadsHours: c.retentionUploadsHours,
      intervalMs: c.retentionIntervalMs,
      statsDays: c.retentionStatsDays,
    },
    log,
  };
}

/** The jobs service's limits from ours. */
export function jobLimits(c: ServerConfig): JobLimits {
  return {
    concurrency: c.jobsConcurrency,
    perOwner: c.jobsConcurrencyPerOwner,
    maxBatch: c.jobsMaxBatch,
    maxQueuedPerOwner: c.jobsMaxQueuedPerOwner,
    defaultTimeoutMs: c.jobsDefaultTimeoutMs,
    maxTimeoutMs: c.jobsMaxTimeoutMs,
    maxOutputBytes: c.jobsMaxOutputBytes,
    maxOutputFiles: c.jobsMaxOutputFiles,
    maxOutputFileBytes: c.jobsMaxOutputFileBytes,
    maxInputBytes: c.jobsMaxInputBytes,
    sweepMs: c.jobsSweepMs,
    leaseMs: c.jobsLeaseMs,
    maxPollWaitMs: c.jobsMaxPollWaitMs,
    maxCodeBytes: c.maxCodeBytes,
  };
}
