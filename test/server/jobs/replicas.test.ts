// Redundant runs on real kernels and real Postgres: replicas that agree, replicas that disagree
// (first-to-succeed takes one, majority refuses), and a replica killed mid-run while another
// succeeds.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { LocalKernel } from '../../../kernel-manager/index.js';
import { type Stack, startStack, waitFinal } from './helpers.js';

const SLOT = 37;

describe('replicas (postgres)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack(SLOT, {
      backend: 'postgres',
      poolSize: 2,
      maxKernels: 6,
      limits: { concurrency: 2 },
    });
  });
  afterAll(() => s?.stop());

  test('agree: every replica kept, agree true, the majority result taken', async () => {
    const owner = 'owner-a';
    const r = await s.jobs.submit(owner, { code: 'print(2+2)', replicas: 3, pick: 'majority' });
    const id = r.jobs[0]?.id as string;
    expect(r.jobs[0]).toMatchObject({ replicas: 3, pick: 'majority' });
    await waitFinal(s.jobs, owner, [id], 40_000);
    const d = await s.jobs.get(owner, id);
    expect(d.state, d.reason ?? '').toBe('succeeded');
    expect(d.result?.stdout).toBe('4\n');
    expect(d.result?.agree).toBe(true);
    expect(d.result?.replicas).toHaveLength(3);
    expect(d.result?.replicas?.map((x) => [x.index, x.state, x.stdout])).toEqual([
      [0, 'succeeded', '4\n'],
      [1, 'succeeded', '4\n'],
      [2, 'succeeded', '4\n'],
    ]);
    expect(new Set(d.result?.replicas?.map((x) => x.digest)).size).toBe(1);
    expect([0, 1, 2]).toContain(d.result?.picked);
    // One job, one set of transitions, however many replicas.
    expect(d.history.map((h) => h.state)).toEqual(['queued', 'launched', 'running', 'succeeded']);
  }, 120_000);

  test('disagree: the first to succeed is taken (agree false); majority finds none and fails', async () => {
    const owner = 'owner-d';
    const code = 'import random; print(random.random())';
    const r = await s.jobs.submit(owner, {
      jobs: [
        { code, replicas: 2, name: 'first' },
        { code, replicas: 2, pick: 'majority', name: 'majority' },
      ],
    });
    await waitFinal(
      s.jobs,
      owner,
      r.jobs.map((j) => j.id),
      40_000,
    );
    const first = await s.jobs.get(owner, r.jobs[0]?.id as string);
    expect(first.state).toBe('succeeded');
    expect(first.result?.agree).toBe(false);
    const outs = first.result?.replicas?.map((x) => x.stdout) ?? [];
    expect(new Set(outs).size).toBe(2);
    const picked = first.result?.replicas?.[first.result.picked as number];
    expect(first.result?.stdout).toBe(picked?.stdout);
    const maj = await s.jobs.get(owner, r.jobs[1]?.id as string);
    expect(maj.state).toBe('failed');
    expect(maj.reason).toMatch(/disagree and no result has a majority \(1 \/ 1\)/);
    expect(maj.result?.picked).toBeNull();
    expect(maj.result?.replicas?.every((x) => x.state === 'succeeded')).toBe(true);
  }, 120_000);

  test('a replica killed mid-run does not fail the job while another succeeds', async () => {
    const owner = 'owner-k';
    // Both replicas' kernels from the pool (refilled after the tests above): the job is running once
    // one replica sends its code, and on a loaded machine a replica starting a kernel of its own
    // could still be starting when the other has finished.
    const full = Date.now() + 120_000;
    while (s.manager.stats().pooled < 2 && Date.now() < full) await new Promise((res) => setTimeout(res, 50));
    expect(s.manager.stats().pooled).toBe(2);
    const r = await s.jobs.submit(owner, {
      code: 'import time; time.sleep(4); print("done")',
      replicas: 2,
    });
    const id = r.jobs[0]?.id as string;
    let after = r.cursor;
    for (let running = false; !running; ) {
      const ev = await s.jobs.events(owner, after, { waitMs: 5000, job: id });
      after = ev.cursor;
      running = ev.events.some((e) => e.state === 'running');
    }
    // Both replicas' kernels are out (from the pool, at once); kill one.
    let mine = s.manager.list().filter((k) => k.owner === `job:${owner}`);
    const deadline = Date.now() + 10_000;
    while (mine.length < 2 && Date.now() < deadline) {
      await new Promise((res) => setTimeout(res, 50));
      mine = s.manager.list().filter((k) => k.owner === `job:${owner}`);
    }
    expect(mine).toHaveLength(2);
    await new Promise((res) => setTimeout(res, 500));
    process.kill((mine[0] as LocalKernel).pid as number, 'SIGKILL');
    await waitFinal(s.jobs, owner, [id], 30_000);
    const d = await s.jobs.get(owner, id);
    expect(d.state, d.reason ?? '').toBe('succeeded');
    expect(d.result?.stdout).toBe('done\n');
    const states = d.result?.replicas?.map((x) => x.state).sort();
    expect(states).toEqual(['failed', 'succeeded']);
    const dead = d.result?.replicas?.find((x) => x.state === 'failed');
    expect(dead?.reason).toMatch(/the kernel died/);
    expect(d.result?.picked).toBe(d.result?.replicas?.find((x) => x.state === 'succeeded')?.index);
    expect(d.result?.agree).toBe(true);
  }, 120_000);
});
