// tus upload throughput (MB/s) into the database over real HTTP, on each backend, against a
// baseline route in the same app and run that only reads and discards the same bodies.
//   node --import tsx bench/store-uploads.ts      (BENCH_UPLOAD_MB, BENCH_PATCH_MB)
import { randomBytes } from 'node:crypto';
import type { AddressInfo } from 'node:net';
import { backends, buildApp } from '../test/server/store/helpers.js';
import { quantile, report } from './stats.js';

const MB = 1024 * 1024;
const TOTAL = Number(process.env.BENCH_UPLOAD_MB ?? 32) * MB;
const PATCH = Number(process.env.BENCH_PATCH_MB ?? 4) * MB;
const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const tus = { 'tus-resumable': '1.0.0' };
const data = randomBytes(TOTAL);

async function upload(base: string): Promise<number> {
  const t0 = performance.now();
  const c = await fetch(`${base}/api/uploads`, {
    method: 'POST',
    headers: { ...tus, 'upload-length': String(TOTAL) },
  });
  const url = `${base}${c.headers.get('location')}`;
  for (let offset = 0; offset < TOTAL; offset += PATCH) {
    const r = await fetch(url, {
      method: 'PATCH',
      headers: { ...tus, 'content-type': 'application/offset+octet-stream', 'upload-offset': String(offset) },
      body: data.subarray(offset, offset + PATCH),
    });
    if (r.status !== 204) throw new Error(`PATCH ${r.status} ${await r.text()}`);
  }
  return TOTAL / MB / ((performance.now() - t0) / 1000);
}

async function drain(base: string): Promise<number> {
  const t0 = performance.now();
  for (let offset = 0; offset < TOTAL; offset += PATCH) {
    const r = await fetch(`${base}/drain`, {
      method: 'PUT',
      headers: { 'content-type': 'application/octet-stream' },
      body: data.subarray(offset, offset + PATCH),
    });
    await r.arrayBuffer();
  }
  return TOTAL / MB / ((performance.now() - t0) / 1000);
}

const results: Record<string, unknown> = {};
const summary: string[] = [];
for (const backend of backends) {
  const db = await backend.create();
  const store = await db.open();
  const app = await buildApp(
    store,
    { limits: { maxFileBytes: TOTAL, clientMaxBytes: TOTAL * (ROUNDS + 2) } },
    (a) => {
      a.addContentTypeParser('application/octet-stream', (_req, _payload, done) => done(null));
      a.put('/drain', async (request) => {
        for await (const _ of request.raw) void _;
        return { ok: true };
      });
    },
  );
  await app.listen({ port: 0, host: '127.0.0.1' });
  const base = `http://127.0.0.1:${(app.server.address() as AddressInfo).port}`;
  await drain(base);
  const up: number[] = [];
  const baseline: number[] = [];
  for (let i = 0; i < ROUNDS; i++) {
    baseline.push(await drain(base));
    up.push(await upload(base));
  }
  const r = {
    upload_mb_s_p50: Math.round(quantile(up, 0.5) * 10) / 10,
    upload_mb_s_min: Math.round(Math.min(...up) * 10) / 10,
    drain_mb_s_p50: Math.round(quantile(baseline, 0.5) * 10) / 10,
    ratio: Math.round((quantile(up, 0.5) / quantile(baseline, 0.5)) * 100) / 100,
  };
  results[backend.name] = r;
  summary.push(
    `${backend.name}: upload ${r.upload_mb_s_p50} MB/s (min ${r.upload_mb_s_min}) vs drain ${r.drain_mb_s_p50} MB/s = ${r.ratio}x`,
  );
  await app.close();
  await store.close();
  await db.cleanup();
}
report(
  'store-uploads',
  { total_mb: TOTAL / MB, patch_mb: PATCH / MB, rounds: ROUNDS, ...results },
  summary.join('; '),
);
