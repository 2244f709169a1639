// Prometheus metrics (prom-client), one registry per app so several apps can live in one process.
// Gauges that describe state (kernels, pool) are read from the kernel manager when scraped; events
// (messages, bytes, execute latency, hand-out wait, store calls) are counted by hooks:
//   - hubHooks(): the callbacks the kernel registry passes to every hub (app.ts spreads them in);
//   - the transports (bridge/websocket.ts, bridge/longpoll.ts) count connections and bytes directly;
//   - a store given to the constructor has its calls timed (store latency and errors).
// Rates (messages and bytes per second) are PromQL's job: rate(runcell_kernel_messages_total[1m]).
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { KernelManager } from '../kernel-manager/index.js';
import type { Jobs } from './jobs/index.js';
import type { Store } from './store/db.js';

export type Direction = 'in' | 'out';
export type BridgeTransport = 'websocket' | 'longpoll';

/** Callbacks a hub (and the registry that makes hubs) reports through. */
export interface HubHooks {
  onDrop(n: number): void;
  onMessage(direction: Direction): void;
  /** execute_request sent to the kernel -> its execute_reply received, in seconds. */
  onExecuteReply(seconds: number, transport: string): void;
  /** How long a client waited for a kernel (pool hand-out, cold start or queue), in seconds. */
  onHandOut(seconds: number, ok: boolean): void;
}

/** Latency buckets for things a person waits on (seconds). */
const HUMAN = [0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];
/** Jobs: seconds to an hour. */
const JOB = [0.1, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 900, 3600];
/** Store calls: mostly milliseconds. */
const STORE = [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 1, 5];

/** Store subsystems whose calls are timed, by the name used as the `op` label prefix. */
const STORE_PARTS = ['permalinks', 'files', 'uploads'] as const;

export class Metrics {
  readonly registry = new Registry();
  readonly http: Histogram<'method' | 'route' | 'status'>;
  readonly messages: Counter<'direction'>;
  readonly bytes: Counter<'direction' | 'transport'>;
  readonly dropped: Counter;
  readonly lost: Counter;
  readonly sockets: Gauge;
  readonly longpolls: Gauge;
  readonly jobStreams: Gauge;
  readonly refused: Counter<'reason'>;
  readonly execute: Histogram<'transport'>;
  readonly handOut: Histogram<'result'>;
  readonly store: Histogram<'op' | 'result'>;
  readonly storeErrors: Counter<'op' | 'code'>;
  readonly oneshot: Counter<'status'>;
  readonly oneshotDuration: Histogram<'status'>;

  constructor(manager: KernelManager, store?: Store) {
    const registers = [this.registry];
    // Node's process metrics, including event-loop lag (runcell_nodejs_eventloop_lag_*).
    collectDefaultMetrics({ register: this.registry, prefix: 'runcell_' });
    this.http = new Histogram({
      name: 'runcell_http_request_duration_seconds',
      help: 'HTTP requests by route and status',
      labelNames: ['method', 'route', 'status'],
      buckets: [0.001, 0.005, 0.02, 0.1, 0.5, 2, 10, 30],
      registers,
    });
    this.messages = new Counter({
      name: 'runcell_kernel_messages_total',
      help: 'Messages bridged: in = client to kernel, out = kernel (or server) to clients',
      labelNames: ['direction'],
      registers,
    });
    this.bytes = new Counter({
      name: 'runcell_bridge_bytes_total',
      help: 'Bytes on client connections: in = frames and POST bodies from clients, out = frames and poll bodies sent',
      labelNames: ['direction', 'transport'],
      registers,
    });
    this.dropped = new Counter({
      name: 'runcell_iopub_dropped_total',
      help: 'Output messages dropped by the iopub rate limits',
      registers,
    });
    this.lost = new Counter({
      name: 'runcell_replay_lost_total',
      help: 'Messages a reconnecting client could not get back (fell out of the replay log)',
      registers,
    });
    this.sockets = new Gauge({ name: 'runcell_websockets', help: 'Open kernel websockets', registers });
    this.longpolls = new Gauge({
      name: 'runcell_longpolls',
      help: 'Long-poll GETs being held open',
      registers,
    });
    this.jobStreams = new Gauge({
      name: 'runcell_job_event_streams',
      help: 'Open server-sent event streams of the jobs API',
      registers,
    });
    this.refused = new Counter({
      name: 'runcell_refused_total',
      help: 'Requests refused by auth, origin or abuse limits',
      labelNames: ['reason'],
      registers,
    });
    this.execute = new Histogram({
      name: 'runcell_execute_duration_seconds',
      help: 'Bridge: execute_request sent to the kernel until its execute_reply arrived',
      labelNames: ['transport'],
      buckets: HUMAN,
      registers,
    });
    this.handOut = new Histogram({
      name: 'runcell_kernel_handout_wait_seconds',
      help: 'Time a client waited for a kernel (warm pool, cold start or queue)',
      labelNames: ['result'],
      buckets: HUMAN,
      registers,
    });
    this.store = new Histogram({
      name: 'runcell_store_duration_seconds',
      help: 'Store calls (permalinks, files, uploads, ping) by operation and result',
      labelNames: ['op', 'result'],
      buckets: STORE,
      registers,
    });
    this.storeErrors = new Counter({
      name: 'runcell_store_errors_total',
      help: 'Store calls that failed, by operation and error code',
      labelNames: ['op', 'code'],
      registers,
    });

    this.oneshot = new Counter({
      name: 'runcell_oneshot_executions_total',
      help: 'One-shot executions (POST /api/execute) by result status (ok, error, aborted, timeout)',
      labelNames: ['status'],
      registers,
    });
    this.oneshotDuration = new Histogram({
      name: 'runcell_oneshot_duration_seconds',
      help: 'One-shot executions: kernel hand-out, the code and its output, by result status',
      labelNames: ['status'],
      buckets: HUMAN,
      registers,
    });

    const stats = (k: 'live' | 'pooled' | 'queued') =>
      new Gauge({
        name: `runcell_kernels_${k}`,
        help: `Kernels: ${k}`,
        registers,
        collect() {
          this.set(manager.stats()[k]);
        },
      });
    stats('live');
    stats('pooled');
    stats('queued');
    new Gauge({
      name: 'runcell_pool_target',
      help: "Warm kernels the default kernelspec's pool aims for now, sized from demand (RUNCELL_POOL_SIZE to RUNCELL_POOL_MAX)",
      registers,
      collect() {
        this.set(manager.stats().poolTarget);
      },
    });
    new Gauge({
      name: 'runcell_kernels_max',
      help: 'Live kernels at most (RUNCELL_MAX_KERNELS)',
      registers,
      collect() {
        this.set(manager.stats().maxKernels);
      },
    });
    new Gauge({
      name: 'runcell_kernels',
      help: 'Kernels by state (starting, pooled, or the execution state of handed-out ones) and provider',
      labelNames: ['state', 'provider'],
      registers,
      collect() {
        this.reset();
        const s = manager.stats();
        this.set({ state: 'starting', provider: 'local' }, s.starting);
        this.set({ state: 'pooled', provider: 'local' }, s.pooled);
        for (const k of manager.list()) {
          const provider = (k as { provider?: unknown }).provider;
          this.inc({ state: k.state, provider: typeof provider === 'string' ? provider : 'local' });
        }
      },
    });
    // Operator-only (/metrics needs a configured token): the gateway's URL is the label.
    new Gauge({
      name: 'runcell_gateway_up',
      help: 'Gateways: 1 when kernels are placed there, 0 while purged (three failures in a row)',
      labelNames: ['gateway'],
      registers,
      collect() {
        for (const g of manager.gateways()) this.set({ gateway: g.url }, g.up ? 1 : 0);
      },
    });
    new Gauge({
      name: 'runcell_gateway_failures',
      help: 'Gateways: failed calls or health checks in a row (0 once it answers)',
      labelNames: ['gateway'],
      registers,
      collect() {
        for (const g of manager.gateways()) this.set({ gateway: g.url }, g.failures);
      },
    });
    if (store) this.#instrumentStore(store);
  }

  /** The jobs service's figures: jobs by state (from the database), and what this instance's jobs did. */
  watchJobs(jobs: Jobs): void {
    const registers = [this.registry];
    new Gauge({
      name: 'runcell_jobs',
      help: 'Jobs not yet final, by state (all instances: they share the database)',
      labelNames: ['state'],
      registers,
      async collect() {
        const counts = await jobs.activeCounts().catch(() => undefined);
        if (!counts) return;
        for (const state of ['waiting', 'queued', 'launched', 'running'])
          this.set({ state }, counts[state] ?? 0);
      },
    });
    const finished = new Counter({
      name: 'runcell_jobs_finished_total',
      help: 'Jobs this instance ran to a final state, by that state',
      labelNames: ['state'],
      registers,
    });
    const duration = new Histogram({
      name: 'runcell_job_duration_seconds',
      help: 'Jobs this instance ran: running until final, by final state',
      labelNames: ['state'],
      buckets: JOB,
      registers,
    });
    const wait = new Histogram({
      name: 'runcell_job_queue_wait_seconds',
      help: 'Jobs this instance ran: submitted until claimed',
      buckets: JOB,
      registers,
    });
    const inBytes = new Counter({
      name: 'runcell_job_input_bytes_total',
      help: "Input bytes placed in jobs' working directories",
      registers,
    });
    const inSeconds = new Counter({
      name: 'runcell_job_input_seconds_total',
      help: "Seconds spent placing input files in jobs' working directories",
      registers,
    });
    jobs.observe({
      onFinished(state, runningS, queuedS) {
        finished.inc({ state });
        if (runningS !== null) duration.observe({ state }, runningS);
        if (queuedS !== null) wait.observe(queuedS);
      },
      onPlaced(bytes, seconds) {
        inBytes.inc(bytes);
        inSeconds.inc(seconds);
      },
    });
  }

  /** The callbacks for KernelRegistry/Hub deps: `new KernelRegistry(manager, { ..., ...metrics.hubHooks() })`. */
  hubHooks(): HubHooks {
    return {
      onDrop: (n) => this.dropped.inc(n),
      onMessage: (direction) => this.messages.inc({ direction }),
      onExecuteReply: (seconds, transport) => this.execute.observe({ transport }, seconds),
      onHandOut: (seconds, ok) => this.handOut.observe({ result: ok ? 'ok' : 'error' }, seconds),
    };
  }

  /** Times every promise-returning call of the store's subsystems (in place: the store is shared). */
  #instrumentStore(store: Store): void {
    const time = <A extends unknown[], R>(op: string, fn: (...a: A) => R) =>
      ((...args: A): R => {
        const t0 = performance.now();
        const r = fn(...args);
        if (!(r instanceof Promise)) return r;
        return r.then(
          (v: unknown) => {
            // ping() answers false instead of throwing.
            const result = v === false && op === 'ping' ? 'error' : 'ok';
            this.store.observe({ op, result }, (performance.now() - t0) / 1000);
            return v;
          },
          (e: unknown) => {
            this.store.observe({ op, result: 'error' }, (performance.now() - t0) / 1000);
            const code = (e as { code?: unknown })?.code;
            this.storeErrors.inc({ op, code: typeof code === 'string' ? code.slice(0, 64) : 'unknown' });
            throw e;
          },
        ) as R;
      }) as (...a: A) => R;
    for (const part of STORE_PARTS) {
      const obj = store[part] as unknown as Record<string, unknown>;
      for (const name of ['create', 'get', 'put', 'write', 'remove', 'read']) {
        const fn = obj[name];
        if (typeof fn === 'function') obj[name] = time(`${part}.${name}`, fn as (...a: unknown[]) => unknown);
      }
    }
    const ping = store.ping;
    (store as { ping: Store['ping'] }).ping = time('ping', ping);
  }
}
