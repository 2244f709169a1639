// Time from POST /api/kernels to the first kernel_info_reply over the kernel's websocket, with the
// warm pool full. Goal: under 50 ms.   node --import tsx bench/server-kernel-start.ts [N]

import { newKernel, startServer, WsClient, waitPool } from './lib/server.js';
import { figure, report } from './stats.js';

const N = Number(process.argv[2] ?? 20);
const POOL = 3;
const s = await startServer({ poolSize: POOL, maxKernels: POOL + 2, ipKernelCreatesPerMinute: 0 });
const samples: number[] = [];
for (let i = 0; i < N; i++) {
  await waitPool(s.manager, POOL);
  const t0 = performance.now();
  const id = await newKernel(s.base);
  const c = await WsClient.open(s.wsBase, id);
  await c.info();
  samples.push(performance.now() - t0);
  c.close();
  await fetch(`${s.base}/api/kernels/${id}`, {
    method: 'DELETE',
    headers: { authorization: 'token bench-token-0123456789abcdef' },
  });
}
await s.stop();
const f = figure(samples);
report(
  'server-kernel-start',
  { post_to_kernel_info_reply: f, goal_ms: 50 },
  `POST /api/kernels to first kernel_info_reply: p50 ${f.p50_ms} ms, p99 ${f.p99_ms} ms (goal < 50 ms, pool of ${POOL})`,
);
