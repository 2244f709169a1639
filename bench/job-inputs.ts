// Input placement rate: how fast an uploaded data set reaches a job's working directory, driven as a
// user's client does (SDK over HTTP: upload, submit, wait for the final event), on real Postgres and
// real sandboxed kernels. For each size:
//   after:  the job reads its input and prints its sha256; placement = the job's wall time (submit
//           to final event) minus that of the same job without the input, in the same run
//           (interleaved samples); the server's own `files_in_ms` is printed beside it;
//   before: main's way (before this change), in the same process: the upload read into memory and
//           written by the kernel from one base64 execute_request (the code main's runner sent).
//   node --import tsx bench/job-inputs.ts      (BENCH_SIZES_MIB=256,1024 BENCH_SAMPLES=3)
import { createHash, randomFillSync } from 'node:crypto';
import { RunCell } from '../sdk/index.js';
import { openStore } from '../server/store/db.js';
import { startServer, TOKEN } from '../test/server/helpers.js';
import { createDb, log } from '../test/server/jobs/helpers.js';
import { report } from './stats.js';

const MiB = 2 ** 20;
const SIZES = (process.env.BENCH_SIZES_MIB ?? '16,256,1024').split(',').map(Number);
const SAMPLES = Number(process.env.BENCH_SAMPLES ?? 3);
const biggest = Math.max(...SIZES) * MiB;

const db = await createDb('postgres');
const store = await openStore({
  databaseUrl: db.url,
  dataDir: '/nonexistent',
  poolMax: 4,
  connectTimeoutMs: 2000,
  log,
});
const s = await startServer(
  102,
  {
    uploadMaxBytes: biggest + MiB,
    uploadClientMaxBytes: 8 * biggest,
    jobsMaxInputBytes: biggest + MiB,
    jobsMaxTimeoutMs: 600_000,
    poolSize: 2,
  },
  { store, jobs: true },
);
const rc = new RunCell({ url: s.base, token: TOKEN });

/** Reads the file in 1 MiB blocks and prints its sha256. */
const READ = (name: string) =>
  `import hashlib\nh = hashlib.sha256()\nwith open(${JSON.stringify(name)}, 'rb') as f:\n` +
  '    for b in iter(lambda: f.read(1 << 20), b""):\n        h.update(b)\nprint(h.hexdigest())\n';

async function job(code: string, files: string[]) {
  const t0 = performance.now();
  const b = await rc.submit({ code, files, timeout: 600 });
  const d = await (b.jobs[0] as NonNullable<(typeof b.jobs)[0]>).result();
  return { ms: performance.now() - t0, d };
}

/** Main's placement: the whole upload in memory, one execute_request with it as base64. */
async function before(uploadId: string, name: string): Promise<{ ms: number; error?: string }> {
  const k = await s.manager.start();
  const t0 = performance.now();
  try {
    const { data } = await store.uploads.read(uploadId);
    const parts: Buffer[] = [];
    for await (const p of data) parts.push(p);
    const b64 = Buffer.concat(parts).toString('base64');
    const code = [
      'def __runcell_place(files):',
      '    import base64, os',
      '    for name, b64 in files:',
      '        fd = os.open(name, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o644)',
      '        with os.fdopen(fd, "wb") as f:',
      '            f.write(base64.b64decode(b64))',
      `__runcell_place([(${JSON.stringify(name)}, ${JSON.stringify(b64)})])`,
    ].join('\n');
    let status = '';
    let err = '';
    for await (const m of k.execute(code, { storeHistory: false })) {
      const c = m.content as { status?: string; ename?: string; evalue?: string };
      if (m.header.msg_type === 'execute_reply') status = String(c.status);
      if (m.header.msg_type === 'error') err = `${c.ename}: ${c.evalue}`;
    }
    if (status !== 'ok') return { ms: performance.now() - t0, error: err || `execute_reply ${status}` };
    return { ms: performance.now() - t0 };
  } catch (e) {
    return { ms: performance.now() - t0, error: e instanceof Error ? e.message.slice(0, 120) : String(e) };
  } finally {
    await k.shutdown('bench').catch(() => undefined);
  }
}

const rows: Record<string, number | string | null>[] = [];
const med = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number;
try {
  for (const mib of SIZES) {
    const data = randomFillSync(Buffer.allocUnsafe(mib * MiB));
    const sha = createHash('sha256').update(data).digest('hex');
    const up = await rc.upload(data, { name: 'data.bin', chunkBytes: 16 * MiB });
    const placed: number[] = [];
    const server: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const without = await job(READ('/dev/null'), []);
      const withInput = await job(READ('data.bin'), [up.id]);
      if (withInput.d.result?.stdout.trim() !== sha) throw new Error(`wrong sha: ${withInput.d.reason}`);
      // The outside view is the whole difference (placing and reading it); the server's timing is
      // the placing alone.
      placed.push(withInput.ms - without.ms);
      server.push(withInput.d.result?.timings.files_in_ms ?? Number.NaN);
    }
    const old = await before(up.id, 'data.bin');
    const mbs = (ms: number) => Math.round((mib * MiB) / 1e6 / (ms / 1000));
    const row = {
      mib,
      after_outside_ms: Math.round(med(placed)),
      after_outside_mb_s: mbs(med(placed)),
      after_files_in_ms: Math.round(med(server)),
      after_mb_s: mbs(med(server)),
      before_ms: Math.round(old.ms),
      before: old.error ? `fails after ${Math.round(old.ms)} ms: ${old.error}` : `${mbs(old.ms)} MB/s`,
      speedup: old.error ? null : Math.round((old.ms / med(server)) * 10) / 10,
    };
    rows.push(row);
    process.stderr.write(`${JSON.stringify(row)}\n`);
  }
  report(
    'job-inputs',
    { samples: SAMPLES, rows },
    rows
      .map(
        (r) =>
          `${r.mib} MiB: after ${r.after_mb_s} MB/s placing (${r.after_outside_mb_s} MB/s seen from outside, ` +
          `placing and reading), before ${r.before}`,
      )
      .join('; '),
  );
} finally {
  await rc.exit({ timeout: 0 });
  await s.stop();
  await store.close();
  await db.cleanup();
}
