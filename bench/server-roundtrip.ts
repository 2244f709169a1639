// Execute round trip of a trivial cell, in one run: kernel-manager directly, over the websocket, and
// over long-poll. Goals: websocket within 1.2x of kernel-manager at the median; long-poll within 2x of
// the websocket.   node --import tsx bench/server-roundtrip.ts [N]

import { newKernel, PollClient, startServer, WsClient, waitPool } from './lib/server.js';
import { figure, report, time } from './stats.js';

const N = Number(process.argv[2] ?? 200);
const s = await startServer({ poolSize: 3, maxKernels: 6, iopubMsgRate: 0, iopubDataRate: 0 });
await waitPool(s.manager, 3);

const direct = await s.manager.start();
const wsKernel = await newKernel(s.base);
const pollKernel = await newKernel(s.base);
const ws = await WsClient.open(s.wsBase, wsKernel);
const poll = new PollClient(s.base, pollKernel);
await poll.init();
const runDirect = async () => {
  for await (const _ of direct.execute('pass')) {
    // drain until execute_reply and idle
  }
};

// Warm up, then interleave the three so machine noise hits them alike.
for (let i = 0; i < 20; i++) {
  await runDirect();
  await ws.run('pass');
  await poll.run('pass');
}
const km: number[] = [];
const wsT: number[] = [];
const lp: number[] = [];
for (let i = 0; i < N; i++) {
  km.push(await time(runDirect));
  wsT.push(await time(() => ws.run('pass')));
  lp.push(await time(() => poll.run('pass')));
}
ws.close();
await direct.shutdown();
await s.stop();

const f = { kernel_manager: figure(km), websocket: figure(wsT), long_poll: figure(lp) };
const ratios = {
  websocket_vs_kernel_manager_p50: +(f.websocket.p50_ms / f.kernel_manager.p50_ms).toFixed(3),
  long_poll_vs_websocket_p50: +(f.long_poll.p50_ms / f.websocket.p50_ms).toFixed(3),
};
report(
  'server-roundtrip',
  { ...f, ratios, goals: { websocket_vs_kernel_manager_p50: 1.2, long_poll_vs_websocket_p50: 2 } },
  `execute p50 kernel-manager ${f.kernel_manager.p50_ms} ms, websocket ${f.websocket.p50_ms} ms (${ratios.websocket_vs_kernel_manager_p50}x), long-poll ${f.long_poll.p50_ms} ms (${ratios.long_poll_vs_websocket_p50}x of websocket); p99 ${f.kernel_manager.p99_ms}/${f.websocket.p99_ms}/${f.long_poll.p99_ms} ms`,
);
