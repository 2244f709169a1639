// Job leases across two instances sharing one Postgres (kernel-manager slots 155-157). A crashed
// owner's running job is marked aborted by the other instance, with the true reason. An owner cut off from the database (a TCP
// proxy in front of it is stopped; Postgres itself keeps serving the other instance) longer than a
// lease loses its job to the other instance's recovery, and when it reconnects it stops the job's
// kernel and writes nothing: no job runs without an owner, no kernel runs a job nobody owns.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { TcpProxy } from '../store/tcp-proxy.js';
import { createDb, existingDb, type Stack, startStack, type TestDb, waitFinal } from './helpers.js';

const OWNER = 'owner-lease';
const LEASE = { leaseMs: 1500, concurrency: 2, perOwner: 2 };
const stacks: Stack[] = [];
let db: TestDb;
let proxy: TcpProxy;
let proxyUrl: string;
let proxyDown = false;
let a: Stack; // the owner, through the proxy
let b: Stack; // the other instance, direct

beforeAll(async () => {
  db = await createDb('postgres');
  const p = await TcpProxy.toDatabase(db.url);
  proxy = p.proxy;
  proxyUrl = p.url;
  b = await startStack(156, { db: existingDb(db.url), poolSize: 0, maxKernels: 2, limits: LEASE });
  stacks.push(b);
});
afterAll(async () => {
  if (proxyDown) await proxy.start();
  for (const s of stacks.reverse()) await s.stop().catch(() => {});
  await proxy?.stop();
  await db?.cleanup();
});

async function runningOn(s: Stack, code: string): Promise<string> {
  const r = await s.jobs.submit(OWNER, { code });
  const id = r.jobs[0]?.id as string;
  let after = r.cursor;
  for (;;) {
    const ev = await s.jobs.events(OWNER, after, { waitMs: 5000 });
    after = ev.cursor;
    if (ev.events.some((e) => e.job_id === id && e.state === 'running')) return id;
  }
}

describe('job leases between two instances', () => {
  test('a crashed owner: the other instance aborts its running job with the reason', async () => {
    const crashed = await startStack(155, {
      db: existingDb(db.url),
      poolSize: 0,
      maxKernels: 2,
      limits: LEASE,
    });
    stacks.push(crashed);
    const id = await runningOn(crashed, 'import time; time.sleep(120)');
    await crashed.jobs.abandon(); // as SIGKILL: nothing more written, no more renewals
    await waitFinal(b.jobs, OWNER, [id], 30_000);
    const d = await b.jobs.get(OWNER, id);
    expect(d.state).toBe('aborted');
    expect(d.reason).toMatch(
      /^instance test-155 stopped renewing the job's lease at .* while it was running/,
    );
    expect(d.history.map((h) => h.state)).toEqual(['queued', 'launched', 'running', 'aborted']);
  }, 60_000);

  test('an owner cut off longer than a lease loses the job, then stops its kernel and writes nothing', async () => {
    a = await startStack(157, { db: existingDb(proxyUrl), poolSize: 0, maxKernels: 2, limits: LEASE });
    stacks.push(a);
    const id = await runningOn(a, 'import time; time.sleep(120)');
    expect(a.manager.stats().live).toBe(1);
    await proxy.stop();
    proxyDown = true;
    await waitFinal(b.jobs, OWNER, [id], 30_000);
    expect((await b.jobs.get(OWNER, id)).reason).toMatch(/^instance test-157 stopped renewing/);
    await proxy.start();
    proxyDown = false;
    // The owner's next renewal finds the job gone and shuts its kernel down.
    const deadline = Date.now() + 30_000;
    while (a.manager.stats().live > 0 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    expect(a.manager.stats().live).toBe(0);
    await a.jobs.idle();
    const d = await b.jobs.get(OWNER, id);
    expect(d.state).toBe('aborted');
    expect(d.history.map((h) => h.state)).toEqual(['queued', 'launched', 'running', 'aborted']);
  }, 60_000);
});
