// 50 concurrent websocket sessions executing, spread over K kernels (default 10: 5 sessions each).
// Reports per-execution latency and total throughput.
//   node --import tsx bench/server-concurrency.ts [SESSIONS] [KERNELS] [EXECUTIONS_PER_SESSION]

import { newKernel, startServer, WsClient, waitPool } from './lib/server.js';
import { figure, report, time } from './stats.js';

const SESSIONS = Number(process.argv[2] ?? 50);
const KERNELS = Number(process.argv[3] ?? 10);
const EACH = Number(process.argv[4] ?? 20);
const s = await startServer({
  poolSize: KERNELS,
  maxKernels: KERNELS + 2,
  iopubMsgRate: 0,
  iopubDataRate: 0,
});
await waitPool(s.manager, KERNELS);
const kernels: string[] = [];
for (let i = 0; i < KERNELS; i++) kernels.push(await newKernel(s.base));
const clients = await Promise.all(
  Array.from({ length: SESSIONS }, (_, i) => WsClient.open(s.wsBase, kernels[i % KERNELS] as string)),
);
const samples: number[] = [];
const t0 = performance.now();
await Promise.all(
  clients.map(async (c, i) => {
    for (let j = 0; j < EACH; j++) samples.push(await time(() => c.run(`x${i} = ${j}`)));
  }),
);
const wall = performance.now() - t0;
for (const c of clients) c.close();
await s.stop();
const f = figure(samples);
const throughput = +((samples.length / wall) * 1000).toFixed(1);
report(
  'server-concurrency',
  {
    sessions: SESSIONS,
    kernels: KERNELS,
    executions: samples.length,
    latency: f,
    executions_per_s: throughput,
  },
  `${SESSIONS} sessions on ${KERNELS} kernels: ${throughput} executions/s, latency p50 ${f.p50_ms} ms, p99 ${f.p99_ms} ms`,
);
