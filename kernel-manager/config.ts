// kernel-manager's defaults, in one place, and the merge of a caller's partial config over them.
// The server's kernel settings (RUNCELL_POOL_SIZE, …) default to these and pass on only what the
// operator set (server/config.ts), so a default changed here changes the server's too.
import { defaultSandboxConfig } from './sandbox/index.js';
import type { KernelManagerConfig } from './types.js';

export type DeepPartial<T> = {
  [K in keyof T]?: T[K] extends object ? (T[K] extends unknown[] ? T[K] : DeepPartial<T[K]>) : T[K];
};

export function defaultConfig(): KernelManagerConfig {
  return {
    specDirs: [],
    defaultSpec: 'python3',
    // About 60 MB resident per idle ipykernel: 50 fit comfortably in a small machine's memory.
    maxKernels: 50,
    // Sized from demand between 4 and 8 warm kernels (docs/performance.md, "Audiences"); up to two
    // starts per core run at once (parallel 0). The floor serves an audience's first moments, before
    // demand is seen: at 1 visitor/s, 3 arrivals within one start time are common, and a pool of 2
    // ran dry; a forked warm kernel costs about 45 MiB (PSS), a plain one about 87 MiB.
    pool: {
      size: 4,
      max: 8,
      headroom: 1.5,
      memoryMs: 60_000,
      parallel: 0,
      specs: [],
      queueMax: 100,
      queueTimeoutMs: 30_000,
      refillDelayMs: 150,
    },
    limits: {
      // A loaded 2-core machine can take several seconds to start Python.
      startupTimeoutMs: 30_000,
      idleTimeoutMs: 10 * 60_000,
      maxLifetimeMs: 4 * 3_600_000,
      executionWallMs: 60_000,
      interruptGraceMs: 5_000,
      heartbeatIntervalMs: 1_000,
      maxMessageBytes: 32 * 2 ** 20,
      executionOutputBytes: 64 * 2 ** 20,
      shutdownGraceMs: 2_000,
    },
    sandbox: defaultSandboxConfig(),
    // Forked kernels where the host passes the fork-server's probe: the only way 2 cores keep up with
    // an audience (docs/performance.md; the trade-off: docs/SECURITY.md "Fork-server").
    fork: { specs: 'auto', preload: ['numpy', 'matplotlib.pyplot'] },
    prelude: { python: ['numpy', 'matplotlib.pyplot'] },
    idPrefix: '',
    gateways: [],
    placement: 'local',
    gatewayHealthIntervalMs: 5_000,
    gatewayReadmitMs: 30_000,
    hidePaths: [],
  };
}

function isPlain(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function merge<T>(base: T, over: unknown): T {
  if (!isPlain(base) || !isPlain(over)) return (over === undefined ? base : over) as T;
  const out: Record<string, unknown> = { ...base };
  for (const [k, v] of Object.entries(over)) {
    if (k === '__proto__' || k === 'constructor' || v === undefined) continue;
    out[k] = merge(out[k], v);
  }
  return out as T;
}

export function resolveConfig(partial: DeepPartial<KernelManagerConfig> = {}): KernelManagerConfig {
  const cfg = merge(defaultConfig(), partial);
  // A pool floor above the cap on live kernels could never be kept (the default floor, with a small cap).
  cfg.pool.size = Math.min(cfg.pool.size, cfg.maxKernels);
  return cfg;
}
