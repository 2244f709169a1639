// Permalink reads per second over real HTTP, against a static route in the same app and run, on
// each backend (PGlite always; Postgres when 127.0.0.1:5432 answers). Also the recorder's cost on
// the hot path: begin()+finish() per execute, against an empty function call.
//   node --import tsx bench/store-permalinks.ts
import type { AddressInfo } from 'node:net';
import { backends, buildApp } from '../test/server/store/helpers.js';
import { figure, quantile, report } from './stats.js';

const REQUESTS = Number(process.env.BENCH_REQUESTS ?? 4000);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 32);

/** A bounded loop of concurrent fetches: CONCURRENCY workers share REQUESTS requests. */
async function load(url: string): Promise<{ rps: number; latencies: number[] }> {
  const latencies: number[] = [];
  let next = 0;
  const t0 = performance.now();
  await Promise.all(
    Array.from({ length: CONCURRENCY }, async () => {
      while (next++ < REQUESTS) {
        const t = performance.now();
        const r = await fetch(url);
        await r.arrayBuffer();
        if (r.status !== 200) throw new Error(`${url}: ${r.status}`);
        latencies.push(performance.now() - t);
      }
    }),
  );
  return { rps: Math.round(REQUESTS / ((performance.now() - t0) / 1000)), latencies };
}

const results: Record<string, unknown> = {};
const summary: string[] = [];
for (const backend of backends) {
  const db = await backend.create();
  const store = await db.open({ poolMax: 10 });
  const app = await buildApp(store);
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  const p = await store.permalinks.create({ code: 'print("hello")\n'.repeat(20), kernel: 'python3' });
  await load(`${base}/static`); // warm-up
  await load(`${base}/api/permalinks/${p.id}`);
  const stat = await load(`${base}/static`);
  const perma = await load(`${base}/api/permalinks/${p.id}`);
  const page = await load(`${base}/p/${p.id}`);
  results[backend.name] = {
    static: { rps: stat.rps, ...figure(stat.latencies) },
    permalink_json: { rps: perma.rps, ...figure(perma.latencies) },
    permalink_page: { rps: page.rps, ...figure(page.latencies) },
    ratio_rps_vs_static: Math.round((perma.rps / stat.rps) * 100) / 100,
  };
  summary.push(
    `${backend.name}: permalink ${perma.rps} req/s (p50 ${quantile(perma.latencies, 0.5).toFixed(2)} ms, p99 ${quantile(perma.latencies, 0.99).toFixed(2)} ms) vs static ${stat.rps} req/s = ${(perma.rps / stat.rps).toFixed(2)}x`,
  );
  await app.close();
  await store.close();
  await db.cleanup();
}

// The recorder on the hot path: begin + finish, against a no-op, per call (µs).
{
  const db = await backends[backends.length - 1]?.create();
  if (db) {
    const store = await db.open({ records: { flushIntervalMs: 50 } });
    const message = { header: { msg_id: 'b', msg_type: 'execute_request' }, content: { code: '1+1' } };
    const outputs = [{ msg_type: 'execute_result', content: { data: { 'text/plain': '2' } } }];
    const N = 20_000;
    const noop = (x: unknown) => x;
    const samples: number[] = [];
    const base: number[] = [];
    for (let round = 0; round < 20; round++) {
      let t = performance.now();
      for (let i = 0; i < N / 20; i++) noop(message);
      base.push(((performance.now() - t) * 1000) / (N / 20));
      t = performance.now();
      for (let i = 0; i < N / 20; i++) {
        const id = store.records.begin({
          message,
          kernelSpec: 'python3',
          transport: 'websocket',
          clientAddress: '192.0.2.1',
        });
        store.records.finish(id, { status: 'ok', outputs });
      }
      samples.push(((performance.now() - t) * 1000) / (N / 20));
      await new Promise((r) => setTimeout(r, 10));
    }
    const t = performance.now();
    await store.close();
    const closeMs = performance.now() - t;
    const rec = {
      per_call_us_p50: quantile(samples, 0.5),
      per_call_us_p99: quantile(samples, 0.99),
      noop_us_p50: quantile(base, 0.5),
      written: store.records.stats().written,
      close_flush_ms: Math.round(closeMs),
    };
    results.recorder = rec;
    summary.push(
      `recorder begin+finish ${rec.per_call_us_p50.toFixed(2)} µs/execute (p99 ${rec.per_call_us_p99.toFixed(2)}) vs no-op ${rec.noop_us_p50.toFixed(3)} µs; ${rec.written} rows written`,
    );
    await db.cleanup();
  }
}

report('store-permalinks', { requests: REQUESTS, concurrency: CONCURRENCY, ...results }, summary.join('; '));
