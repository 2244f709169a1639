// Environments from outside: the sandboxed cold start of an R kernel (IRkernel) beside a Python one
// (ipykernel), in the same server and run, alternating, each measured as a client sees it: POST
// /api/kernels, the websocket, a first execution's reply (R prints 1, Python prints 1). No warm pool
// and no fork-server, so every start is a full sandbox set-up. Then the environment summaries' sizes
// as GET /api/kernelspecs/:name serves them.   node --import tsx bench/environments.ts [N]
import { headers, startServer, WsClient } from './lib/server.js';
import { figure, report } from './stats.js';

const N = Number(process.argv[2] ?? 7);
const SPECS = ['python3', 'ir'] as const;
const s = await startServer({
  poolSize: 0,
  forkSpecs: [],
  maxKernels: 4,
  ipKernelCreatesPerMinute: 0,
  sandboxUidRange: [77_900, 77_999],
  sandboxRuntimeRoot: '/run/rc-envb',
});

async function coldStart(name: string): Promise<number> {
  const t0 = performance.now();
  const r = await fetch(`${s.base}/api/kernels`, { method: 'POST', headers, body: JSON.stringify({ name }) });
  const { id } = (await r.json()) as { id: string };
  const c = await WsClient.open(s.wsBase, id);
  await c.run(name === 'ir' ? 'cat(1)' : 'print(1)');
  const ms = performance.now() - t0;
  c.close();
  await fetch(`${s.base}/api/kernels/${id}`, { method: 'DELETE', headers });
  return ms;
}

const samples: Record<string, number[]> = { python3: [], ir: [] };
// One of each first, not counted: page cache and lazy imports.
for (const name of SPECS) await coldStart(name);
for (let i = 0; i < N; i++)
  for (const name of i % 2 ? [...SPECS].reverse() : SPECS) samples[name]?.push(await coldStart(name));

const sizes: Record<string, unknown> = {};
for (const name of SPECS) {
  const body = await (await fetch(`${s.base}/api/kernelspecs/${name}`, { headers })).text();
  const env = (JSON.parse(body) as { environment: { version: string; packages: unknown[] | null } })
    .environment;
  sizes[name] = {
    version: env.version,
    packages: env.packages?.length ?? null,
    environment_bytes: Buffer.byteLength(JSON.stringify(env)),
    response_bytes: Buffer.byteLength(body),
  };
}
const list = await (await fetch(`${s.base}/api/kernelspecs`, { headers })).text();
await s.stop();

const py = figure(samples.python3 ?? []);
const r = figure(samples.ir ?? []);
const ratio = Math.round((r.p50_ms / py.p50_ms) * 100) / 100;
report(
  'environments',
  {
    cold_start_to_first_output: { python3: py, ir: r, ratio_ir_over_python_p50: ratio },
    summaries: sizes,
    kernelspecs_list_bytes: Buffer.byteLength(list),
  },
  `sandboxed cold start to first output: Python p50 ${py.p50_ms} ms (p99 ${py.p99_ms}), R p50 ${r.p50_ms} ms (p99 ${r.p99_ms}), R/Python ${ratio}; ` +
    `summaries ${Object.entries(sizes)
      .map(
        ([k, v]) =>
          `${k} ${(v as { packages: number }).packages} packages ${(v as { environment_bytes: number }).environment_bytes} B`,
      )
      .join(', ')}; GET /api/kernelspecs ${Buffer.byteLength(list)} B`,
);
