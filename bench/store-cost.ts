// The cost of storing: the websocket execute round trip of a trivial cell on a server that records
// every execute_request in the database, against one that stores nothing, in the same run.
// Goal (issue 4): storing adds under 5% to the round trip.
//   node --import tsx bench/store-cost.ts [N] [postgres://…]   (default: embedded PGlite)
import { newKernel, startServer, WsClient, waitPool } from './lib/server.js';
import { figure, report, time } from './stats.js';

const N = Number(process.argv[2] ?? 300);
const url = process.argv[3];
const common = { poolSize: 1, maxKernels: 3, iopubMsgRate: 0, iopubDataRate: 0 };
const plain = await startServer({
  ...common,
  sandboxUidRange: [66_500, 66_599],
  sandboxRuntimeRoot: '/run/rc-bsa',
});
const stored = await startServer(
  { ...common, sandboxUidRange: [66_600, 66_699], sandboxRuntimeRoot: '/run/rc-bsb' },
  url ? { url } : 'pglite',
);
await Promise.all([waitPool(plain.manager, 1), waitPool(stored.manager, 1)]);
const a = await WsClient.open(plain.wsBase, await newKernel(plain.base));
const b = await WsClient.open(stored.wsBase, await newKernel(stored.base));
for (let i = 0; i < 30; i++) {
  await a.run('1+1');
  await b.run('1+1');
}
const off: number[] = [];
const on: number[] = [];
// Interleaved, so machine noise hits both alike.
for (let i = 0; i < N; i++) {
  off.push(await time(() => a.run('1+1')));
  on.push(await time(() => b.run('1+1')));
}
await stored.store?.records.flush();
const written = stored.store?.records.stats().written ?? 0;
a.close();
b.close();
await plain.stop();
await stored.stop();
const f = { storing_off: figure(off), storing_on: figure(on) };
const ratio = f.storing_on.p50_ms / f.storing_off.p50_ms;
report(
  'store-cost',
  {
    backend: url ? 'postgres' : 'pglite',
    ...f,
    ratio_p50: Math.round(ratio * 1000) / 1000,
    records_written: written,
  },
  `1+1 over the websocket: storing on p50 ${f.storing_on.p50_ms} ms (p99 ${f.storing_on.p99_ms}) vs off ${f.storing_off.p50_ms} ms (p99 ${f.storing_off.p99_ms}): ratio ${ratio.toFixed(3)} (${url ? 'Postgres' : 'PGlite'}; ${written} records written)`,
);
