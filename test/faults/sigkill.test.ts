// The server killed with SIGKILL with jobs and kernels running, then started again on the same
// database: what it left (tmpfs mounts and cgroups outlive it; its kernels die with it through
// bubblewrap's --die-with-parent) is reclaimed and logged at the next start, the jobs it left running
// end aborted with the reason, and another instance on the same host (its own uid range and runtime
// root) keeps its kernel through all of it.
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { createDb } from '../server/jobs/helpers.js';
import { auth, job, jsonHeaders, leftovers, NOTHING, startServerProcess, submit, until } from './helpers.js';

const SLOT = 111;
const OTHER = 112;
const cleanups: (() => unknown)[] = [];
afterAll(async () => {
  for (const c of cleanups.reverse()) await c();
});

async function execute(base: string, code: string): Promise<{ http: number; stdout?: string }> {
  const r = await fetch(`${base}/api/execute`, {
    method: 'POST',
    headers: jsonHeaders,
    body: JSON.stringify({ code }),
  });
  return { ...((await r.json()) as { stdout?: string }), http: r.status };
}

describe('the server killed with SIGKILL mid-batch, then started again', () => {
  it('reclaims and logs what the killed run left, aborts its jobs with the reason, spares another instance', async () => {
    const db = await createDb('postgres');
    cleanups.push(() => db.cleanup());
    const env = { DATABASE_URL: db.url };
    // Another instance on this host, with a live kernel (a websocket client holds it). No warm pool
    // there: its processes are then exactly that kernel's, which a demand-sized pool growing or
    // retiring kernels would change under the comparison.
    const other = await startServerProcess(
      OTHER,
      { DATABASE_URL: db.url, RUNCELL_INSTANCE_ID: 'faults-other', RUNCELL_POOL_SIZE: '0' },
      cleanups,
    );
    // Its environment probes (a short-lived sandbox per kernelspec, at start-up) are done first, so
    // the processes compared below are the held kernel's alone.
    await until(
      async () => {
        const r = await fetch(`${other.base}/api/environments`, { headers: auth });
        const b = (await r.json()) as { environments: { environment: unknown }[] };
        return r.ok && b.environments.every((e) => e.environment !== null);
      },
      60_000,
      "the other instance's environment probes",
    );
    const k = (
      (await (
        await fetch(`${other.base}/api/kernels`, { method: 'POST', headers: jsonHeaders, body: '{}' })
      ).json()) as { id: string }
    ).id;
    const ws = new WebSocket(`${other.base.replace('http', 'ws')}/api/kernels/${k}/channels?session_id=o`, {
      headers: auth,
    });
    cleanups.push(() => ws.terminate());
    await new Promise((r) => ws.once('open', r));
    const otherBefore = leftovers(OTHER);
    expect(otherBefore.processes.length).toBeGreaterThan(0);

    let s = await startServerProcess(SLOT, env, cleanups);
    const jobs = await submit(s.base, [
      { code: 'import time; time.sleep(120)', name: 'a' },
      { code: 'import time; time.sleep(120)', name: 'b' },
    ]);
    await until(
      async () => (await Promise.all(jobs.map((j) => job(s.base, j.id)))).every((j) => j.state === 'running'),
      60_000,
      'both jobs running',
    );
    const held = leftovers(SLOT);
    expect(held.mounts.length).toBeGreaterThanOrEqual(3); // two jobs' kernels and the pool's
    expect(held.cgroups.length).toBeGreaterThan(0);

    s.child.kill('SIGKILL');
    expect(await s.exited).toBe(null);
    // The kernels die with it; their mounts and cgroups do not (nothing ran their teardown).
    await until(() => leftovers(SLOT).processes.length === 0, 10_000, "the killed server's kernels to die");
    const left = leftovers(SLOT);
    expect(left.mounts.length).toBeGreaterThan(0);
    expect(left.cgroups.length).toBeGreaterThan(0);

    s = await startServerProcess(SLOT, env, cleanups);
    const line = s.lines().find((l) => l.msg === 'reclaimed sandbox resources a previous run left');
    expect(line).toBeDefined();
    const reclaimed = line?.reclaimed as { mounts: string[]; cgroups: string[]; failed: string[] };
    expect(reclaimed.failed).toEqual([]);
    for (const m of left.mounts) expect(reclaimed.mounts).toContain(m);
    expect(reclaimed.cgroups.length).toBeGreaterThanOrEqual(
      new Set(left.cgroups.map((c) => c.split('/').pop())).size,
    );
    // The jobs the killed run left running are aborted, with the reason.
    for (const j of jobs) {
      const d = await job(s.base, j.id);
      expect(d.state).toBe('aborted');
      expect(d.reason).toMatch(/server stopped while the job was running/);
    }
    // The new run works, and a clean stop leaves nothing at all.
    expect(await execute(s.base, 'print(6 * 7)')).toMatchObject({ http: 200, stdout: '42\n' });
    s.child.kill('SIGTERM');
    expect(await s.exited).toBe(0);
    expect(leftovers(SLOT)).toEqual(NOTHING);

    // The other instance's kernel was never touched: same processes, and it still runs code.
    expect(leftovers(OTHER).processes).toEqual(expect.arrayContaining(otherBefore.processes));
    const reply = new Promise<string>((resolve) => {
      ws.on('message', (data) => {
        const m = JSON.parse(String(data));
        if (m.msg_type === 'stream' || m.header?.msg_type === 'stream') resolve(m.content.text);
      });
    });
    ws.send(
      JSON.stringify({
        header: {
          msg_id: 'm1',
          msg_type: 'execute_request',
          session: 'o',
          username: '',
          date: '',
          version: '5.3',
        },
        parent_header: {},
        metadata: {},
        content: { code: 'print("still here")', silent: false },
        channel: 'shell',
      }),
    );
    expect(await reply).toBe('still here\n');
    other.child.kill('SIGTERM');
    expect(await other.exited).toBe(0);
    expect(leftovers(OTHER)).toEqual(NOTHING);
  }, 180_000);
});
