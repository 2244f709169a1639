// SIGTERM with jobs running, on Postgres, while clients watch (a long-poll and a server-sent-events
// stream, as the CLI and the jobs page do): the stop ends every job it owns as aborted with the
// reason (the watchers see it), shuts its kernels down, releases every sandbox resource and exits 0
// (the forced exit past RUNCELL_SHUTDOWN_GRACE_MS would be 1).
import { afterAll, describe, expect, it } from 'vitest';
import { createDb } from '../server/jobs/helpers.js';
import { auth, job, leftovers, NOTHING, startServerProcess, submit, until } from './helpers.js';

const SLOT = 110;
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

describe('SIGTERM with jobs running', () => {
  it('ends them aborted with the reason, tells the watchers, frees every sandbox resource, exits 0', async () => {
    const db = await createDb('postgres');
    cleanups.push(() => db.cleanup());
    const s = await startServerProcess(
      SLOT,
      { DATABASE_URL: db.url, RUNCELL_JOBS_SHUTDOWN_GRACE_MS: '1000' },
      cleanups,
    );
    const jobs = await submit(s.base, [
      { code: 'import time; time.sleep(120)', name: 'a' },
      { code: 'import time; time.sleep(120)', name: 'b' },
    ]);
    const ids = jobs.map((j) => j.id);
    await until(
      async () => (await Promise.all(ids.map((id) => job(s.base, id)))).every((j) => j.state === 'running'),
      60_000,
      'both jobs running',
    );
    // The watchers: a held long-poll past the last event, and a server-sent-events stream.
    const head = (await (
      await fetch(`${s.base}/api/jobs/events?after=0&timeout=0`, { headers: auth })
    ).json()) as {
      cursor: number;
    };
    const poll = fetch(`${s.base}/api/jobs/events?after=${head.cursor}&timeout=25`, { headers: auth }).then(
      async (r) => ({
        status: r.status,
        body: (await r.json()) as { events: { job_id: string; state: string }[] },
      }),
    );
    const sse = await fetch(`${s.base}/api/jobs/events?after=${head.cursor}`, {
      headers: { ...auth, accept: 'text/event-stream' },
    });
    const sseText = sse.text();
    const before = leftovers(SLOT);
    expect(before.processes.length).toBeGreaterThan(0);
    expect(before.mounts.length).toBeGreaterThan(0);
    expect(before.cgroups.length).toBeGreaterThan(0);

    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    const logs = s.lines();
    expect(logs.some((l) => l.msg === 'graceful shutdown took too long; exiting')).toBe(false);
    expect(logs.some((l) => l.msg === 'shut down cleanly')).toBe(true);
    // Nothing is logged at error level by a clean stop (no leak found at close, no failed step).
    expect(logs.filter((l) => Number(l.level) >= 50)).toEqual([]);

    // What the watchers saw: the aborted transitions, before their connections ended.
    const polled = await poll;
    expect(polled.status).toBe(200);
    const streamed = await sseText;
    const abortedSeen = new Set([
      ...polled.body.events.filter((e) => e.state === 'aborted').map((e) => e.job_id),
      ...[...streamed.matchAll(/"job_id":"([^"]+)","batch_id":"[^"]+","state":"aborted"/g)].map((m) => m[1]),
    ]);
    expect(abortedSeen.size).toBeGreaterThan(0);
    expect(streamed).toMatch(/"state":"aborted"/);

    // Nothing of the sandboxes is left: processes, tmpfs mounts, cgroups, runtime dirs.
    expect(leftovers(SLOT)).toEqual(NOTHING);

    // The jobs as stored: aborted with the reason, none left launched or running.
    const { default: postgres } = await import('postgres');
    const sql = postgres(db.url, { max: 1, onnotice: () => {} });
    cleanups.push(() => sql.end());
    const rows = await sql<
      { id: string; state: string; reason: string }[]
    >`select id, state, reason from jobs`;
    expect(rows).toHaveLength(2);
    for (const r of rows) {
      expect(r.state).toBe('aborted');
      expect(r.reason).toMatch(/server shut down before the job finished; rerun it/);
    }
  }, 120_000);
});
