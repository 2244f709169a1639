// Pipelines on real kernels and real Postgres (and PGlite for the restart): a diamond runs in
// order with files handed along, a failing job skips what needs it but not its siblings, bad
// graphs are refused before anything is stored, and after a crash a rerun completes the pipeline.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import type { Jobs } from '../../../server/jobs/index.js';
import type { JobDetail, JobSpec } from '../../../server/jobs/schemas.js';
import { type Stack, startStack, waitFinal } from './helpers.js';

const SLOT = 36;

/** A -> B, A -> C, (B, C) -> D; each writes a file the next ones read. */
function diamond(o: { aSleep?: number; bFails?: boolean } = {}): JobSpec[] {
  return [
    {
      name: 'A',
      code: `import time; time.sleep(${o.aSleep ?? 0})\nopen('a.txt', 'w').write('a')`,
    },
    {
      name: 'B',
      needs: ['A'],
      code: o.bFails ? 'raise ValueError("B broke")' : `open('b.txt', 'w').write(open('a.txt').read() + 'b')`,
    },
    { name: 'C', needs: ['A'], code: `open('c.txt', 'w').write(open('a.txt').read() + 'c')` },
    { name: 'D', needs: ['B', 'C'], code: `print(open('b.txt').read(), open('c.txt').read())` },
  ];
}

async function byName(jobs: Jobs, owner: string, batch: string) {
  const page = await jobs.list(owner, { batch });
  return Object.fromEntries(
    await Promise.all(page.jobs.map(async (j) => [j.name as string, await jobs.get(owner, j.id)] as const)),
  );
}

/** Restart = the jobs service closed as by a crash and created again on the same database. */
async function restartCase(s: Stack): Promise<void> {
  const owner = 'owner-r';
  const r = await s.jobs.submit(owner, { jobs: diamond({ aSleep: 2 }) });
  const a = r.jobs[0]?.id as string;
  let after = r.cursor;
  for (let running = false; !running; ) {
    const ev = await s.jobs.events(owner, after, { waitMs: 5000, job: a });
    after = ev.cursor;
    running = ev.events.some((e) => e.state === 'running');
  }
  const jobs = await s.crashAndRestart();
  const j = await byName(jobs, owner, r.batch_id);
  expect(j.A?.state).toBe('aborted');
  for (const n of ['B', 'C']) expect(j[n]?.reason).toBe('needs "A", which ended aborted');
  expect(j.D?.state).toBe('skipped');
  expect(j.D?.reason).toMatch(/^needs "[BC]", which ended skipped$/);

  const again = await jobs.rerun(owner, a);
  expect(again.jobs.map((x) => x.name)).toEqual(['A', 'B', 'C', 'D']);
  await waitFinal(
    jobs,
    owner,
    again.jobs.map((x) => x.id),
    40_000,
  );
  const k = await byName(jobs, owner, r.batch_id);
  for (const n of ['A', 'B', 'C', 'D']) {
    expect(k[n]?.state, `${n}: ${k[n]?.reason}`).toBe('succeeded');
    expect(k[n]?.attempt).toBe(2);
  }
  expect(k.D?.result?.stdout).toBe('ab ac\n');
}

const t = (s: string | null) => Date.parse(s ?? '');

describe('pipelines (postgres)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack(SLOT, {
      backend: 'postgres',
      poolSize: 2,
      maxKernels: 4,
      limits: { concurrency: 2 },
    });
  });
  afterAll(() => s?.stop());

  test('a diamond runs in order, with the files its predecessors wrote', async () => {
    const owner = 'owner-d';
    const r = await s.jobs.submit(owner, { jobs: diamond() });
    expect(r.jobs.map((j) => j.state)).toEqual(['queued', 'waiting', 'waiting', 'waiting']);
    const [a, b, c] = r.jobs;
    expect(r.jobs[3]?.needs?.sort()).toEqual([b?.id, c?.id].sort());
    await waitFinal(
      s.jobs,
      owner,
      r.jobs.map((j) => j.id),
      40_000,
    );
    const j = await byName(s.jobs, owner, r.batch_id);
    for (const n of ['A', 'B', 'C', 'D']) expect(j[n]?.state, `${n}: ${j[n]?.reason}`).toBe('succeeded');
    const A = j.A as JobDetail;
    const B = j.B as JobDetail;
    const C = j.C as JobDetail;
    const D = j.D as JobDetail;
    expect(D.result?.stdout).toBe('ab ac\n');
    // Each starts only after what it needs has finished.
    expect(t(B.launched_at)).toBeGreaterThanOrEqual(t(A.finished_at));
    expect(t(C.launched_at)).toBeGreaterThanOrEqual(t(A.finished_at));
    expect(t(D.launched_at)).toBeGreaterThanOrEqual(Math.max(t(B.finished_at), t(C.finished_at)));
    expect(D.history.map((h) => h.state)).toEqual(['waiting', 'queued', 'launched', 'running', 'succeeded']);
    // Files handed along are not collected again as the job's own output.
    expect(B.result?.files.map((f) => f.name)).toEqual(['b.txt']);
    expect(D.result?.files).toEqual([]);
    expect(a?.needs).toEqual([]);
    // The live stream saw every transition, in order.
    const ev = await s.jobs.events(owner, r.cursor, { batch: r.batch_id });
    const dStates = ev.events.filter((e) => e.job_id === D.id).map((e) => e.state);
    expect(dStates).toEqual(['waiting', 'queued', 'launched', 'running', 'succeeded']);
  }, 120_000);

  test('a failing B skips D (with the reason) but not C; rerunning B reruns D', async () => {
    const owner = 'owner-f';
    const r = await s.jobs.submit(owner, { jobs: diamond({ bFails: true }) });
    await waitFinal(
      s.jobs,
      owner,
      r.jobs.map((j) => j.id),
      40_000,
    );
    const j = await byName(s.jobs, owner, r.batch_id);
    expect(j.A?.state).toBe('succeeded');
    expect(j.B?.state).toBe('failed');
    expect(j.C?.state).toBe('succeeded');
    expect(j.D?.state).toBe('skipped');
    expect(j.D?.reason).toBe('needs "B", which ended failed');
    expect(j.D?.history.map((h) => h.state)).toEqual(['waiting', 'skipped']);
    // Rerun B: B and D (downstream, not succeeded) get new attempts; A and C are left alone.
    const again = await s.jobs.rerun(owner, j.B?.id as string);
    // (Both start waiting; B is queued at once, its need A having succeeded.)
    expect(again.jobs.map((x) => [x.name, x.attempt, x.state])).toEqual([
      ['B', 2, 'waiting'],
      ['D', 2, 'waiting'],
    ]);
    await waitFinal(
      s.jobs,
      owner,
      again.jobs.map((x) => x.id),
      30_000,
    );
    const d2 = await s.jobs.get(owner, again.jobs[1]?.id as string);
    expect(d2.state).toBe('skipped'); // B still raises
    expect(d2.reason).toBe('needs "B", which ended failed');
  }, 120_000);

  test('a cycle, an unknown name or an ambiguous name is refused before anything is stored', async () => {
    const owner = 'owner-x';
    const bad = async (jobs: JobSpec[], message: RegExp) => {
      const e = await s.jobs.submit(owner, { jobs }).catch((x: unknown) => x);
      expect(e).toMatchObject({ code: 'RUNCELL_ERR_JOB_BAD_PIPELINE', statusCode: 400 });
      expect((e as Error).message).toMatch(message);
    };
    await bad(
      [
        { name: 'A', code: '1', needs: ['C'] },
        { name: 'B', code: '1', needs: ['A'] },
        { name: 'C', code: '1', needs: ['B'] },
      ],
      /cycle: (A -> C -> B -> A|C -> B -> A -> C|B -> A -> C -> B)/,
    );
    await bad([{ name: 'A', code: '1', needs: ['A'] }], /cycle: A -> A/);
    await bad([{ name: 'A', code: '1', needs: ['nope'] }], /A needs "nope": no job/);
    await bad(
      [{ name: 'A', code: '1', needs: ['00000000-0000-4000-8000-000000000000'] }],
      /not the id of one of your jobs/,
    );
    await bad(
      [
        { name: 'A', code: '1' },
        { name: 'A', code: '2' },
        { name: 'B', code: '1', needs: ['A'] },
      ],
      /two jobs have that name/,
    );
    expect((await s.jobs.list(owner, {})).jobs).toEqual([]);
  });

  test('a need may name an earlier job by id; cancelling a waiting job skips what needs it', async () => {
    const owner = 'owner-i';
    const first = await s.jobs.submit(owner, { code: `open('x.txt', 'w').write('42')`, name: 'X' });
    const x = first.jobs[0]?.id as string;
    const r = await s.jobs.submit(owner, {
      jobs: [
        { name: 'Y', code: 'import time; time.sleep(20)', needs: [x] },
        { name: 'Z', code: 'print(open("x.txt").read())', needs: [x] },
        { name: 'W', code: '1', needs: ['Y'] },
      ],
    });
    const [y, z, w] = r.jobs;
    await waitFinal(s.jobs, owner, [z?.id as string], 30_000);
    expect((await s.jobs.get(owner, z?.id as string)).result?.stdout).toBe('42\n');
    await s.jobs.cancel(owner, y?.id as string);
    await waitFinal(s.jobs, owner, [w?.id as string], 10_000);
    const wd = await s.jobs.get(owner, w?.id as string);
    expect(wd.state).toBe('skipped');
    expect(wd.reason).toBe('needs "Y", which ended cancelled');
  }, 120_000);

  test(
    'A aborted by a crash skips the rest; rerunning A completes the pipeline',
    () => restartCase(s),
    60_000,
  );
});

describe('pipeline across a restart (pglite)', () => {
  let s: Stack;
  beforeAll(async () => {
    s = await startStack(SLOT, { backend: 'pglite', poolSize: 2, maxKernels: 4, limits: { concurrency: 2 } });
  });
  afterAll(() => s?.stop());

  test(
    'A aborted by a crash skips the rest; rerunning A completes the pipeline',
    () => restartCase(s),
    60_000,
  );
});
