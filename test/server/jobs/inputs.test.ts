// Large inputs reach a job at disk speed (server/jobs/inputs.ts): a 256 MiB data set (1 GiB with
// RUNCELL_TEST_INPUT_MIB=1024) is uploaded over tus, interrupted twice (the client gives up, then a
// PATCH is cut off mid-body) and resumed, then read by a job whose kernel has a memory limit smaller
// than the file. The bound stated and tested: the job (placing included) ends within its 120 s
// timeout and the test's 240 s deadline; bench/job-inputs.ts measures the rate.
import { createHash, randomFillSync } from 'node:crypto';
import { request } from 'node:http';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunCell } from '../../../sdk/index.js';
import { openStore, type Store } from '../../../server/store/db.js';
import { startServer, type TestServer, TOKEN } from '../helpers.js';
import { createDb, log, type TestDb } from './helpers.js';

const SLOT = 100;
const MiB = 2 ** 20;
const SIZE = Number(process.env.RUNCELL_TEST_INPUT_MIB ?? 256) * MiB;

/** Random (incompressible) bytes, so nothing on the way can shortcut them. */
const dataset = (size: number): Buffer => randomFillSync(Buffer.allocUnsafe(size));

/** A PATCH whose connection dies after `send` of its `length` bytes (a phone losing signal). */
function cutPatch(url: string, offset: number, body: Buffer, send: number): Promise<void> {
  return new Promise((resolve) => {
    const req = request(url, {
      method: 'PATCH',
      headers: {
        authorization: `token ${TOKEN}`,
        'tus-resumable': '1.0.0',
        'upload-offset': String(offset),
        'content-type': 'application/offset+octet-stream',
        'content-length': String(body.byteLength),
      },
    });
    req.on('error', () => resolve());
    req.on('response', (r) => {
      r.resume();
      resolve();
    });
    req.write(body.subarray(0, send), () => setImmediate(() => req.destroy()));
    req.on('close', () => resolve());
  });
}

const READ_SHA = `import hashlib, os
h = hashlib.sha256()
with open('data.bin', 'rb') as f:
    while True:
        b = f.read(1 << 20)
        if not b:
            break
        h.update(b)
print(h.hexdigest(), os.stat('data.bin').st_size)
`;

describe('job inputs', () => {
  let db: TestDb;
  let store: Store;
  let s: TestServer;
  let rc: RunCell;
  let bigId = '';

  beforeAll(async () => {
    db = await createDb('postgres');
    store = await openStore({
      databaseUrl: db.url,
      dataDir: '/nonexistent',
      poolMax: 4,
      connectTimeoutMs: 2000,
      log,
    });
    s = await startServer(
      SLOT,
      {
        uploadMaxBytes: SIZE + MiB,
        uploadClientMaxBytes: 4 * SIZE,
        jobsMaxInputBytes: SIZE + MiB,
        // Less than the file: it must never pass through the kernel's memory.
        sandboxMemoryBytes: Math.min(256 * MiB, SIZE),
        jobsMaxTimeoutMs: 300_000,
      },
      { store, jobs: true },
    );
    rc = new RunCell({ url: s.base, token: TOKEN });
  }, 120_000);

  afterAll(async () => {
    await s?.stop();
    await store?.close();
    await db?.cleanup();
  });

  it('an interrupted and resumed upload reaches a job, which reads it and prints its sha256', async () => {
    const data = dataset(SIZE);
    const sha = createHash('sha256').update(data).digest('hex');
    let url = '';
    // 1. The client gives up part way (a crash, a closed laptop).
    await expect(
      rc.upload(data, {
        name: 'data.bin',
        chunkBytes: 16 * MiB,
        onCreated: (u) => {
          url = u;
        },
        onProgress: (sent) => {
          if (sent >= SIZE / 3) throw new Error('client stopped');
        },
      }),
    ).rejects.toThrow('client stopped');
    // 2. A PATCH whose connection is cut mid-body: the bytes that arrived are kept.
    const head = await fetch(url, {
      method: 'HEAD',
      headers: { authorization: `token ${TOKEN}`, 'tus-resumable': '1.0.0' },
    });
    const at = Number(head.headers.get('upload-offset'));
    expect(at).toBeGreaterThan(0);
    expect(at).toBeLessThan(SIZE);
    await cutPatch(url, at, data.subarray(at, at + 32 * MiB), 8 * MiB);
    // 3. Resumed from what the server holds.
    const up = await rc.upload(data, { name: 'data.bin', resumeUrl: url, chunkBytes: 16 * MiB });
    expect(up.size).toBe(SIZE);
    bigId = up.id;

    const t0 = Date.now();
    const batch = await rc.submit({ code: READ_SHA, files: [up.id], name: 'sha', timeout: 120 });
    const job = await (batch.jobs[0] as NonNullable<(typeof batch.jobs)[0]>).result();
    await rc.exit();
    expect(job.reason).toBeNull();
    expect(job.state).toBe('succeeded');
    expect(job.result?.stdout.trim()).toBe(`${sha} ${SIZE}`);
    // The placing time is reported, and the input is not collected back as an output.
    expect(job.result?.timings.files_in_ms).toBeGreaterThan(0);
    expect(job.result?.files).toEqual([]);
    expect(Date.now() - t0).toBeLessThan(240_000);
  }, 300_000);

  it('refuses inputs over the limit at submit, naming the limit and how to raise it', async () => {
    expect(bigId).not.toBe('');
    const extra = await rc.upload(Buffer.alloc(MiB + 1, 3), { name: 'c.bin' });
    const r = await fetch(`${s.base}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'pass', files: [bigId, extra.id] }),
    });
    expect(r.status).toBe(413);
    const e = (await r.json()) as { code: string; message: string };
    expect(e.code).toBe('RUNCELL_ERR_JOB_INPUT_TOO_LARGE');
    expect(e.message).toMatch(/RUNCELL_JOBS_MAX_INPUT_BYTES/);
  });

  // The figures operators alert on move when work happens (server/metrics.ts watchJobs, one-shot).
  it('metrics: jobs by state and outcome, durations, input bytes, one-shot executions by status', async () => {
    const scrape = async () => {
      const r = await fetch(`${s.base}/metrics`, { headers: { authorization: `token ${TOKEN}` } });
      expect(r.status).toBe(200);
      return r.text();
    };
    const value = (text: string, series: string) => {
      const line = text.split('\n').find((l) => l.startsWith(`${series} `));
      return line ? Number(line.slice(series.length + 1)) : 0;
    };
    const before = await scrape();
    const ran = await fetch(`${s.base}/api/execute`, {
      method: 'POST',
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: '1/0' }),
    });
    expect(((await ran.json()) as { status: string }).status).toBe('error');
    const after = await scrape();
    expect(value(after, 'runcell_oneshot_executions_total{status="error"}')).toBe(
      value(before, 'runcell_oneshot_executions_total{status="error"}') + 1,
    );
    expect(value(after, 'runcell_oneshot_duration_seconds_count{status="error"}')).toBeGreaterThan(0);
    // The 256 MiB job above: placed, finished, timed.
    expect(value(after, 'runcell_job_input_bytes_total')).toBeGreaterThanOrEqual(SIZE);
    expect(value(after, 'runcell_job_input_seconds_total')).toBeGreaterThan(0);
    expect(value(after, 'runcell_jobs_finished_total{state="succeeded"}')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'runcell_job_duration_seconds_count{state="succeeded"}')).toBeGreaterThanOrEqual(1);
    expect(value(after, 'runcell_job_queue_wait_seconds_count')).toBeGreaterThanOrEqual(1);
    expect(after).toMatch(/^runcell_jobs\{state="queued"\} 0$/m);
  });
});
