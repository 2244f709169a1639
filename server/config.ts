// The server's configuration, in one place: every setting, its environment variable, its default and
// its bounds. Sources, later ones winning: defaults, the JSON file named by RUNCELL_CONFIG, the
// environment. Everything is validated at start-up; a bad value stops the server with a clear message.
import { readFileSync } from 'node:fs';
import type { DeepPartial, GatewayConfig, KernelManagerConfig } from '../kernel-manager/index.js';

const KiB = 1024;
const MiB = 1024 * KiB;

export interface ServerConfig {
  host: string;
  port: number;
  databaseUrl: string;
  dataDir: string;
  logLevel: 'fatal' | 'error' | 'warn' | 'info' | 'debug' | 'trace' | 'silent';
  trustProxy: boolean;
  // Auth and origins
  tokens: string[];
  anonymous: boolean;
  allowedOrigins: string[];
  hideArgv: boolean;
  apiTokensMax: number;
  apiTokenCacheMs: number;
  loginCodeTtlMs: number;
  loginExchangesPerMinute: number;
  // Kernels (mapped onto kernel-manager)
  defaultKernel: string;
  kernelspecDirs: string[];
  maxKernels: number;
  poolSize: number;
  poolSpecs: string[];
  forkSpecs: string[];
  queueMax: number;
  queueTimeoutMs: number;
  kernelStartupTimeoutMs: number;
  kernelIdleTimeoutMs: number;
  kernelMaxLifetimeMs: number;
  executionTimeoutMs: number;
  executionOutputBytes: number;
  kernelMessageBytes: number;
  kernelIdPrefix: string;
  sandbox: 'bwrap' | 'none';
  sandboxUidRange: [number, number] | null;
  sandboxRuntimeRoot: string;
  sandboxMemoryBytes: number;
  kernelNice: number;
  deadKernelTtlMs: number;
  gateways: GatewayConfig[];
  placement: 'local' | 'remote' | 'remote-first';
  // Bridge
  wsMaxPayloadBytes: number;
  clientBufferBytes: number;
  replayMessages: number;
  replayBytes: number;
  sessionTtlMs: number;
  iopubMsgRate: number;
  iopubDataRate: number;
  iopubRateWindowMs: number;
  pollTimeoutMs: number;
  pollMaxMessages: number;
  bodyLimitBytes: number;
  // One-shot execute
  executeTimeoutMs: number;
  maxCodeBytes: number;
  // Per-IP abuse limits (IPv6 counted per /64); token holders are exempt
  ipKernelCreatesPerMinute: number;
  ipMaxKernels: number;
  ipExecutionsPerMinute: number;
  ipMaxPollers: number;
  ipMaxSockets: number;
  shutdownGraceMs: number;
  // Store (Postgres or embedded PGlite)
  dbPoolMax: number;
  dbConnectTimeoutMs: number;
  dbIdleTimeoutS: number;
  dbStartupTimeoutMs: number;
  clientHashSalt: string;
  storeChunkBytes: number;
  recordsFlushMs: number;
  retentionRecordsDays: number;
  retentionFilesDays: number;
  retentionUploadsHours: number;
  retentionIntervalMs: number;
  retentionStatsDays: number;
  uploadMaxBytes: number;
  uploadClientMaxBytes: number;
  uploadClientWindowMs: number;
  contentOrigin: string;
  permalinkMissLimit: number;
  permalinkMissWindowMs: number;
  workFilesMax: number;
  workFileMaxBytes: number;
  // Stats page
  statsSampleMs: number;
  // Jobs
  instanceId: string;
  jobsConcurrency: number;
  jobsConcurrencyPerOwner: number;
  jobsMaxBatch: number;
  jobsMaxQueuedPerOwner: number;
  jobsDefaultTimeoutMs: number;
  jobsMaxTimeoutMs: number;
  jobsMaxOutputBytes: number;
  jobsMaxOutputFiles: number;
  jobsMaxOutputFileBytes: number;
  jobsSweepMs: number;
  jobsMaxPollWaitMs: number;
  jobsShutdownGraceMs: number;
}

type Kind =
  | { t: 'int'; min: number; max?: number }
  | { t: 'bool' }
  | { t: 'string'; nonEmpty?: boolean }
  | { t: 'list' }
  | { t: 'enum'; values: readonly string[] }
  | { t: 'uidRange' }
  | { t: 'gateways' };

interface Setting {
  key: keyof ServerConfig;
  env: string;
  kind: Kind;
  doc: string;
}

const int = (min: number, max?: number): Kind =>
  max === undefined ? { t: 'int', min } : { t: 'int', min, max };

/** Every setting. docs/configuration.md lists the same table (a test keeps them in step). */
export const SETTINGS: readonly Setting[] = [
  { key: 'host', env: 'HOST', kind: { t: 'string', nonEmpty: true }, doc: 'address to listen on' },
  { key: 'port', env: 'PORT', kind: int(0, 65535), doc: 'TCP port (0: any free port)' },
  {
    key: 'databaseUrl',
    env: 'DATABASE_URL',
    kind: { t: 'string' },
    doc: 'Postgres URL; empty: embedded PGlite',
  },
  {
    key: 'dataDir',
    env: 'RUNCELL_DATA_DIR',
    kind: { t: 'string', nonEmpty: true },
    doc: 'embedded database dir',
  },
  {
    key: 'logLevel',
    env: 'RUNCELL_LOG_LEVEL',
    kind: { t: 'enum', values: ['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'] },
    doc: 'pino log level',
  },
  { key: 'trustProxy', env: 'RUNCELL_TRUST_PROXY', kind: { t: 'bool' }, doc: 'trust X-Forwarded-For' },
  { key: 'tokens', env: 'RUNCELL_TOKENS', kind: { t: 'list' }, doc: 'API tokens (comma-separated)' },
  { key: 'anonymous', env: 'RUNCELL_ANONYMOUS', kind: { t: 'bool' }, doc: 'allow cells without a token' },
  { key: 'allowedOrigins', env: 'RUNCELL_ALLOWED_ORIGINS', kind: { t: 'list' }, doc: 'Origin allow-list' },
  { key: 'hideArgv', env: 'RUNCELL_HIDE_ARGV', kind: { t: 'bool' }, doc: 'show kernelspec argv as []' },
  {
    key: 'apiTokensMax',
    env: 'RUNCELL_API_TOKENS_MAX',
    kind: int(1, 10_000),
    doc: 'live issued API tokens per account',
  },
  {
    key: 'apiTokenCacheMs',
    env: 'RUNCELL_API_TOKEN_CACHE_MS',
    kind: int(0, 300_000),
    doc: 'how long an issued token lookup is trusted (bounds revocation delay on other instances)',
  },
  {
    key: 'loginCodeTtlMs',
    env: 'RUNCELL_LOGIN_CODE_TTL_MS',
    kind: int(1_000, 600_000),
    doc: 'life of an approved browser login code',
  },
  {
    key: 'loginExchangesPerMinute',
    env: 'RUNCELL_LOGIN_EXCHANGES_PER_MINUTE',
    kind: int(0),
    doc: 'login code exchanges per client address (0: unlimited)',
  },
  {
    key: 'defaultKernel',
    env: 'RUNCELL_DEFAULT_KERNEL',
    kind: { t: 'string', nonEmpty: true },
    doc: 'default kernelspec',
  },
  {
    key: 'kernelspecDirs',
    env: 'RUNCELL_KERNELSPEC_DIRS',
    kind: { t: 'list' },
    doc: 'extra kernelspec dirs',
  },
  {
    key: 'maxKernels',
    env: 'RUNCELL_MAX_KERNELS',
    kind: int(1),
    doc: 'live kernels at most (pool included)',
  },
  { key: 'poolSize', env: 'RUNCELL_POOL_SIZE', kind: int(0), doc: 'warm kernels per pooled spec' },
  { key: 'poolSpecs', env: 'RUNCELL_POOL_SPECS', kind: { t: 'list' }, doc: 'specs kept warm' },
  {
    key: 'forkSpecs',
    env: 'RUNCELL_FORK_SPECS',
    kind: { t: 'list' },
    doc: "specs forked from a zygote (fork-server); 'auto': the default spec if the host allows",
  },
  { key: 'queueMax', env: 'RUNCELL_QUEUE_MAX', kind: int(0), doc: 'kernel requests waiting at most' },
  { key: 'queueTimeoutMs', env: 'RUNCELL_QUEUE_TIMEOUT_MS', kind: int(1), doc: 'wait for a kernel at most' },
  {
    key: 'kernelStartupTimeoutMs',
    env: 'RUNCELL_KERNEL_STARTUP_TIMEOUT_MS',
    kind: int(100),
    doc: 'kernel start-up limit',
  },
  { key: 'kernelIdleTimeoutMs', env: 'RUNCELL_KERNEL_IDLE_TIMEOUT_MS', kind: int(0), doc: 'idle culling' },
  { key: 'kernelMaxLifetimeMs', env: 'RUNCELL_KERNEL_MAX_LIFETIME_MS', kind: int(0), doc: 'kernel lifetime' },
  { key: 'executionTimeoutMs', env: 'RUNCELL_EXECUTION_TIMEOUT_MS', kind: int(0), doc: 'wall time per run' },
  {
    key: 'executionOutputBytes',
    env: 'RUNCELL_EXECUTION_OUTPUT_BYTES',
    kind: int(0),
    doc: 'hard output cap per run',
  },
  { key: 'kernelMessageBytes', env: 'RUNCELL_KERNEL_MESSAGE_BYTES', kind: int(KiB), doc: 'largest message' },
  { key: 'kernelIdPrefix', env: 'RUNCELL_KERNEL_ID_PREFIX', kind: { t: 'string' }, doc: 'kernel id prefix' },
  { key: 'sandbox', env: 'RUNCELL_SANDBOX', kind: { t: 'enum', values: ['bwrap', 'none'] }, doc: 'sandbox' },
  { key: 'sandboxUidRange', env: 'RUNCELL_SANDBOX_UID_RANGE', kind: { t: 'uidRange' }, doc: 'kernel uids' },
  {
    key: 'sandboxRuntimeRoot',
    env: 'RUNCELL_SANDBOX_RUNTIME_ROOT',
    kind: { t: 'string' },
    doc: 'kernel runtime dirs',
  },
  { key: 'sandboxMemoryBytes', env: 'RUNCELL_SANDBOX_MEMORY_BYTES', kind: int(0), doc: 'memory per kernel' },
  { key: 'kernelNice', env: 'RUNCELL_KERNEL_NICE', kind: int(0, 19), doc: 'niceness of kernel processes' },
  { key: 'deadKernelTtlMs', env: 'RUNCELL_DEAD_KERNEL_TTL_MS', kind: int(0), doc: 'dead model kept' },
  {
    key: 'gateways',
    env: 'RUNCELL_GATEWAYS',
    kind: { t: 'gateways' },
    doc: 'remote kernel hosts: JSON list of {url, token, capacity, specs?}',
  },
  {
    key: 'placement',
    env: 'RUNCELL_PLACEMENT',
    kind: { t: 'enum', values: ['local', 'remote', 'remote-first'] },
    doc: 'where kernels start (see docs/scaling.md)',
  },
  { key: 'wsMaxPayloadBytes', env: 'RUNCELL_WS_MAX_PAYLOAD_BYTES', kind: int(KiB), doc: 'largest frame' },
  { key: 'clientBufferBytes', env: 'RUNCELL_CLIENT_BUFFER_BYTES', kind: int(KiB), doc: 'unsent per socket' },
  { key: 'replayMessages', env: 'RUNCELL_REPLAY_MESSAGES', kind: int(1), doc: 'replay log length' },
  { key: 'replayBytes', env: 'RUNCELL_REPLAY_BYTES', kind: int(KiB), doc: 'replay log size' },
  { key: 'sessionTtlMs', env: 'RUNCELL_SESSION_TTL_MS', kind: int(0), doc: 'disconnected session kept' },
  { key: 'iopubMsgRate', env: 'RUNCELL_IOPUB_MSG_RATE', kind: int(0), doc: 'output messages/s (0: off)' },
  { key: 'iopubDataRate', env: 'RUNCELL_IOPUB_DATA_RATE', kind: int(0), doc: 'output bytes/s (0: off)' },
  { key: 'iopubRateWindowMs', env: 'RUNCELL_IOPUB_RATE_WINDOW_MS', kind: int(10), doc: 'rate window' },
  { key: 'pollTimeoutMs', env: 'RUNCELL_POLL_TIMEOUT_MS', kind: int(0, 120_000), doc: 'long-poll hold' },
  { key: 'pollMaxMessages', env: 'RUNCELL_POLL_MAX_MESSAGES', kind: int(1), doc: 'messages per poll' },
  { key: 'bodyLimitBytes', env: 'RUNCELL_BODY_LIMIT_BYTES', kind: int(KiB), doc: 'HTTP body size cap' },
  { key: 'executeTimeoutMs', env: 'RUNCELL_EXECUTE_TIMEOUT_MS', kind: int(100), doc: '/api/execute max' },
  { key: 'maxCodeBytes', env: 'RUNCELL_MAX_CODE_BYTES', kind: int(1), doc: 'code size cap' },
  {
    key: 'ipKernelCreatesPerMinute',
    env: 'RUNCELL_IP_KERNEL_CREATES_PER_MINUTE',
    kind: int(0),
    doc: 'kernel starts per IP',
  },
  { key: 'ipMaxKernels', env: 'RUNCELL_IP_MAX_KERNELS', kind: int(0), doc: 'live kernels per IP' },
  {
    key: 'ipExecutionsPerMinute',
    env: 'RUNCELL_IP_EXECUTIONS_PER_MINUTE',
    kind: int(0),
    doc: 'executions per IP',
  },
  { key: 'ipMaxPollers', env: 'RUNCELL_IP_MAX_POLLERS', kind: int(0), doc: 'concurrent polls per IP' },
  { key: 'ipMaxSockets', env: 'RUNCELL_IP_MAX_SOCKETS', kind: int(0), doc: 'websockets per IP' },
  { key: 'shutdownGraceMs', env: 'RUNCELL_SHUTDOWN_GRACE_MS', kind: int(0), doc: 'graceful shutdown limit' },
  { key: 'dbPoolMax', env: 'RUNCELL_DB_POOL_MAX', kind: int(1, 1000), doc: 'database connections at most' },
  {
    key: 'dbConnectTimeoutMs',
    env: 'RUNCELL_DB_CONNECT_TIMEOUT_MS',
    kind: int(100),
    doc: 'database connect timeout',
  },
  {
    key: 'dbIdleTimeoutS',
    env: 'RUNCELL_DB_IDLE_TIMEOUT_S',
    kind: int(0),
    doc: 'idle database connections closed after',
  },
  {
    key: 'dbStartupTimeoutMs',
    env: 'RUNCELL_DB_STARTUP_TIMEOUT_MS',
    kind: int(0),
    doc: 'wait for the database at start-up',
  },
  {
    key: 'clientHashSalt',
    env: 'RUNCELL_CLIENT_HASH_SALT',
    kind: { t: 'string' },
    doc: 'salt for client-address hashes; empty: generated once, kept in the database',
  },
  { key: 'storeChunkBytes', env: 'RUNCELL_STORE_CHUNK_BYTES', kind: int(4096), doc: 'file chunk size' },
  {
    key: 'recordsFlushMs',
    env: 'RUNCELL_RECORDS_FLUSH_MS',
    kind: int(10),
    doc: 'execute records batch interval',
  },
  {
    key: 'retentionRecordsDays',
    env: 'RUNCELL_RETENTION_RECORDS_DAYS',
    kind: int(0),
    doc: 'anonymous execute records kept (0: forever)',
  },
  {
    key: 'retentionFilesDays',
    env: 'RUNCELL_RETENTION_FILES_DAYS',
    kind: int(0),
    doc: 'unreferenced files kept (0: forever)',
  },
  {
    key: 'retentionUploadsHours',
    env: 'RUNCELL_RETENTION_UPLOADS_HOURS',
    kind: int(0),
    doc: 'uploads kept',
  },
  {
    key: 'retentionIntervalMs',
    env: 'RUNCELL_RETENTION_INTERVAL_MS',
    kind: int(0),
    doc: 'retention task period (0: off)',
  },
  {
    key: 'retentionStatsDays',
    env: 'RUNCELL_RETENTION_STATS_DAYS',
    kind: int(0),
    doc: 'stats samples (kernels, connections over time) kept (0: forever)',
  },
  {
    key: 'statsSampleMs',
    env: 'RUNCELL_STATS_SAMPLE_MS',
    kind: int(0),
    doc: 'how often each instance samples its gauges for the stats page (0: off; else 100 or more)',
  },
  { key: 'uploadMaxBytes', env: 'RUNCELL_UPLOAD_MAX_BYTES', kind: int(1), doc: 'largest upload' },
  {
    key: 'uploadClientMaxBytes',
    env: 'RUNCELL_UPLOAD_CLIENT_MAX_BYTES',
    kind: int(1),
    doc: 'upload bytes per client per window',
  },
  {
    key: 'uploadClientWindowMs',
    env: 'RUNCELL_UPLOAD_CLIENT_WINDOW_MS',
    kind: int(1000),
    doc: 'upload quota window',
  },
  {
    key: 'contentOrigin',
    env: 'RUNCELL_CONTENT_ORIGIN',
    kind: { t: 'string' },
    doc: 'separate origin for user content (HTML/SVG files); empty: served as attachments',
  },
  {
    key: 'permalinkMissLimit',
    env: 'RUNCELL_PERMALINK_MISS_LIMIT',
    kind: int(1),
    doc: 'unknown-permalink lookups per client per window',
  },
  {
    key: 'permalinkMissWindowMs',
    env: 'RUNCELL_PERMALINK_MISS_WINDOW_MS',
    kind: int(1000),
    doc: 'permalink miss window',
  },
  {
    key: 'workFilesMax',
    env: 'RUNCELL_WORK_FILES_MAX',
    kind: int(0, 1000),
    doc: 'files the code writes that are kept per execution',
  },
  {
    key: 'workFileMaxBytes',
    env: 'RUNCELL_WORK_FILE_MAX_BYTES',
    kind: int(0),
    doc: 'largest file kept from a kernel, and largest upload placed in one',
  },
  {
    key: 'instanceId',
    env: 'RUNCELL_INSTANCE_ID',
    kind: { t: 'string' },
    doc: 'stable name of this instance among those sharing a database (default host:port)',
  },
  {
    key: 'jobsConcurrency',
    env: 'RUNCELL_JOBS_CONCURRENCY',
    kind: int(1),
    doc: 'jobs running at once (this instance)',
  },
  {
    key: 'jobsConcurrencyPerOwner',
    env: 'RUNCELL_JOBS_CONCURRENCY_PER_OWNER',
    kind: int(1),
    doc: 'jobs running at once per owner',
  },
  { key: 'jobsMaxBatch', env: 'RUNCELL_JOBS_MAX_BATCH', kind: int(1), doc: 'jobs in one submission' },
  {
    key: 'jobsMaxQueuedPerOwner',
    env: 'RUNCELL_JOBS_MAX_QUEUED_PER_OWNER',
    kind: int(1),
    doc: 'queued jobs per owner',
  },
  {
    key: 'jobsDefaultTimeoutMs',
    env: 'RUNCELL_JOBS_DEFAULT_TIMEOUT_MS',
    kind: int(1000),
    doc: 'job timeout when none is given',
  },
  {
    key: 'jobsMaxTimeoutMs',
    env: 'RUNCELL_JOBS_MAX_TIMEOUT_MS',
    kind: int(1000),
    doc: 'longest job timeout allowed',
  },
  {
    key: 'jobsMaxOutputBytes',
    env: 'RUNCELL_JOBS_MAX_OUTPUT_BYTES',
    kind: int(1024),
    doc: 'stored output per job',
  },
  {
    key: 'jobsMaxOutputFiles',
    env: 'RUNCELL_JOBS_MAX_OUTPUT_FILES',
    kind: int(0),
    doc: 'files kept per job',
  },
  {
    key: 'jobsMaxOutputFileBytes',
    env: 'RUNCELL_JOBS_MAX_OUTPUT_FILE_BYTES',
    kind: int(0),
    doc: 'largest file kept per job',
  },
  { key: 'jobsSweepMs', env: 'RUNCELL_JOBS_SWEEP_MS', kind: int(100), doc: 'scheduler sweep period' },
  {
    key: 'jobsMaxPollWaitMs',
    env: 'RUNCELL_JOBS_MAX_POLL_WAIT_MS',
    kind: int(0),
    doc: 'longest event long-poll hold',
  },
  {
    key: 'jobsShutdownGraceMs',
    env: 'RUNCELL_JOBS_SHUTDOWN_GRACE_MS',
    kind: int(0),
    doc: 'running jobs get this long at shutdown, then end aborted',
  },
];

export function defaultServerConfig(): ServerConfig {
  return {
    host: '127.0.0.1',
    port: 8888,
    databaseUrl: '',
    dataDir: './data',
    logLevel: 'info',
    trustProxy: false,
    tokens: [],
    anonymous: true,
    allowedOrigins: [],
    hideArgv: true,
    apiTokensMax: 50,
    apiTokenCacheMs: 5_000,
    loginCodeTtlMs: 120_000,
    loginExchangesPerMinute: 10,
    defaultKernel: 'python3',
    kernelspecDirs: [],
    maxKernels: 50,
    poolSize: 2,
    poolSpecs: [],
    forkSpecs: [],
    queueMax: 100,
    queueTimeoutMs: 30_000,
    kernelStartupTimeoutMs: 30_000,
    kernelIdleTimeoutMs: 10 * 60_000,
    kernelMaxLifetimeMs: 4 * 3_600_000,
    executionTimeoutMs: 60_000,
    executionOutputBytes: 64 * MiB,
    kernelMessageBytes: 32 * MiB,
    kernelIdPrefix: '',
    sandbox: 'bwrap',
    sandboxUidRange: null,
    sandboxRuntimeRoot: '',
    sandboxMemoryBytes: 0,
    kernelNice: 10,
    deadKernelTtlMs: 5 * 60_000,
    gateways: [],
    placement: 'local',
    // Far below ws's 100 MiB default: a frame from a browser is code or a widget update.
    wsMaxPayloadBytes: 4 * MiB,
    clientBufferBytes: 4 * MiB,
    replayMessages: 2_000,
    replayBytes: 16 * MiB,
    sessionTtlMs: 5 * 60_000,
    // Jupyter Server's defaults: 1000 msg/s and 1 MB/s averaged over 3 s.
    iopubMsgRate: 1_000,
    iopubDataRate: 1_000_000,
    iopubRateWindowMs: 3_000,
    pollTimeoutMs: 25_000,
    pollMaxMessages: 1_000,
    bodyLimitBytes: 4 * MiB,
    executeTimeoutMs: 30_000,
    maxCodeBytes: 256 * KiB,
    ipKernelCreatesPerMinute: 30,
    ipMaxKernels: 10,
    ipExecutionsPerMinute: 600,
    ipMaxPollers: 20,
    ipMaxSockets: 50,
    shutdownGraceMs: 10_000,
    dbPoolMax: 10,
    dbConnectTimeoutMs: 5_000,
    dbIdleTimeoutS: 60,
    dbStartupTimeoutMs: 30_000,
    clientHashSalt: '',
    storeChunkBytes: MiB,
    recordsFlushMs: 250,
    retentionRecordsDays: 30,
    retentionFilesDays: 7,
    retentionUploadsHours: 24,
    retentionIntervalMs: 3_600_000,
    retentionStatsDays: 30,
    uploadMaxBytes: 100 * MiB,
    uploadClientMaxBytes: 1024 * MiB,
    uploadClientWindowMs: 86_400_000,
    contentOrigin: '',
    permalinkMissLimit: 30,
    permalinkMissWindowMs: 60_000,
    workFilesMax: 20,
    workFileMaxBytes: 16 * MiB,
    statsSampleMs: 15_000,
    instanceId: '',
    jobsConcurrency: 4,
    jobsConcurrencyPerOwner: 2,
    jobsMaxBatch: 1000,
    jobsMaxQueuedPerOwner: 10000,
    jobsDefaultTimeoutMs: 60000,
    jobsMaxTimeoutMs: 3600000,
    jobsMaxOutputBytes: 4194304,
    jobsMaxOutputFiles: 32,
    jobsMaxOutputFileBytes: 16777216,
    jobsSweepMs: 30000,
    jobsMaxPollWaitMs: 60000,
    jobsShutdownGraceMs: 5000,
  };
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

function parseValue(
  s: Setting,
  raw: unknown,
  where: string,
): { ok: true; v: unknown } | { ok: false; msg: string } {
  const { kind } = s;
  const bad = (expected: string) => ({
    ok: false as const,
    msg: `${where}: expected ${expected}, got ${JSON.stringify(raw)}`,
  });
  switch (kind.t) {
    case 'int': {
      const n =
        typeof raw === 'number'
          ? raw
          : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw)
            ? Number(raw)
            : NaN;
      const range = kind.max === undefined ? `>= ${kind.min}` : `between ${kind.min} and ${kind.max}`;
      if (!Number.isSafeInteger(n) || n < kind.min || (kind.max !== undefined && n > kind.max))
        return bad(`an integer ${range}`);
      return { ok: true, v: n };
    }
    case 'bool': {
      if (typeof raw === 'boolean') return { ok: true, v: raw };
      const t = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
      if (['1', 'true', 'yes', 'on'].includes(t)) return { ok: true, v: true };
      if (['0', 'false', 'no', 'off'].includes(t)) return { ok: true, v: false };
      return bad('true or false');
    }
    case 'string': {
      if (typeof raw !== 'string') return bad('a string');
      if (kind.nonEmpty && raw.trim() === '') return bad('a non-empty string');
      return { ok: true, v: raw };
    }
    case 'list': {
      if (Array.isArray(raw) && raw.every((x) => typeof x === 'string'))
        return { ok: true, v: raw.map((x) => x.trim()).filter(Boolean) };
      if (typeof raw === 'string') {
        return {
          ok: true,
          v: raw
            .split(',')
            .map((x) => x.trim())
            .filter(Boolean),
        };
      }
      return bad('a comma-separated list (or an array of strings in the file)');
    }
    case 'enum':
      if (typeof raw === 'string' && kind.values.includes(raw)) return { ok: true, v: raw };
      return bad(`one of ${kind.values.join(', ')}`);
    case 'uidRange': {
      const m =
        typeof raw === 'string'
          ? /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(raw)
          : Array.isArray(raw) && raw.length === 2
            ? ['', String(raw[0]), String(raw[1])]
            : null;
      const lo = Number(m?.[1]);
      const hi = Number(m?.[2]);
      if (!m || !Number.isSafeInteger(lo) || !Number.isSafeInteger(hi) || lo < 1000 || hi < lo)
        return bad('a uid range FIRST-LAST with 1000 <= FIRST <= LAST');
      return { ok: true, v: [lo, hi] };
    }
    case 'gateways': {
      let v: unknown = raw;
      if (typeof raw === 'string') {
        try {
          v = JSON.parse(raw);
        } catch {
          return bad('a JSON list of {"url", "token", "capacity"}');
        }
      }
      const ok = (g: unknown): g is GatewayConfig => {
        if (typeof g !== 'object' || g === null) return false;
        const o = g as Record<string, unknown>;
        return (
          typeof o.url === 'string' &&
          /^https?:\/\/[^\s]+$/.test(o.url) &&
          (o.token === undefined || typeof o.token === 'string') &&
          Number.isSafeInteger(o.capacity) &&
          (o.capacity as number) >= 1 &&
          (o.specs === undefined || (Array.isArray(o.specs) && o.specs.every((x) => typeof x === 'string')))
        );
      };
      if (!Array.isArray(v) || !v.every(ok))
        return bad('a JSON list of {"url": "http(s)://…", "token", "capacity" >= 1, "specs"?}');
      return {
        ok: true,
        v: v.map((g) => ({
          url: g.url,
          token: g.token ?? '',
          capacity: g.capacity,
          ...(g.specs ? { specs: g.specs } : {}),
        })),
      };
    }
  }
}

/**
 * Builds the configuration from defaults, the optional JSON file (RUNCELL_CONFIG) and the environment.
 * `overrides` (tests, embedding) win over everything. Throws ConfigError listing every problem.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<ServerConfig> = {},
): ServerConfig {
  const cfg = defaultServerConfig() as unknown as Record<string, unknown>;
  const problems: string[] = [];
  let file: Record<string, unknown> = {};
  const path = env.RUNCELL_CONFIG;
  if (path) {
    try {
      const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
      if (typeof parsed !== 'object' || parsed === null || Array.isArray(parsed))
        problems.push(`RUNCELL_CONFIG: the file must hold a JSON object`);
      else file = parsed as Record<string, unknown>;
    } catch (e) {
      const why = e instanceof SyntaxError ? 'is not valid JSON' : 'cannot be read';
      problems.push(`RUNCELL_CONFIG: the config file ${why} (${(e as Error).message.split('\n')[0]})`);
    }
  }
  const known = new Set<string>(SETTINGS.map((s) => s.key));
  for (const k of Object.keys(file)) {
    if (!known.has(k)) problems.push(`config file: unknown setting "${k}"`);
  }
  for (const s of SETTINGS) {
    const sources: [unknown, string][] = [
      [Object.hasOwn(file, s.key) ? file[s.key] : undefined, `config file "${s.key}"`],
      [env[s.env], s.env],
    ];
    for (const [raw, where] of sources) {
      if (raw === undefined || (typeof raw === 'string' && raw === '' && s.kind.t !== 'string')) continue;
      const r = parseValue(s, raw, where);
      if (r.ok) cfg[s.key] = r.v;
      else problems.push(r.msg);
    }
  }
  for (const [k, v] of Object.entries(overrides)) if (v !== undefined) cfg[k] = v;
  const config = cfg as unknown as ServerConfig;
  if (!config.anonymous && config.tokens.length === 0)
    problems.push('RUNCELL_ANONYMOUS=false needs at least one token in RUNCELL_TOKENS');
  for (const t of config.tokens)
    if (t.length < 16) problems.push('RUNCELL_TOKENS: every token needs 16 characters or more');
  for (const o of config.allowedOrigins) {
    if (o !== '*' && !/^https?:\/\/[^/\s]+$/.test(o))
      problems.push(
        `RUNCELL_ALLOWED_ORIGINS: "${o}" is not an origin like https://example.org (no path, no slash)`,
      );
  }
  if (config.contentOrigin && !/^https?:\/\/[^/\s]+$/.test(config.contentOrigin))
    problems.push(
      `RUNCELL_CONTENT_ORIGIN: "${config.contentOrigin}" is not an origin like https://usercontent.example.org`,
    );
  if (config.forkSpecs.includes('auto') && config.forkSpecs.length > 1)
    problems.push("RUNCELL_FORK_SPECS: 'auto' cannot be combined with spec names");
  if (config.poolSize > config.maxKernels)
    problems.push('RUNCELL_POOL_SIZE cannot exceed RUNCELL_MAX_KERNELS');
  if (config.statsSampleMs > 0 && config.statsSampleMs < 100)
    problems.push('RUNCELL_STATS_SAMPLE_MS: 0 (off) or at least 100');
  if (problems.length > 0) throw new ConfigError(problems);
  return config;
}

/** kernel-manager's configuration from ours: only what the operator set is passed on. */
export function kernelManagerConfig(c: ServerConfig): DeepPartial<KernelManagerConfig> {
  const sandbox: DeepPartial<KernelManagerConfig['sandbox']> = { mode: c.sandbox };
  if (c.sandboxUidRange) sandbox.uidRange = c.sandboxUidRange;
  if (c.sandboxRuntimeRoot) sandbox.runtimeRoot = c.sandboxRuntimeRoot;
  if (c.sandboxMemoryBytes > 0) sandbox.memoryBytes = c.sandboxMemoryBytes;
  sandbox.nice = c.kernelNice;
  return {
    specDirs: c.kernelspecDirs,
    defaultSpec: c.defaultKernel,
    maxKernels: c.maxKernels,
    idPrefix: c.kernelIdPrefix,
    gateways: c.gateways,
    placement: c.placement,
    pool: { size: c.poolSize, specs: c.poolSpecs, queueMax: c.queueMax, queueTimeoutMs: c.queueTimeoutMs },
    limits: {
      startupTimeoutMs: c.kernelStartupTimeoutMs,
      idleTimeoutMs: c.kernelIdleTimeoutMs,
      maxLifetimeMs: c.kernelMaxLifetimeMs,
      executionWallMs: c.executionTimeoutMs,
      executionOutputBytes: c.executionOutputBytes,
      maxMessageBytes: c.kernelMessageBytes,
    },
    sandbox,
    ...(c.forkSpecs.length > 0 ? { fork: { specs: c.forkSpecs[0] === 'auto' ? 'auto' : c.forkSpecs } } : {}),
  };
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
export function jobLimits(c: ServerConfig) {
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
    sweepMs: c.jobsSweepMs,
    maxPollWaitMs: c.jobsMaxPollWaitMs,
    maxCodeBytes: c.maxCodeBytes,
  };
}
