// Jobs figures, in one run on real kernels and a fresh Postgres database:
//  1. throughput: a batch of 500 trivial jobs (one fresh kernel each) submitted at once, jobs/s
//     from the 202 to the last final event;
//  2. overhead per job against one-shot POST /api/execute: interleaved sequential samples, each
//     on a warm pool, job latency (POST /api/jobs until its final event reaches a long-poll)
//     minus execute latency; plus the scheduler's own share measured inside each job (launch to
//     final, less kernel hand-out and execution). Goal: scheduler overhead under 10 ms per job.
//   node --import tsx bench/jobs.ts        (BENCH_JOBS=500 BENCH_SAMPLES=40)
import { startStack, TOKENS } from '../test/server/jobs/helpers.js';
import { figure, report } from './stats.js';

const JOBS = Number(process.env.BENCH_JOBS ?? 500);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 40);
const CONCURRENCY = Number(process.env.BENCH_CONCURRENCY ?? 4);

const s = await startStack(39, {
  http: true,
  poolSize: CONCURRENCY,
  maxKernels: CONCURRENCY * 2,
  limits: { concurrency: CONCURRENCY, perOwner: CONCURRENCY, maxBatch: 10_000 },
});
const headers = { authorization: `token ${TOKENS[0]}`, 'content-type': 'application/json' };
// biome-ignore lint/suspicious/noExplicitAny: JSON answers
const post = async (path: string, body: unknown): Promise<any> =>
  (await fetch(s.base + path, { method: 'POST', headers, body: JSON.stringify(body) })).json();
// biome-ignore lint/suspicious/noExplicitAny: JSON answers
const get = async (path: string): Promise<any> => (await fetch(s.base + path, { headers })).json();
const FINAL = new Set(['succeeded', 'failed', 'timed_out', 'cancelled', 'aborted']);

/** Long-polls from `after` until every id has a final event; returns when the last one arrived. */
async function untilFinal(ids: Set<string>, after: number): Promise<number> {
  const left = new Set(ids);
  let cursor = after;
  while (left.size > 0) {
    const r = await get(`/api/jobs/events?after=${cursor}&timeout=20&limit=1000`);
    cursor = r.cursor;
    for (const e of r.events) if (FINAL.has(e.state)) left.delete(e.job_id);
  }
  return performance.now();
}

/** A quiet machine between samples: the pool full, nothing starting or shutting down. */
async function warm(): Promise<void> {
  for (;;) {
    const st = s.manager.stats();
    if (st.pooled >= CONCURRENCY && st.starting === 0 && !st.refillPending && st.live === st.pooled) return;
    await new Promise((r) => setTimeout(r, 20));
  }
}

// biome-ignore lint/suspicious/noExplicitAny: JSON answers
function ownShare(d: any): number {
  const span = Date.parse(d.finished_at) - Date.parse(d.launched_at);
  const t = d.result.timings;
  return span - t.kernel_ms - t.execute_ms - t.files_in_ms - t.files_out_ms;
}

try {
  // 1. Throughput.
  await warm();
  const t0 = performance.now();
  const batch = await post('/api/jobs', { jobs: Array.from({ length: JOBS }, (_, i) => ({ code: `${i}` })) });
  const tAccepted = performance.now();
  const tEnd = await untilFinal(new Set(batch.jobs.map((j: { id: string }) => j.id)), batch.cursor);
  const seconds = (tEnd - t0) / 1000;
  const page = await get(`/api/jobs?batch=${batch.batch_id}&limit=500&state=succeeded`);
  let succeeded = page.jobs.length;
  for (let next = page.next; next; ) {
    const p = await get(`/api/jobs?batch=${batch.batch_id}&limit=500&state=succeeded&cursor=${next}`);
    succeeded += p.jobs.length;
    next = p.next;
  }
  // The scheduler's own share per job under full load, from what each job recorded.
  const ownLoaded: number[] = [];
  for (const j of batch.jobs.slice(0, 100)) ownLoaded.push(ownShare(await get(`/api/jobs/${j.id}`)));
  const own: number[] = [];
  const collect: number[] = [];

  // 2. Overhead against one-shot execute, interleaved.
  const exec: number[] = [];
  const job: number[] = [];
  const diff: number[] = [];
  for (let i = 0; i < SAMPLES; i++) {
    await warm();
    let t = performance.now();
    await post('/api/execute', { code: '1' });
    const e = performance.now() - t;
    await warm();
    t = performance.now();
    const r = await post('/api/jobs', { code: '1' });
    const end = await untilFinal(new Set([r.jobs[0].id]), r.cursor);
    const jl = end - t;
    if (i >= 3) {
      exec.push(e);
      job.push(jl);
      diff.push(jl - e);
      const d = await get(`/api/jobs/${r.jobs[0].id}`);
      own.push(ownShare(d));
      collect.push(d.result.timings.files_out_ms);
    }
  }
  const fe = figure(exec);
  const fj = figure(job);
  const fd = figure(diff);
  const fo = figure(own);
  const fc = figure(collect);
  report(
    'jobs',
    {
      batch: {
        jobs: JOBS,
        succeeded,
        concurrency: CONCURRENCY,
        seconds,
        jobs_per_s: JOBS / seconds,
        accept_ms: tAccepted - t0,
      },
      execute_latency: fe,
      job_latency: fj,
      overhead_vs_execute: fd,
      scheduler_own: fo,
      scheduler_own_under_batch_load: figure(ownLoaded),
      file_collection: fc,
      ratio_p50: fj.p50_ms / fe.p50_ms,
    },
    `${(JOBS / seconds).toFixed(1)} jobs/s (${succeeded}/${JOBS} ok, ${CONCURRENCY} at once); ` +
      `job p50 ${fj.p50_ms.toFixed(1)} ms p99 ${fj.p99_ms.toFixed(1)} ms vs execute p50 ${fe.p50_ms.toFixed(1)} ms ` +
      `p99 ${fe.p99_ms.toFixed(1)} ms (ratio ${(fj.p50_ms / fe.p50_ms).toFixed(2)}); overhead p50 ${fd.p50_ms.toFixed(1)} ms ` +
      `p99 ${fd.p99_ms.toFixed(1)} ms; scheduler's own p50 ${fo.p50_ms.toFixed(1)} ms p99 ${fo.p99_ms.toFixed(1)} ms ` +
      `(+ file collection p50 ${fc.p50_ms.toFixed(1)} ms)`,
  );
} finally {
  await s.stop();
}
