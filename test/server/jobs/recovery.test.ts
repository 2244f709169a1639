// Durability: the jobs service stopped as by a crash mid-batch and started again on the same
// database. Jobs that were running end aborted with the reason, queued ones still run, and
// rerunning the aborted ones brings the batch to all succeeded. On Postgres and on PGlite.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Backend, type Stack, startStack, waitFinal } from './helpers.js';

describe.each<Backend>(['postgres', 'pglite'])('restart mid-batch (%s)', (backend) => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack(31, {
      backend,
      poolSize: 2,
      maxKernels: 5,
      limits: { concurrency: 2, perOwner: 2 },
    });
  });
  afterAll(() => s?.stop());

  test('running jobs are aborted with the reason, queued ones run, aborted ones rerun to success', async () => {
    const owner = 'owner-r';
    const r = await s.jobs.submit(owner, {
      jobs: Array.from({ length: 4 }, (_, i) => ({
        code: `import time; time.sleep(2); print(${i})`,
        name: `r${i}`,
      })),
    });
    const ids = r.jobs.map((j) => j.id);
    // Wait for two jobs to be running (the concurrency bound), then "crash".
    const running = new Set<string>();
    let after = r.cursor;
    while (running.size < 2) {
      const ev = await s.jobs.events(owner, after, { waitMs: 5000 });
      after = ev.cursor;
      for (const e of ev.events) if (e.state === 'running') running.add(e.job_id);
    }
    const jobs = await s.crashAndRestart();
    for (const id of running) {
      const d = await jobs.get(owner, id);
      expect(d.state).toBe('aborted');
      expect(d.reason).toMatch(/server stopped while the job was running/);
      expect(d.history.map((h) => h.state)).toEqual(['queued', 'launched', 'running', 'aborted']);
    }
    // The two that were queued run on the restarted service.
    const queued = ids.filter((id) => !running.has(id));
    await waitFinal(jobs, owner, queued, 40_000);
    for (const id of queued) expect((await jobs.get(owner, id)).state).toBe('succeeded');

    const again = await jobs.rerunMany(owner, { batch: r.batch_id });
    expect(again.jobs).toHaveLength(2);
    for (const j of again.jobs) {
      expect(j.attempt).toBe(2);
      expect(running.has(j.rerun_of as string)).toBe(true);
      expect(j.batch_id).toBe(r.batch_id);
    }
    await waitFinal(
      jobs,
      owner,
      again.jobs.map((j) => j.id),
      40_000,
    );
    const latest = await jobs.list(owner, { batch: r.batch_id });
    expect(latest.jobs).toHaveLength(4);
    expect(latest.jobs.every((j) => j.state === 'succeeded')).toBe(true);
    const old = await jobs.get(owner, [...running][0] as string);
    expect(again.jobs.map((j) => j.id)).toContain(old.superseded_by);
    // An attempt that was rerun cannot be rerun again; the new one is the one to rerun.
    await expect(jobs.rerun(owner, old.id)).rejects.toMatchObject({ code: 'RUNCELL_ERR_JOB_NOT_RERUNNABLE' });
    const all = await jobs.list(owner, { batch: r.batch_id, latest: false });
    expect(all.jobs).toHaveLength(6);
  }, 90_000);
});
