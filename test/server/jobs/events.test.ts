// The event stream: a reader paging from its cursor while many writers commit concurrently sees
// every event exactly once and in seq order; owners never see each other's jobs or events. No
// job runs here (concurrency 0): submissions and cancels are the writers. Postgres and PGlite.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { JobEvent } from '../../../server/jobs/index.js';
import { type Backend, type Stack, startStack } from './helpers.js';

describe.each<Backend>(['postgres', 'pglite'])('job events (%s)', (backend) => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack(32, { backend, poolSize: 0, maxKernels: 1, limits: { concurrency: 0 } });
  });
  afterAll(() => s?.stop());

  test('a reader resuming from its cursor misses nothing while writers race', async () => {
    const owner = 'owner-e';
    const seen: JobEvent[] = [];
    let done = false;
    const reader = (async () => {
      let after = 0;
      // Small pages and short waits: many resumptions, each from the last cursor.
      for (;;) {
        const r = await s.jobs.events(owner, after, { limit: 3, waitMs: 200 });
        seen.push(...r.events);
        after = r.cursor;
        if (done && r.events.length === 0) return;
      }
    })();
    const writers = Array.from({ length: 12 }, async (_, w) => {
      const r = await s.jobs.submit(owner, { jobs: [{ code: `${w}` }, { code: `${w}+1` }] });
      await s.jobs.cancel(owner, r.jobs[0]?.id as string);
    });
    await Promise.all(writers);
    done = true;
    await reader;
    const all = (await s.jobs.events(owner, 0, { limit: 1000 })).events;
    expect(all).toHaveLength(12 * 3);
    expect(seen.map((e) => e.seq)).toEqual(all.map((e) => e.seq));
    for (let i = 1; i < seen.length; i++)
      expect((seen[i] as JobEvent).seq).toBeGreaterThan((seen[i - 1] as JobEvent).seq);
    // The long-poll wakes when an event commits, not at its own deadline: the wait is longer than the
    // test's time-out, so only a wake-up can answer in time (how fast it wakes is bench/jobs.ts's figure).
    const head = await s.jobs.head(owner);
    const waiting = s.jobs.events(owner, head, { waitMs: 120_000 });
    setTimeout(() => void s.jobs.submit(owner, { code: 'late' }), 100);
    const r = await waiting;
    expect(r.events.map((e) => e.state)).toEqual(['queued']);
  });

  test('one owner never sees the jobs or events of another', async () => {
    const a = await s.jobs.submit('owner-1', { code: 'secret = 1', tags: ['t'] });
    const id = a.jobs[0]?.id as string;
    await expect(s.jobs.get('owner-2', id)).rejects.toMatchObject({ code: 'RUNCELL_ERR_JOB_NOT_FOUND' });
    await expect(s.jobs.cancel('owner-2', id)).rejects.toMatchObject({ code: 'RUNCELL_ERR_JOB_NOT_FOUND' });
    await expect(s.jobs.rerun('owner-2', id)).rejects.toMatchObject({ code: 'RUNCELL_ERR_JOB_NOT_FOUND' });
    expect((await s.jobs.list('owner-2', { tag: 't' })).jobs).toEqual([]);
    expect((await s.jobs.events('owner-2', 0)).events).toEqual([]);
    expect((await s.jobs.list('owner-1', { tag: 't' })).jobs.map((j) => j.id)).toEqual([id]);
  });
});
