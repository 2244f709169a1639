// The machine's Postgres itself restarted during a batch of jobs, then stopped for 30 s while a job
// runs and clients keep writing: clients see 503 STORE_UNAVAILABLE (never a hang or a 500), every
// job ends with its true outcome (none left running, none aborted by the blip), no acknowledged
// write is lost, and nothing leaks. Isolated tier: it stops the Postgres every other suite uses.
// Postgres is always started again (afterAll), whatever happens here.
import { execFileSync } from 'node:child_process';
import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../server/jobs/helpers.js';
import {
  auth,
  blockKernels,
  fdCount,
  job,
  jsonHeaders,
  leftovers,
  NOTHING,
  type ServerProcess,
  startServerProcess,
  submit,
  until,
} from './helpers.js';

const SLOT = 113;
const FINAL = ['succeeded', 'failed', 'timed_out', 'cancelled', 'aborted', 'skipped'];
const cleanups: (() => unknown)[] = [];
const pg = (action: 'restart' | 'stop' | 'start') =>
  execFileSync('pg_ctlcluster', ['--skip-systemctl-redirect', '15', 'main', action], { stdio: 'ignore' });
const pgUp = () => {
  try {
    execFileSync('pg_isready', ['-h', '127.0.0.1', '-p', '5432', '-q']);
    return true;
  } catch {
    return false;
  }
};
afterAll(async () => {
  if (!pgUp()) pg('start');
  await until(pgUp, 30_000, 'Postgres up');
  for (const c of cleanups.reverse()) await c();
});

/** A client watching the jobs' events as the CLI does: long-polls, rides out 503s and refusals. */
function watch(s: ServerProcess, ids: string[]) {
  const final = new Map<string, string>();
  const statuses = new Map<number, number>();
  let stop = false;
  const done = (async () => {
    let after = 0;
    while (!stop && ids.some((id) => !final.has(id))) {
      try {
        const r = await fetch(`${s.base}/api/jobs/events?after=${after}&timeout=5`, { headers: auth });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const body = (await r.json()) as {
          cursor: number;
          events: { job_id: string; state: string }[];
          code?: string;
        };
        if (r.status !== 200) {
          expect(r.status).toBe(503);
          expect(body.code).toBe('RUNCELL_ERR_STORE_UNAVAILABLE');
          await new Promise((res) => setTimeout(res, 200));
          continue;
        }
        after = body.cursor;
        for (const e of body.events) if (FINAL.includes(e.state)) final.set(e.job_id, e.state);
      } catch {
        await new Promise((res) => setTimeout(res, 200));
      }
    }
  })();
  return { final, statuses, done, stop: () => (stop = true) };
}

describe('Postgres restarted and stopped under a running server', () => {
  let s: ServerProcess;
  let db: Awaited<ReturnType<typeof createDb>>;

  it('a restart during 12 jobs: every job succeeds, none is left running, the watcher sees all of them', async () => {
    db = await createDb('postgres');
    cleanups.push(() => db.cleanup());
    s = await startServerProcess(
      SLOT,
      {
        DATABASE_URL: db.url,
        RUNCELL_JOBS_CONCURRENCY: '4',
        RUNCELL_JOBS_CONCURRENCY_PER_OWNER: '4',
        RUNCELL_JOBS_LEASE_MS: '3000',
        RUNCELL_DB_POOL_MAX: '4',
        RUNCELL_POOL_SIZE: '2',
        // A fixed pool: when settled, exactly two kernels hold descriptors (the fd check below).
        RUNCELL_POOL_MAX: '2',
        RUNCELL_MAX_KERNELS: '6',
      },
      cleanups,
    );
    const jobs = await submit(
      s.base,
      Array.from({ length: 12 }, (_, i) => ({
        code: `import time; time.sleep(1.5); print(${i})`,
        name: `j${i}`,
      })),
    );
    const ids = jobs.map((j) => j.id);
    const w = watch(s, ids);
    await until(
      async () => (await Promise.all(ids.map((id) => job(s.base, id)))).some((j) => j.state === 'running'),
      60_000,
      'a job running',
    );
    pg('restart');
    await w.done;
    expect([...w.final.values()]).toEqual(ids.map(() => 'succeeded'));
    for (const [i, id] of ids.entries()) {
      const d = (await job(s.base, id)) as Awaited<ReturnType<typeof job>> & { result: { stdout: string } };
      expect(d.state).toBe('succeeded');
      expect(d.result.stdout).toBe(`${i}\n`);
    }
    expect([...w.statuses.keys()].every((c) => c === 200 || c === 503)).toBe(true);
  }, 180_000);

  it('a 30 s outage: 503s meanwhile, the running job finishes, acknowledged writes are all kept', async () => {
    // Counted when the pool is settled (its two kernels, nothing else): each kernel holds descriptors.
    const settled = () => until(() => blockKernels(SLOT) === 2, 60_000, 'the pool settled at two kernels');
    await settled();
    const fdsBefore = fdCount(s.child.pid as number);
    const [long] = await submit(s.base, [
      { code: 'import time; time.sleep(12); print("done")', name: 'long' },
    ]);
    const id = (long as { id: string }).id;
    await until(async () => (await job(s.base, id)).state === 'running', 60_000, 'the job running');
    const w = watch(s, [id]);
    const acked = new Map<string, string>();
    const statuses = new Map<number, number>();
    let writing = true;
    const writer = (async () => {
      for (let i = 0; writing; i++) {
        const code = `print(${i})`;
        const r = await fetch(`${s.base}/api/permalinks`, {
          method: 'POST',
          headers: jsonHeaders,
          body: JSON.stringify({ code, kernel: 'python3' }),
        });
        statuses.set(r.status, (statuses.get(r.status) ?? 0) + 1);
        const body = (await r.json()) as { id?: string; code?: string };
        if (r.status === 200 || r.status === 201) acked.set(body.id as string, code);
        else {
          expect(r.status).toBe(503);
          expect(body.code).toBe('RUNCELL_ERR_STORE_UNAVAILABLE');
          await new Promise((res) => setTimeout(res, 250));
        }
      }
    })();
    cleanups.push(async () => {
      writing = false;
      await writer.catch(() => {});
    });
    await until(() => acked.size > 0, 30_000, 'a first acknowledged write');
    pg('stop');
    const downAt = Date.now();
    await until(() => Date.now() - downAt >= 30_000, 40_000, 'the outage');
    expect(statuses.get(503) ?? 0).toBeGreaterThan(0);
    expect((await fetch(`${s.base}/readyz`)).status).toBe(503);
    pg('start');
    const n0 = acked.size;
    await until(() => acked.size > n0, 60_000, 'writes accepted again');
    writing = false;
    await writer;
    await w.done;
    expect(w.final.get(id)).toBe('succeeded');
    const d = (await job(s.base, id)) as Awaited<ReturnType<typeof job>> & { result: { stdout: string } };
    expect(d.result.stdout).toBe('done\n');
    for (const [pid, code] of acked) {
      const r = await fetch(`${s.base}/api/permalinks/${pid}`, { headers: auth });
      expect(r.status, pid).toBe(200);
      expect(((await r.json()) as { code: string }).code).toBe(code);
    }
    expect([...statuses.keys()].every((c) => c === 200 || c === 201 || c === 503)).toBe(true);
    // The server's descriptors: at most a database pool's worth (RUNCELL_DB_POOL_MAX 4) more than before.
    await settled();
    expect(fdCount(s.child.pid as number)).toBeLessThanOrEqual(fdsBefore + 6);
    const stopAt = Date.now();
    s.child.kill('SIGTERM');
    const code = await s.exited;
    // Warnings while the database was away are expected; nothing at error level, from the stop above all.
    // (A request answered 503 during the outage is logged with its error; those are not the stop's.)
    const errors = s
      .lines()
      .filter(
        (l) => Number(l.level) >= 50 && !(l.res && (l.res as { statusCode?: number }).statusCode === 503),
      )
      .filter((l) => l.msg !== 'The database is unavailable; try again shortly');
    // On failure, which step of the stop took the time,
    const steps = JSON.stringify(
      s
        .lines()
        // each close hook of the app step, and every warning the stop logged (a database wait it gave up
        // on, say), with its time since SIGTERM.
        .filter(
          (l) =>
            l.step !== undefined ||
            l.hook !== undefined ||
            (Number(l.time) >= stopAt && (Number(l.level) >= 40 || /connections/.test(String(l.msg)))),
        )
        .map((l) => [l.step ?? l.hook ?? l.msg, l.ms, Number(l.time) - stopAt]),
    );
    expect(
      errors.map((l) => [l.msg, l.step, (l.err as { message?: string } | undefined)?.message]),
      steps,
    ).toEqual([]);
    expect(code).toBe(0);
    expect(leftovers(SLOT)).toEqual(NOTHING);
  }, 180_000);
});
