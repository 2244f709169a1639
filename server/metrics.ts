// Prometheus metrics (prom-client), one registry per app so several apps can live in one process.
import { Counter, collectDefaultMetrics, Gauge, Histogram, Registry } from 'prom-client';
import type { KernelManager } from '../kernel-manager/index.js';

export class Metrics {
  readonly registry = new Registry();
  readonly http: Histogram<'method' | 'route' | 'status'>;
  readonly messages: Counter<'direction'>;
  readonly dropped: Counter;
  readonly lost: Counter;
  readonly sockets: Gauge;
  readonly refused: Counter<'reason'>;

  constructor(manager: KernelManager) {
    const registers = [this.registry];
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
    this.refused = new Counter({
      name: 'runcell_refused_total',
      help: 'Requests refused by auth, origin or abuse limits',
      labelNames: ['reason'],
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
  }
}
