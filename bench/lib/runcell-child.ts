// A runcell server in its own process, for benchmarks that compare it with another server: the load
// generator must not share its event loop or heap (event-loop lag and memory peaks are the server's
// own). Started by bench/lib/perf.ts with child_process.fork; configured by BENCH_RC_CONFIG (JSON,
// Partial<ServerConfig>, the environment is not read); answers requests over the IPC channel and stops
// (kernels included) on 'stop' or when its parent goes away.
import type { AddressInfo } from 'node:net';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { pino } from 'pino';
import { KernelManager, type LocalKernel } from '../../kernel-manager/index.js';
import { buildApp } from '../../server/app.js';
import { kernelManagerConfig, loadConfig, type ServerConfig } from '../../server/config.js';

const over = JSON.parse(process.env.BENCH_RC_CONFIG ?? '{}') as Partial<ServerConfig>;
const config = loadConfig({}, { port: 0, host: '127.0.0.1', logLevel: 'silent', ...over });
const logger = pino({ level: process.env.BENCH_RC_LOG ?? 'silent' });
const manager = await KernelManager.create(kernelManagerConfig(config), logger);
const server = await buildApp({ config, manager, logger });
await server.app.listen({ host: '127.0.0.1', port: 0 });
const { port } = server.app.server.address() as AddressInfo;

// 1 ms resolution: each sample is the timer's interval plus the lag, so 1 ms is subtracted.
const RESOLUTION_MS = 1;
let lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });

let stopping: Promise<void> | undefined;
function stop(): Promise<void> {
  stopping ??= (async () => {
    const force = setTimeout(() => process.exit(1), 30_000);
    force.unref();
    try {
      await server.close();
    } finally {
      await manager.close();
    }
  })();
  return stopping;
}

type Req = { id: number; cmd: string };
const handlers: Record<string, () => unknown> = {
  stats: () => manager.stats(),
  report: () => manager.sandboxReport,
  starts: () => manager.startTimings(),
  /** pid and uid of every handed-out kernel. */
  kernels: () =>
    manager.list().map((k) => ({ id: k.id, pid: (k as LocalKernel).pid, uid: (k as LocalKernel).uid })),
  lagStart: () => {
    lag.disable();
    lag = monitorEventLoopDelay({ resolution: RESOLUTION_MS });
    lag.enable();
    return true;
  },
  lagStop: () => {
    lag.disable();
    const ms = (ns: number) => Math.max(0, Math.round((ns / 1e6 - RESOLUTION_MS) * 1000) / 1000);
    return {
      samples: lag.count,
      p50_ms: ms(lag.percentile(50)),
      p99_ms: ms(lag.percentile(99)),
      max_ms: ms(lag.max),
    };
  },
  memory: () => process.memoryUsage(),
};

process.on('message', (m: Req) => {
  void (async () => {
    try {
      const value = m.cmd === 'stop' ? await stop() : await handlers[m.cmd]?.();
      process.send?.({ id: m.id, value });
      if (m.cmd === 'stop') process.disconnect();
    } catch (e) {
      process.send?.({ id: m.id, error: String(e) });
    }
  })();
});
process.on('disconnect', () => {
  void stop().finally(() => process.exit(0));
});
process.send?.({ ready: true, port, pid: process.pid });
