// The scheduler on real kernels and real Postgres: a batch of 50 in parallel, consistent state
// histories, the concurrency bounds, cancel (queued and running) and timeout.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { FINAL_STATES } from '../../../server/jobs/schemas.js';
import { type Stack, startStack, waitFinal } from './helpers.js';

const ORDER = ['queued', 'launched', 'running'];

describe('scheduler (postgres)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack(30, {
      backend: 'postgres',
      poolSize: 2,
      maxKernels: 6,
      limits: { concurrency: 3, perOwner: 2 },
    });
  });
  afterAll(() => s?.stop());

  test('50 jobs in parallel all succeed, each with queued, launched, running, succeeded in order', async () => {
    const r = await s.jobs.submit('owner-a', {
      jobs: Array.from({ length: 50 }, (_, i) => ({
        code: `print(${i} * 2)`,
        name: `j${i}`,
        tags: ['fifty'],
      })),
    });
    expect(r.jobs).toHaveLength(50);
    expect(r.jobs.every((j) => j.state === 'queued')).toBe(true);
    await waitFinal(
      s.jobs,
      'owner-a',
      r.jobs.map((j) => j.id),
      // A bound against hangs only: 50 cold sandboxed starts take 30-60 s on 2 idle cores and several
      // times that under load (bench/jobs.ts has the throughput figure).
      240_000,
    );
    let maxRunning = 0;
    const spans: [number, number][] = [];
    for (const [i, j] of r.jobs.entries()) {
      const d = await s.jobs.get('owner-a', j.id);
      expect(d.state, d.reason ?? '').toBe('succeeded');
      expect(d.result?.stdout).toBe(`${i * 2}\n`);
      expect(d.history.map((h) => h.state)).toEqual([...ORDER, 'succeeded']);
      const seqs = d.history.map((h) => h.seq);
      expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
      const times = d.history.map((h) => Date.parse(h.at));
      expect([...times].sort((a, b) => a - b)).toEqual(times);
      expect(Date.parse(d.launched_at ?? '')).toBe(times[1]);
      expect(Date.parse(d.finished_at ?? '')).toBe(times[3]);
      spans.push([times[1] as number, times[3] as number]);
    }
    // Never more than `perOwner` launched-but-not-finished at any instant.
    for (const [start] of spans) {
      maxRunning = Math.max(maxRunning, spans.filter(([a, b]) => a <= start && start < b).length);
    }
    expect(maxRunning).toBeLessThanOrEqual(2);
    const page = await s.jobs.list('owner-a', { tag: 'fifty', state: 'succeeded', limit: 500 });
    expect(page.jobs).toHaveLength(50);
  }, 300_000);

  test('the per-owner bound holds, and a second owner is served before the first batch ends', async () => {
    const x = await s.jobs.submit('owner-x', {
      jobs: Array.from({ length: 6 }, () => ({ code: 'import time; time.sleep(0.3)' })),
    });
    const y = await s.jobs.submit('owner-y', { jobs: [{ code: '1' }, { code: '2' }] });
    await waitFinal(
      s.jobs,
      'owner-x',
      x.jobs.map((j) => j.id),
    );
    await waitFinal(
      s.jobs,
      'owner-y',
      y.jobs.map((j) => j.id),
    );
    const span = async (o: string, id: string) => {
      const d = await s.jobs.get(o, id);
      expect(d.state).toBe('succeeded');
      return [Date.parse(d.launched_at ?? ''), Date.parse(d.finished_at ?? '')] as const;
    };
    const xs = await Promise.all(x.jobs.map((j) => span('owner-x', j.id)));
    const ys = await Promise.all(y.jobs.map((j) => span('owner-y', j.id)));
    for (const [a] of xs) expect(xs.filter(([b, c]) => b <= a && a < c).length).toBeLessThanOrEqual(2);
    expect(Math.min(...ys.map(([a]) => a))).toBeLessThan(Math.max(...xs.map(([a]) => a)));
  });

  test('cancel: a queued job never runs, a running one is stopped; both end cancelled', async () => {
    const r = await s.jobs.submit('owner-c', {
      jobs: [
        { code: 'import time; time.sleep(30)' },
        { code: 'import time; time.sleep(30)' },
        { code: 'import time; time.sleep(30)' },
        { code: 'print("never")' },
      ],
    });
    const [a, , , last] = r.jobs;
    // The 4th waits behind the owner's two running jobs (perOwner 2): cancel it while queued.
    const q = await s.jobs.cancel('owner-c', last?.id as string);
    expect(q.state).toBe('cancelled');
    // Wait until the first runs, then cancel it.
    let after = r.cursor;
    for (;;) {
      const ev = await s.jobs.events('owner-c', after, { job: a?.id as string, waitMs: 5000 });
      after = ev.cursor;
      if (ev.events.some((e) => e.state === 'running')) break;
    }
    const c = await s.jobs.cancel('owner-c', a?.id as string);
    expect(c.state).toBe('cancelled');
    expect(c.history.map((h) => h.state)).toEqual([...ORDER, 'cancelled']);
    const qd = await s.jobs.get('owner-c', last?.id as string);
    expect(qd.history.map((h) => h.state)).toEqual(['queued', 'cancelled']);
    expect(qd.result).toBeNull();
    await expect(s.jobs.cancel('owner-c', a?.id as string)).rejects.toMatchObject({
      code: 'RUNCELL_ERR_JOB_NOT_CANCELLABLE',
    });
    for (const j of r.jobs.slice(1, 3)) await s.jobs.cancel('owner-c', j.id);
    await waitFinal(
      s.jobs,
      'owner-c',
      r.jobs.map((j) => j.id),
    );
  });

  test('timeout: a job past its timeout ends timed_out with what it printed before', async () => {
    const r = await s.jobs.submit('owner-t', {
      code: 'print("before", flush=True)\nimport time\ntime.sleep(30)',
      timeout: 1.5,
    });
    const id = r.jobs[0]?.id as string;
    await waitFinal(s.jobs, 'owner-t', [id], 30_000);
    const d = await s.jobs.get('owner-t', id);
    expect(d.state).toBe('timed_out');
    expect(d.reason).toMatch(/1\.5 s/);
    expect(d.result?.stdout).toBe('before\n');
    expect(FINAL_STATES).toContain(d.state);
  });
});
