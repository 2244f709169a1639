// Kernels on Jupyter Server / Kernel Gateway / Enterprise Gateway hosts: placement by free capacity,
// health checks, and a gateway purged from placement after three failures in a row (its kernels are
// lost), re-admitted only after it has answered every health check for `readmitMs`.
import { randomUUID } from 'node:crypto';
import type { Logger } from 'pino';
import { KernelManagerError } from '../errors.js';
import type { Kernel, Limits, StartOptions } from '../types.js';
import type { GatewayConfig, KernelProvider } from './provider.js';
import { RemoteKernel } from './remote-kernel.js';
import { call, isHostFailure } from './rest.js';

/** Failures in a row (calls or health checks) after which a gateway is skipped. */
export const DOWN_AFTER = 3;

export interface GatewayStatus {
  url: string;
  capacity: number;
  /** Live kernels runcell placed there. */
  kernels: number;
  up: boolean;
  failures: number;
  /** Purged and answering again: re-admitted when this has lasted `readmitMs` (ms so far). */
  healthyForMs?: number;
}

interface Gateway {
  config: GatewayConfig;
  kernels: Set<RemoteKernel>;
  failures: number;
  up: boolean;
  /** While purged: when it started answering health checks again (undefined: it does not). */
  healthySince: number | undefined;
}

export interface GatewayProviderOptions {
  gateways: GatewayConfig[];
  limits: Limits;
  healthIntervalMs: number;
  /** How long a purged gateway must keep answering health checks before kernels go there again. */
  readmitMs: number;
  idPrefix: string;
  /** Whether a gateway without a `specs` list is asked for this spec (the manager's own kernelspecs). */
  knownSpec(name: string): boolean;
  log: Logger;
}

export class GatewayProvider implements KernelProvider {
  readonly #gateways: Gateway[];
  readonly #o: GatewayProviderOptions;
  readonly #log: Logger;
  readonly #health: NodeJS.Timeout;
  #checking = false;
  #closed = false;

  constructor(o: GatewayProviderOptions) {
    this.#o = o;
    // Under the manager's own `component` binding: a second `component` key would repeat it in every line.
    this.#log = o.log.child({ provider: 'gateways' });
    this.#gateways = o.gateways.map((config) => ({
      config,
      kernels: new Set(),
      failures: 0,
      up: true,
      healthySince: undefined,
    }));
    this.#health = setInterval(() => void this.checkHealth(), o.healthIntervalMs);
    this.#health.unref();
  }

  status(): GatewayStatus[] {
    return this.#gateways.map((g) => ({
      url: g.config.url,
      capacity: g.config.capacity,
      kernels: g.kernels.size,
      up: g.up,
      failures: g.failures,
      ...(!g.up && g.healthySince !== undefined ? { healthyForMs: Date.now() - g.healthySince } : {}),
    }));
  }

  /** Whether any gateway can take kernels now. */
  available(): boolean {
    return !this.#closed && this.#gateways.some((g) => g.up);
  }

  /** One health check of every gateway (GET /api, which Jupyter Server, KG and EG all answer). */
  async checkHealth(): Promise<void> {
    if (this.#checking || this.#closed) return;
    this.#checking = true;
    try {
      await Promise.all(
        this.#gateways.map(async (g) => {
          try {
            await call(g.config, 'GET', 'api', undefined, Math.max(1_000, this.#o.healthIntervalMs));
            this.#record(g, true);
          } catch (e) {
            this.#record(g, !isHostFailure(e));
          }
        }),
      );
    } finally {
      this.#checking = false;
    }
  }

  #record(g: Gateway, ok: boolean): void {
    if (this.#closed) return;
    if (ok) {
      g.failures = 0;
      if (!g.up) {
        g.healthySince ??= Date.now();
        if (Date.now() - g.healthySince >= this.#o.readmitMs) {
          g.up = true;
          g.healthySince = undefined;
          this.#log.warn({ gateway: g.config.url }, 'gateway has answered health checks again: re-admitted');
        }
      }
      return;
    }
    g.failures++;
    g.healthySince = undefined;
    if (g.up && g.failures >= DOWN_AFTER) {
      g.up = false;
      this.#log.warn(
        { gateway: g.config.url, readmitMs: this.#o.readmitMs },
        `gateway failed ${DOWN_AFTER} times in a row: purged from placement`,
      );
      for (const k of g.kernels) k.lost("the kernel's gateway is down");
    }
  }

  /** Up gateways offering `spec` with room, most free capacity first. */
  #candidates(spec: string): Gateway[] {
    return this.#gateways
      .filter((g) => g.up && this.#offers(g, spec))
      .filter((g) => g.config.capacity - g.kernels.size > 0)
      .sort((a, b) => b.config.capacity - b.kernels.size - (a.config.capacity - a.kernels.size));
  }

  // Only names an operator listed (or that exist here) are sent on: an arbitrary name from a client
  // would make the gateway fail, and failures mark gateways down.
  #offers(g: Gateway, spec: string): boolean {
    return g.config.specs ? g.config.specs.includes(spec) : this.#o.knownSpec(spec);
  }

  async start(spec: string, opts: StartOptions): Promise<Kernel> {
    if (this.#closed) throw new KernelManagerError('CLOSED', 'the kernel manager is shutting down');
    if (!this.#gateways.some((g) => this.#offers(g, spec)))
      throw new KernelManagerError('NO_SUCH_SPEC', `no kernelspec named "${spec}"`);
    const tried = new Set<Gateway>();
    const errors: unknown[] = [];
    for (;;) {
      // Re-ranked after each failure: the failed start may have marked a gateway down.
      const g = this.#candidates(spec).find((c) => !tried.has(c));
      if (!g) break;
      tried.add(g);
      const k = new RemoteKernel(`${this.#o.idPrefix}${randomUUID()}`, spec, {
        gateway: g.config,
        limits: this.#o.limits,
        log: this.#log,
        onCall: (ok) => this.#record(g, ok),
      });
      // Counted before the start so concurrent starts spread out.
      g.kernels.add(k);
      k.once('dead', () => g.kernels.delete(k));
      try {
        await k.launch();
      } catch (e) {
        g.kernels.delete(k);
        errors.push(e);
        this.#log.warn(
          { err: e, gateway: g.config.url },
          'remote kernel start failed; trying the next gateway',
        );
        continue;
      }
      if (this.#closed) {
        await k.shutdown('the kernel manager is shutting down');
        throw new KernelManagerError('CLOSED', 'the kernel manager is shutting down');
      }
      k.assign(opts.owner);
      return k;
    }
    if (!this.available())
      throw new KernelManagerError('NO_HOST', 'no kernel host is available: every gateway is down', {
        ...(errors.length > 0 ? { cause: errors.length === 1 ? errors[0] : new AggregateError(errors) } : {}),
      });
    if (errors.length === 0) {
      throw new KernelManagerError('CAPACITY', `no gateway that is up has room for a "${spec}" kernel`);
    }
    throw new KernelManagerError('START_FAILED', `no gateway could start a "${spec}" kernel`, {
      cause: errors.length === 1 ? errors[0] : new AggregateError(errors),
    });
  }

  async close(): Promise<void> {
    if (this.#closed) return;
    this.#closed = true;
    clearInterval(this.#health);
    const all = this.#gateways.flatMap((g) => [...g.kernels]);
    await Promise.allSettled(all.map((k) => k.shutdown('the server is shutting down')));
  }
}
