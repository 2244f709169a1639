// Metrics: the gauges read from the kernel manager, the hub hooks, store timing; and the instance header.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Fastify from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelManager } from '../../kernel-manager/index.js';
import { kernelManagerConfig, loadConfig, storeOptions } from '../../server/config.js';
import { INSTANCE_HEADER, instanceName, registerInstanceHeader } from '../../server/instance.js';
import { Metrics } from '../../server/metrics.js';
import { openStore, type Store } from '../../server/store/db.js';
import { SUITE_KERNELS } from '../suite-kernels.js';

const log = pino({ level: 'silent' });
let manager: KernelManager;
let store: Store;
let dataDir: string;

beforeAll(async () => {
  // No pool: nothing here needs a kernel process.
  const config = loadConfig(
    {},
    {
      ...SUITE_KERNELS,
      poolSize: 0,
      sandboxUidRange: [67_990, 67_999],
      sandboxRuntimeRoot: '/run/rc-metrics',
    },
  );
  manager = await KernelManager.create(kernelManagerConfig(config), log);
  dataDir = mkdtempSync(join(tmpdir(), 'runcell-metrics-'));
  store = await openStore(storeOptions({ ...config, dataDir, databaseUrl: '' }, log));
});

afterAll(async () => {
  await manager?.close();
  await store?.close();
  if (dataDir) rmSync(dataDir, { recursive: true, force: true });
});

describe('Metrics', () => {
  it('reports kernels by state and provider, the pool target, hub events and store calls', async () => {
    const m = new Metrics(manager, store);
    const hooks = m.hubHooks();
    hooks.onMessage('in');
    hooks.onExecuteReply(0.012, 'websocket');
    hooks.onHandOut(0.2, true);
    hooks.onDrop(2);
    m.bytes.inc({ direction: 'out', transport: 'longpoll' }, 1234);
    m.longpolls.inc();

    const p = await store.permalinks.create({ code: 'print(1)', kernel: 'python3' });
    expect(await store.permalinks.get(p.id)).not.toBeNull();
    expect(await store.permalinks.get('AAAAAAAAAAAAAAAA')).toBeNull();
    expect(await store.ping()).toBe(true);

    const text = await m.registry.metrics();
    expect(text).toMatch(/^runcell_kernels\{state="pooled",provider="local"\} 0$/m);
    expect(text).toMatch(/^runcell_kernels\{state="starting",provider="local"\} 0$/m);
    expect(text).toMatch(/^runcell_pool_target 0$/m);
    expect(text).toMatch(/^runcell_kernel_messages_total\{direction="in"\} 1$/m);
    expect(text).toMatch(/^runcell_execute_duration_seconds_count\{transport="websocket"\} 1$/m);
    expect(text).toMatch(/^runcell_kernel_handout_wait_seconds_count\{result="ok"\} 1$/m);
    expect(text).toMatch(/^runcell_iopub_dropped_total 2$/m);
    expect(text).toMatch(/^runcell_bridge_bytes_total\{direction="out",transport="longpoll"\} 1234$/m);
    expect(text).toMatch(/^runcell_longpolls 1$/m);
    expect(text).toMatch(/^runcell_store_duration_seconds_count\{op="permalinks.create",result="ok"\} 1$/m);
    expect(text).toMatch(/^runcell_store_duration_seconds_count\{op="permalinks.get",result="ok"\} 2$/m);
    expect(text).toMatch(/^runcell_store_duration_seconds_count\{op="ping",result="ok"\} 1$/m);
    // Node's event-loop lag comes with the default metrics.
    expect(text).toMatch(/^runcell_nodejs_eventloop_lag_p99_seconds /m);
  });

  it('counts failed store calls by code', async () => {
    const m = new Metrics(manager, store);
    await expect(
      store.uploads.write('nosuchupload0000000000', { body: (async function* () {})(), offset: 0 } as never),
    ).rejects.toThrow();
    const text = await m.registry.metrics();
    expect(text).toMatch(/^runcell_store_errors_total\{op="uploads.write",code="[A-Z_]+"\} 1$/m);
  });
});

describe('X-Runcell-Instance', () => {
  it('names the instance by its kernel id prefix', async () => {
    expect(instanceName('r1-')).toBe('r1');
    expect(instanceName('')).toBe('');
    const app = Fastify();
    registerInstanceHeader(app, 'r7-');
    app.get('/x', async () => ({ ok: true }));
    const ok = await app.inject({ url: '/x' });
    expect(ok.headers[INSTANCE_HEADER]).toBe('r7');
    const missing = await app.inject({ url: '/nothing' });
    expect(missing.statusCode).toBe(404);
    expect(missing.headers[INSTANCE_HEADER]).toBe('r7');
    await app.close();
  });

  it('adds nothing for a single unnamed instance', async () => {
    const app = Fastify();
    registerInstanceHeader(app, '');
    app.get('/x', async () => ({ ok: true }));
    expect((await app.inject({ url: '/x' })).headers[INSTANCE_HEADER]).toBeUndefined();
    await app.close();
  });
});
