// Every setting of the server, declared once: its environment variable, its default, the values it
// accepts and its meaning. ServerConfig, the defaults, the parsing of the environment and the config
// file, and the table in docs/configuration.md (`npm run docs:config`) all come from this table.
// Settings that kernel-manager or the jobs service own take their defaults from those modules.
import { defaultConfig } from '../../kernel-manager/index.js';
import { defaultJobLimits } from '../jobs/limits.js';
import { defaultRetentionOptions as retention } from '../store/retention.js';
import { STORE_DEFAULTS as store } from '../store/types.js';
import { bool, type ConfigOf, gateways, int, list, oneOf, text, uidRange } from './schema.js';

const KiB = 1024;
const MiB = 1024 * KiB;
const KM = defaultConfig();
const JOBS = defaultJobLimits();

const ORIGIN = /^https?:\/\/[^/\s]+$/;

export const SETTINGS = {
  host: text({ env: 'HOST', default: '127.0.0.1', nonEmpty: true, doc: 'address to listen on' }),
  port: int({ env: 'PORT', default: 8888, min: 0, max: 65535, doc: 'TCP port (0: any free port)' }),
  databaseUrl: text({ env: 'DATABASE_URL', default: '', doc: 'Postgres URL; empty: embedded PGlite' }),
  dataDir: text({ env: 'RUNCELL_DATA_DIR', default: './data', nonEmpty: true, doc: 'embedded database dir' }),
  logLevel: oneOf(['fatal', 'error', 'warn', 'info', 'debug', 'trace', 'silent'], {
    env: 'RUNCELL_LOG_LEVEL',
    default: 'info',
    doc: 'pino log level',
  }),
  trustProxy: bool({ env: 'RUNCELL_TRUST_PROXY', default: false, doc: 'trust X-Forwarded-For' }),

  // Auth and origins
  tokens: list({
    env: 'RUNCELL_TOKENS',
    default: [],
    doc: 'API tokens (comma-separated)',
    check: (v) => (v.some((t) => t.length < 16) ? 'every token needs 16 characters or more' : undefined),
  }),
  anonymous: bool({ env: 'RUNCELL_ANONYMOUS', default: true, doc: 'allow cells without a token' }),
  allowedOrigins: list({
    env: 'RUNCELL_ALLOWED_ORIGINS',
    default: [],
    doc: 'Origin allow-list',
    check: (v) => {
      const bad = v.filter((o) => o !== '*' && !ORIGIN.test(o)).map((o) => `"${o}"`);
      if (bad.length === 0) return undefined;
      const is = bad.length === 1 ? 'is not an origin' : 'are not origins';
      return `${bad.join(', ')} ${is} like https://example.org (no path, no slash)`;
    },
  }),
  hideArgv: bool({ env: 'RUNCELL_HIDE_ARGV', default: true, doc: 'show kernelspec argv as []' }),
  apiTokensMax: int({
    env: 'RUNCELL_API_TOKENS_MAX',
    default: 50,
    min: 1,
    max: 10_000,
    doc: 'live issued API tokens per account (`POST /api/tokens`, `runcell login`)',
  }),
  apiTokenCacheMs: int({
    env: 'RUNCELL_API_TOKEN_CACHE_MS',
    default: 5_000,
    min: 0,
    max: 300_000,
    doc:
      "how long an instance trusts an issued token's lookup; revocations evict at once on the revoking " +
      "instance and, through the database's notifications, on the others, so this only bounds the delay " +
      'if a notification is lost (0: look up every request)',
  }),
  loginCodeTtlMs: int({
    env: 'RUNCELL_LOGIN_CODE_TTL_MS',
    default: 120_000,
    min: 1_000,
    max: 600_000,
    doc: "how long the CLI may exchange an approved browser login's one-time code",
  }),
  loginExchangesPerMinute: int({
    env: 'RUNCELL_LOGIN_EXCHANGES_PER_MINUTE',
    default: 10,
    min: 0,
    doc: 'login code exchanges per client address (0: unlimited)',
  }),

  // Kernels: kernel-manager's settings, with its defaults (all but deadKernelTtlMs, the server's)
  defaultKernel: text({
    env: 'RUNCELL_DEFAULT_KERNEL',
    default: KM.defaultSpec,
    nonEmpty: true,
    doc: 'default kernelspec',
  }),
  kernelspecDirs: list({
    env: 'RUNCELL_KERNELSPEC_DIRS',
    default: KM.specDirs,
    doc: 'extra Jupyter data dirs searched for kernelspecs: each holds kernels/<name>/kernel.json (like /usr/share/jupyter), not a kernelspec dir itself',
  }),
  maxKernels: int({
    env: 'RUNCELL_MAX_KERNELS',
    default: KM.maxKernels,
    min: 1,
    doc: 'live kernels at most (pool included)',
  }),
  poolSize: int({
    env: 'RUNCELL_POOL_SIZE',
    default: KM.pool.size,
    min: 0,
    doc: 'warm kernels per pooled spec at least; the pool grows from demand up to RUNCELL_POOL_MAX (0: no pool)',
  }),
  poolMax: int({
    env: 'RUNCELL_POOL_MAX',
    default: KM.pool.max,
    min: 0,
    doc:
      'warm kernels per pooled spec at most: the pool keeps the most requests seen within one kernel start ' +
      'time (over the last minute) times 1.5, between RUNCELL_POOL_SIZE and this (below the size: no growth)',
  }),
  poolParallelStarts: int({
    env: 'RUNCELL_POOL_PARALLEL_STARTS',
    default: KM.pool.parallel,
    min: 0,
    shown: '0 (two per core)',
    doc: 'kernel starts in progress at once, pool refills and requests together (0: two per core)',
  }),
  kernelPrelude: list({
    env: 'RUNCELL_KERNEL_PRELUDE',
    default: KM.prelude.python,
    shown: `${KM.prelude.python.join(',')} (empty: none)`,
    emptyIsNone: true,
    doc:
      'Python modules a pooled kernel imports (where installed) before it is handed out, silently; with ' +
      'matplotlib.pyplot it also draws one figure off-screen, and warm kernels rehearse a first plot while ' +
      "the machine is idle (a request stops a rehearsal in progress). A kernelspec's `metadata.runcell.prelude` " +
      '(a list of module names, [] for none) overrides it for that spec (docs/performance.md)',
    check: (v) =>
      v.every((m) => /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/.test(m))
        ? undefined
        : 'every entry must be a Python module name',
  }),
  poolSpecs: list({
    env: 'RUNCELL_POOL_SPECS',
    default: KM.pool.specs,
    shown: '(empty: the default kernel)',
    doc: 'specs kept warm',
  }),
  forkSpecs: list({
    env: 'RUNCELL_FORK_SPECS',
    default: KM.fork.specs === 'auto' ? ['auto'] : KM.fork.specs,
    shown: 'auto (empty: off)',
    emptyIsNone: true,
    doc:
      'specs whose kernels are forks of a preloaded zygote (fork-server, see docs/SECURITY.md "Fork-server"); ' +
      '`auto`: the default spec if the host passes the fork-server probe, else plain starts with a warning; ' +
      'a list: exactly these, and start-up fails if one cannot be forked',
    check: (v) =>
      v.includes('auto') && v.length > 1 ? "'auto' cannot be combined with spec names" : undefined,
  }),
  queueMax: int({
    env: 'RUNCELL_QUEUE_MAX',
    default: KM.pool.queueMax,
    min: 0,
    doc: 'kernel requests waiting at most',
  }),
  queueTimeoutMs: int({
    env: 'RUNCELL_QUEUE_TIMEOUT_MS',
    default: KM.pool.queueTimeoutMs,
    min: 1,
    doc: 'wait for a kernel at most',
  }),
  kernelStartupTimeoutMs: int({
    env: 'RUNCELL_KERNEL_STARTUP_TIMEOUT_MS',
    default: KM.limits.startupTimeoutMs,
    min: 100,
    doc: 'kernel start-up limit',
  }),
  kernelIdleTimeoutMs: int({
    env: 'RUNCELL_KERNEL_IDLE_TIMEOUT_MS',
    default: KM.limits.idleTimeoutMs,
    min: 0,
    doc: 'a kernel unused this long (no client message, no code running) is shut down; a cell says so and Run starts a new one (0: off)',
  }),
  kernelMaxLifetimeMs: int({
    env: 'RUNCELL_KERNEL_MAX_LIFETIME_MS',
    default: KM.limits.maxLifetimeMs,
    min: 0,
    doc: 'kernel lifetime (0: unlimited)',
  }),
  executionTimeoutMs: int({
    env: 'RUNCELL_EXECUTION_TIMEOUT_MS',
    default: KM.limits.executionWallMs,
    min: 0,
    doc: 'wall time per run (0: unlimited)',
  }),
  executionOutputBytes: int({
    env: 'RUNCELL_EXECUTION_OUTPUT_BYTES',
    default: KM.limits.executionOutputBytes,
    min: 0,
    doc: 'hard output cap per run (0: none)',
  }),
  kernelMessageBytes: int({
    env: 'RUNCELL_KERNEL_MESSAGE_BYTES',
    default: KM.limits.maxMessageBytes,
    min: KiB,
    doc: 'largest message',
  }),
  kernelIdPrefix: text({ env: 'RUNCELL_KERNEL_ID_PREFIX', default: KM.idPrefix, doc: 'kernel id prefix' }),
  sandbox: oneOf(['bwrap', 'none'], { env: 'RUNCELL_SANDBOX', default: KM.sandbox.mode, doc: 'sandbox' }),
  sandboxUidRange: uidRange({
    env: 'RUNCELL_SANDBOX_UID_RANGE',
    default: KM.sandbox.uidRange,
    doc: 'kernel uids, one per live kernel (dedicated to runcell)',
  }),
  sandboxRuntimeRoot: text({
    env: 'RUNCELL_SANDBOX_RUNTIME_ROOT',
    default: KM.sandbox.runtimeRoot,
    doc: "kernel runtime dirs (empty: kernel-manager's default)",
  }),
  sandboxMemoryBytes: int({
    env: 'RUNCELL_SANDBOX_MEMORY_BYTES',
    default: KM.sandbox.memoryBytes,
    min: 0,
    doc: "memory per kernel, where cgroups can be written (0: kernel-manager's default)",
  }),
  kernelNice: int({
    env: 'RUNCELL_KERNEL_NICE',
    default: KM.sandbox.nice,
    min: 0,
    max: 19,
    doc:
      'niceness of every kernel process: kernels yield the CPU to the server, so one busy kernel cannot ' +
      "slow down other users' round trips",
  }),
  gateways: gateways({
    env: 'RUNCELL_GATEWAYS',
    default: KM.gateways,
    shown: '`[]` (remote kernels off)',
    doc: 'remote kernel hosts: JSON list of `{"url", "token", "capacity", "specs"?}` (docs/scaling.md)',
  }),
  gatewayHealthIntervalMs: int({
    env: 'RUNCELL_GATEWAY_HEALTH_INTERVAL_MS',
    default: KM.gatewayHealthIntervalMs,
    min: 100,
    doc: 'time between health checks of each gateway; three failures in a row purge it from placement',
  }),
  gatewayReadmitMs: int({
    env: 'RUNCELL_GATEWAY_READMIT_MS',
    default: KM.gatewayReadmitMs,
    min: 0,
    doc: 'a purged gateway takes kernels again only after answering every health check for this long',
  }),
  placement: oneOf(['local', 'remote', 'remote-first'], {
    env: 'RUNCELL_PLACEMENT',
    default: KM.placement,
    doc: 'where kernels start: `local`, `remote` or `remote-first` (docs/scaling.md)',
  }),
  deadKernelTtlMs: int({
    env: 'RUNCELL_DEAD_KERNEL_TTL_MS',
    default: 5 * 60_000,
    min: 0,
    doc: 'dead model kept',
  }),

  // Bridge
  // Far below ws's 100 MiB default: a frame from a browser is code or a widget update.
  wsMaxPayloadBytes: int({
    env: 'RUNCELL_WS_MAX_PAYLOAD_BYTES',
    default: 4 * MiB,
    min: KiB,
    doc: 'largest frame',
  }),
  // Jupyter Server's kernel_ws_protocol: operators behind proxies that mangle binary frames pin legacy.
  kernelWsProtocol: oneOf(['any', 'legacy', 'v1'], {
    env: 'RUNCELL_KERNEL_WS_PROTOCOL',
    default: 'any',
    doc: 'kernel websocket framing: any (v1.kernel.websocket.jupyter.org when the client offers it, else legacy), legacy (always the legacy JSON framing), v1 (refuse clients that do not offer v1)',
  }),
  clientBufferBytes: int({
    env: 'RUNCELL_CLIENT_BUFFER_BYTES',
    default: 4 * MiB,
    min: KiB,
    doc: 'unsent per socket',
  }),
  replayMessages: int({ env: 'RUNCELL_REPLAY_MESSAGES', default: 2_000, min: 1, doc: 'replay log length' }),
  replayBytes: int({ env: 'RUNCELL_REPLAY_BYTES', default: 16 * MiB, min: KiB, doc: 'replay log size' }),
  sessionTtlMs: int({
    env: 'RUNCELL_SESSION_TTL_MS',
    default: 5 * 60_000,
    min: 0,
    doc: 'disconnected session kept',
  }),
  // Jupyter Server's defaults: 1000 msg/s and 1 MB/s averaged over 3 s.
  iopubMsgRate: int({
    env: 'RUNCELL_IOPUB_MSG_RATE',
    default: 1_000,
    min: 0,
    doc: 'output messages/s (0: off)',
  }),
  iopubDataRate: int({
    env: 'RUNCELL_IOPUB_DATA_RATE',
    default: 1_000_000,
    min: 0,
    doc: 'output bytes/s (0: off)',
  }),
  iopubRateWindowMs: int({
    env: 'RUNCELL_IOPUB_RATE_WINDOW_MS',
    default: 3_000,
    min: 10,
    doc: 'rate window',
  }),
  pollTimeoutMs: int({
    env: 'RUNCELL_POLL_TIMEOUT_MS',
    default: 25_000,
    min: 0,
    max: 120_000,
    doc: 'long-poll hold',
  }),
  pollMaxMessages: int({
    env: 'RUNCELL_POLL_MAX_MESSAGES',
    default: 1_000,
    min: 1,
    doc: 'messages per poll',
  }),
  bodyLimitBytes: int({
    env: 'RUNCELL_BODY_LIMIT_BYTES',
    default: 4 * MiB,
    min: KiB,
    doc: 'HTTP body size cap',
  }),

  // One-shot execute
  executeTimeoutMs: int({
    env: 'RUNCELL_EXECUTE_TIMEOUT_MS',
    default: 30_000,
    min: 100,
    doc: '/api/execute max',
  }),
  executeMaxOutputBytes: int({
    env: 'RUNCELL_EXECUTE_MAX_OUTPUT_BYTES',
    default: 4 * MiB,
    min: 16 * KiB,
    doc: '/api/execute answer cap',
  }),
  // One cap for code from every door (execute, websocket, long-poll, jobs): the jobs service's.
  maxCodeBytes: int({
    env: 'RUNCELL_MAX_CODE_BYTES',
    default: JOBS.maxCodeBytes,
    min: 1,
    doc: 'code size cap',
  }),

  // Per-visitor abuse limits: a page (all its cells) is one visitor, a client naming no page counts as
  // one per address. Under them, per-address ceilings (IPv6 counted per /64) sized for a classroom
  // behind one NAT address. Token holders are exempt from both.
  pageMaxKernels: int({ env: 'RUNCELL_PAGE_MAX_KERNELS', default: 30, min: 0, doc: 'live kernels per page' }),
  pageKernelCreatesPerMinute: int({
    env: 'RUNCELL_PAGE_KERNEL_CREATES_PER_MINUTE',
    default: 60,
    min: 0,
    doc: 'kernel starts per page',
  }),
  pageExecutionsPerMinute: int({
    env: 'RUNCELL_PAGE_EXECUTIONS_PER_MINUTE',
    default: 600,
    min: 0,
    doc: 'executions per page',
  }),
  pageGraceMs: int({
    env: 'RUNCELL_PAGE_GRACE_MS',
    default: 8_000,
    min: 0,
    doc: "a page's kernels are shut down this long after its last connection closed",
  }),
  ipKernelCreatesPerMinute: int({
    env: 'RUNCELL_IP_KERNEL_CREATES_PER_MINUTE',
    default: 600,
    min: 0,
    doc: 'kernel starts per IP (all its pages)',
  }),
  ipMaxKernels: int({
    env: 'RUNCELL_IP_MAX_KERNELS',
    default: 200,
    min: 0,
    doc: 'live kernels per IP (all its pages)',
  }),
  ipExecutionsPerMinute: int({
    env: 'RUNCELL_IP_EXECUTIONS_PER_MINUTE',
    default: 6_000,
    min: 0,
    doc: 'executions per IP (all its pages)',
  }),
  ipMaxPollers: int({ env: 'RUNCELL_IP_MAX_POLLERS', default: 200, min: 0, doc: 'concurrent polls per IP' }),
  ipMaxSockets: int({ env: 'RUNCELL_IP_MAX_SOCKETS', default: 1_000, min: 0, doc: 'websockets per IP' }),
  shutdownGraceMs: int({
    env: 'RUNCELL_SHUTDOWN_GRACE_MS',
    default: 10_000,
    min: 0,
    doc: 'graceful shutdown limit',
  }),

  // Store (Postgres or embedded PGlite)
  dbPoolMax: int({
    env: 'RUNCELL_DB_POOL_MAX',
    default: 10,
    min: 1,
    max: 1000,
    doc: 'database connections at most (PGlite always uses 1)',
  }),
  dbConnectTimeoutMs: int({
    env: 'RUNCELL_DB_CONNECT_TIMEOUT_MS',
    default: 5_000,
    min: 100,
    doc: 'database connect timeout',
  }),
  dbIdleTimeoutS: int({
    env: 'RUNCELL_DB_IDLE_TIMEOUT_S',
    default: store.idleTimeoutS,
    min: 0,
    doc: 'idle database connections closed after',
  }),
  dbStartupTimeoutMs: int({
    env: 'RUNCELL_DB_STARTUP_TIMEOUT_MS',
    default: store.startupTimeoutMs,
    min: 0,
    doc: 'how long start-up waits for the database',
  }),
  clientHashSalt: text({
    env: 'RUNCELL_CLIENT_HASH_SALT',
    default: '',
    shown: '(generated once, kept in the database)',
    doc: 'salt for client-address hashes',
  }),
  storeChunkBytes: int({
    env: 'RUNCELL_STORE_CHUNK_BYTES',
    default: store.chunkBytes,
    min: 4096,
    doc: 'chunk size of files and uploads in the database',
  }),
  recordsFlushMs: int({
    env: 'RUNCELL_RECORDS_FLUSH_MS',
    default: 250,
    min: 10,
    doc: 'execute records are written in batches this often',
  }),
  retentionRecordsDays: int({
    env: 'RUNCELL_RETENTION_RECORDS_DAYS',
    default: retention.recordsDays,
    min: 0,
    doc: 'anonymous execute records kept (0: forever)',
  }),
  retentionFilesDays: int({
    env: 'RUNCELL_RETENTION_FILES_DAYS',
    default: retention.filesDays,
    min: 0,
    doc: 'files no permalink references kept (0: forever)',
  }),
  retentionUploadsHours: int({
    env: 'RUNCELL_RETENTION_UPLOADS_HOURS',
    default: retention.uploadsHours,
    min: 0,
    doc: 'uploads kept',
  }),
  retentionIntervalMs: int({
    env: 'RUNCELL_RETENTION_INTERVAL_MS',
    default: retention.intervalMs,
    min: 0,
    doc: 'retention task period (0: off)',
  }),
  retentionStatsDays: int({
    env: 'RUNCELL_RETENTION_STATS_DAYS',
    default: retention.statsDays,
    min: 0,
    doc: 'stats samples (kernels and connections over time) kept (0: forever)',
  }),
  statsSampleMs: int({
    env: 'RUNCELL_STATS_SAMPLE_MS',
    default: 15_000,
    min: 0,
    doc:
      'how often each instance samples its kernel and connection gauges for the stats page ' +
      '(0: off; otherwise 100 or more)',
    check: (v) => (v > 0 && v < 100 ? '0 (off) or at least 100' : undefined),
  }),
  uploadMaxBytes: int({ env: 'RUNCELL_UPLOAD_MAX_BYTES', default: 100 * MiB, min: 1, doc: 'largest upload' }),
  uploadClientMaxBytes: int({
    env: 'RUNCELL_UPLOAD_CLIENT_MAX_BYTES',
    default: 1024 * MiB,
    min: 1,
    doc: 'upload bytes per client per window',
  }),
  uploadClientWindowMs: int({
    env: 'RUNCELL_UPLOAD_CLIENT_WINDOW_MS',
    default: 86_400_000,
    min: 1000,
    doc: 'upload quota window',
  }),
  contentOrigin: text({
    env: 'RUNCELL_CONTENT_ORIGIN',
    default: '',
    doc: 'separate origin for user content (HTML/SVG files); empty: such files are attachments',
    check: (v) =>
      v && !ORIGIN.test(v) ? `"${v}" is not an origin like https://usercontent.example.org` : undefined,
  }),
  permalinkMissLimit: int({
    env: 'RUNCELL_PERMALINK_MISS_LIMIT',
    default: 30,
    min: 1,
    doc: 'unknown-permalink lookups per client per window (then 429)',
  }),
  permalinkMissWindowMs: int({
    env: 'RUNCELL_PERMALINK_MISS_WINDOW_MS',
    default: 60_000,
    min: 1000,
    doc: 'permalink miss window',
  }),
  workFilesMax: int({
    env: 'RUNCELL_WORK_FILES_MAX',
    default: 20,
    min: 0,
    max: 1000,
    doc: 'files the code writes that are kept per execution (announced with links)',
  }),
  workFileMaxBytes: int({
    env: 'RUNCELL_WORK_FILE_MAX_BYTES',
    default: 16 * MiB,
    min: 0,
    doc: "largest file kept from a kernel's work dir, and largest upload placed in one",
  }),

  // Jobs: the jobs service's settings, with its defaults
  instanceId: text({
    env: 'RUNCELL_INSTANCE_ID',
    default: '',
    shown: '(host:port)',
    doc:
      'stable name of this instance among those sharing a database; jobs it left running are marked ' +
      'aborted at its next start',
  }),
  jobsConcurrency: int({
    env: 'RUNCELL_JOBS_CONCURRENCY',
    default: JOBS.concurrency,
    min: 1,
    doc: 'jobs running at once (this instance)',
  }),
  jobsConcurrencyPerOwner: int({
    env: 'RUNCELL_JOBS_CONCURRENCY_PER_OWNER',
    default: JOBS.perOwner,
    min: 1,
    doc: 'jobs running at once per owner',
  }),
  jobsMaxBatch: int({
    env: 'RUNCELL_JOBS_MAX_BATCH',
    default: JOBS.maxBatch,
    min: 1,
    doc: 'jobs in one submission',
  }),
  jobsMaxQueuedPerOwner: int({
    env: 'RUNCELL_JOBS_MAX_QUEUED_PER_OWNER',
    default: JOBS.maxQueuedPerOwner,
    min: 1,
    doc: 'queued jobs per owner',
  }),
  jobsDefaultTimeoutMs: int({
    env: 'RUNCELL_JOBS_DEFAULT_TIMEOUT_MS',
    default: JOBS.defaultTimeoutMs,
    min: 1000,
    doc: 'job timeout when none is given',
  }),
  jobsMaxTimeoutMs: int({
    env: 'RUNCELL_JOBS_MAX_TIMEOUT_MS',
    default: JOBS.maxTimeoutMs,
    min: 1000,
    doc: 'longest job timeout allowed',
  }),
  jobsMaxOutputBytes: int({
    env: 'RUNCELL_JOBS_MAX_OUTPUT_BYTES',
    default: JOBS.maxOutputBytes,
    min: 1024,
    doc: 'stored output per job',
  }),
  jobsMaxOutputFiles: int({
    env: 'RUNCELL_JOBS_MAX_OUTPUT_FILES',
    default: JOBS.maxOutputFiles,
    min: 0,
    doc: 'files kept per job',
  }),
  jobsMaxOutputFileBytes: int({
    env: 'RUNCELL_JOBS_MAX_OUTPUT_FILE_BYTES',
    default: JOBS.maxOutputFileBytes,
    min: 0,
    doc: 'largest file kept per job',
  }),
  jobsMaxInputBytes: int({
    env: 'RUNCELL_JOBS_MAX_INPUT_BYTES',
    default: JOBS.maxInputBytes,
    min: 0,
    doc:
      "input files (uploads and files from the jobs it needs) per job, in all; placed in the kernel's " +
      'work-dir tmpfs, which is host memory for as long as the job runs',
  }),
  jobsSweepMs: int({
    env: 'RUNCELL_JOBS_SWEEP_MS',
    default: JOBS.sweepMs,
    min: 100,
    doc: 'scheduler sweep period',
  }),
  jobsLeaseMs: int({
    env: 'RUNCELL_JOBS_LEASE_MS',
    default: JOBS.leaseMs,
    min: 1000,
    doc:
      "a running job's lease, renewed every third of it; a job whose lease lapsed is marked aborted by " +
      'any instance (docs/jobs.md)',
  }),
  jobsMaxPollWaitMs: int({
    env: 'RUNCELL_JOBS_MAX_POLL_WAIT_MS',
    default: JOBS.maxPollWaitMs,
    min: 0,
    doc: 'longest event long-poll hold',
  }),
  jobsShutdownGraceMs: int({
    env: 'RUNCELL_JOBS_SHUTDOWN_GRACE_MS',
    default: 5_000,
    min: 0,
    doc: 'running jobs get this long at shutdown, then end aborted',
  }),
};

export type ServerConfig = ConfigOf<typeof SETTINGS>;
