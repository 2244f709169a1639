// The well-behaved users of the soak run (bench/soak.ts), each a loop with think times: websocket cells
// (numpy and matplotlib now and then), long-poll cells, one-shot /api/execute with permalinks fetched
// back, jobs through the SDK watched to completion, and tus uploads (SDK) placed into a kernel or handed
// to a job and read back. Every step is an operation: timed, and an error when the status or the
// result is not the expected one. Every kernel a user creates is deleted before its loop goes on.
import { createHash, randomBytes } from 'node:crypto';
import { RunCell } from '../../sdk/index.js';
import { call, check, KernelSocket, PollSession, type Run } from './soak-clients.js';

export interface Env {
  base: string;
  wsBase: string;
  /** Token headers: these users hold the API token (exempt from per-IP limits, like a backend). */
  headers: Record<string, string>;
  token: string;
  running(): boolean;
  /** Sleeps, cut short when the run ends. */
  sleep(ms: number): Promise<void>;
  /** Times fn as one operation; undefined (counted as an error, with its message) when it throws. */
  op<T>(name: string, fn: () => Promise<T>): Promise<T | undefined>;
  /** A websocket client is open (for the forging attacker's aim and the FORGED watch). */
  watch(sock: KernelSocket): void;
}

const between = (lo: number, hi: number) => lo + Math.random() * (hi - lo);

/** The run ended normally with status ok (else throws with what came back). */
function ok(r: Run, what: string): Run {
  const state = r.timedOut
    ? 'timed out'
    : r.dead
      ? `kernel died: ${r.dead}`
      : r.closed
        ? 'socket closed'
        : '';
  check(!state, `${what}: ${state}`);
  check(
    r.reply?.status === 'ok',
    `${what}: ${r.reply?.status} ${r.reply?.ename ?? ''} ${r.stderr.slice(0, 200)}`,
  );
  return r;
}

async function createKernel(env: Env): Promise<string> {
  const r = await call(env.base, 'POST', '/api/kernels', env.headers, {});
  check(
    r.status === 201 && typeof r.body?.id === 'string',
    `POST /api/kernels: ${r.status} ${JSON.stringify(r.body)}`,
  );
  return r.body.id as string;
}

async function deleteKernel(env: Env, id: string): Promise<void> {
  await env.op('kernel.delete', async () => {
    const r = await call(env.base, 'DELETE', `/api/kernels/${id}`, env.headers);
    check(r.status === 204, `DELETE /api/kernels: ${r.status} ${JSON.stringify(r.body)}`);
    return true;
  });
}

interface Cell {
  op: string;
  code: string;
  check(r: Run): boolean;
}

function cellsFor(session: number): Cell[] {
  const cells: Cell[] = [
    { op: 'cell', code: '1+1', check: (r) => r.outputs.some((d) => d['text/plain'] === '2') },
    { op: 'cell', code: 'x = sum(range(10**5)); print(x)', check: (r) => r.stdout === '4999950000\n' },
    {
      op: 'cell',
      code: 's = "".join(str(i) for i in range(1000)); print(len(s))',
      check: (r) => r.stdout === '2890\n',
    },
  ];
  if (session % 3 === 0)
    cells.push({
      op: 'cell.numpy',
      code: 'import numpy as np\na = np.arange(1000)\nprint(int(a.sum()), a.reshape(10, 100).shape)',
      check: (r) => r.stdout === '499500 (10, 100)\n',
    });
  if (session % 5 === 0)
    cells.push({
      op: 'cell.matplotlib',
      code: '%matplotlib inline\nimport matplotlib.pyplot as plt\nplt.plot([1, 3, 2])\nplt.show()',
      check: (r) => r.outputs.some((d) => typeof d['image/png'] === 'string'),
    });
  cells.push({ op: 'cell', code: 'print(x // 2)', check: (r) => r.stdout === '2499975000\n' });
  return cells;
}

/** Create a kernel, connect over the websocket, run a few cells, disconnect, delete. */
export async function websocketUser(env: Env): Promise<void> {
  for (let n = 0; env.running(); n++) {
    const id = await env.op('kernel.create', () => createKernel(env));
    if (id) {
      try {
        const sock = await env.op('ws.open', () => KernelSocket.open(env.wsBase, id, env.headers));
        if (sock) {
          env.watch(sock);
          for (const cell of cellsFor(n)) {
            const done = await env.op(cell.op, async () => {
              const r = ok(await sock.run(cell.code), cell.op);
              check(cell.check(r), `${cell.op}: wrong result ${JSON.stringify(r.stdout.slice(0, 200))}`);
              return true;
            });
            if (!done || !env.running()) break;
            await env.sleep(between(500, 1_500));
          }
          await sock.close();
        }
      } finally {
        await deleteKernel(env, id);
      }
    }
    await env.sleep(between(2_000, 4_000));
  }
}

/** The same over long-poll, plus one poll held until it times out empty-handed. */
export async function longPollUser(env: Env): Promise<void> {
  for (let n = 0; env.running(); n++) {
    const id = await env.op('kernel.create', () => createKernel(env));
    if (id) {
      try {
        const ps = new PollSession(env.base, id, env.headers);
        if (await env.op('poll.init', () => ps.init().then(() => true))) {
          for (let i = 0; i < 3 && env.running(); i++) {
            const done = await env.op('poll.cell', async () => {
              const r = ok(await ps.run(`print(${n} + ${i})`), 'poll.cell');
              check(r.stdout === `${n + i}\n`, `poll.cell: wrong result ${JSON.stringify(r.stdout)}`);
              return true;
            });
            if (!done) break;
            await env.sleep(between(300, 800));
          }
          await env.op('poll.hold', async () => {
            const t0 = performance.now();
            await ps.poll(1);
            check(performance.now() - t0 >= 900, 'poll.hold: answered before its hold ended');
            return true;
          });
        }
      } finally {
        await deleteKernel(env, id);
      }
    }
    await env.sleep(between(2_000, 4_000));
  }
}

/** One-shot execution with a permalink, then the permalink read back (JSON and page). */
export async function executeUser(env: Env): Promise<void> {
  for (let n = 1; env.running(); n++) {
    const id = await env.op('execute', async () => {
      const r = await call(env.base, 'POST', '/api/execute', env.headers, {
        code: `print(${n} * 2)\n${n} + 1`,
        permalink: true,
      });
      check(r.status === 200, `POST /api/execute: ${r.status} ${JSON.stringify(r.body)}`);
      check(
        r.body.status === 'ok' && r.body.stdout === `${2 * n}\n` && r.body.result === `${n + 1}`,
        `execute: wrong result ${JSON.stringify(r.body).slice(0, 300)}`,
      );
      check(typeof r.body.permalink?.id === 'string', 'execute: no permalink');
      return r.body.permalink.id as string;
    });
    if (id) {
      await env.op('permalink.get', async () => {
        const r = await call(env.base, 'GET', `/api/permalinks/${id}`, env.headers);
        check(r.status === 200 && r.body?.code === `print(${n} * 2)\n${n} + 1`, `permalink: ${r.status}`);
        return true;
      });
      await env.op('permalink.page', async () => {
        const r = await call(env.base, 'GET', `/p/${id}`, {});
        check(
          r.status === 200 && (r.headers.get('content-type') ?? '').includes('text/html'),
          `/p: ${r.status}`,
        );
        return true;
      });
    }
    await env.sleep(between(4_000, 7_000));
  }
}

/** Waits for a batch's results, at most `ms`. */
function within<T>(p: Promise<T>, ms: number, what: string): Promise<T> {
  let t: NodeJS.Timeout | undefined;
  return Promise.race([
    p,
    new Promise<T>((_, reject) => {
      t = setTimeout(() => reject(new Error(`${what}: not final within ${ms / 1000} s`)), ms);
    }),
  ]).finally(() => clearTimeout(t));
}

/** Two jobs through the SDK, watched to completion; the file one of them wrote, fetched back. */
export async function jobsUser(env: Env): Promise<void> {
  for (let n = 1; env.running(); n++) {
    const rc = new RunCell({ url: env.base, token: env.token, pollSeconds: 10 });
    try {
      const file = await env.op('job', async () => {
        const batch = await rc.submit([
          { code: `print(${n})` },
          { code: `open("out.txt", "w").write("job-${n}")\nprint("wrote")` },
        ]);
        const [a, b] = await within(batch.results(), 90_000, 'jobs');
        check(a?.state === 'succeeded' && a.result?.stdout === `${n}\n`, `job: ${a?.state} ${a?.reason}`);
        check(b?.state === 'succeeded', `job: ${b?.state} ${b?.reason}`);
        const f = b.result?.files.find((x) => x.name === 'out.txt');
        check(f, `job: out.txt not collected (${JSON.stringify(b.result?.files)})`);
        return { job: b.id, id: f.id };
      });
      if (file)
        await env.op('job.file', async () => {
          const bytes = await rc.file(file.job, file.id);
          check(bytes.toString() === `job-${n}`, 'job.file: wrong content');
          return true;
        });
    } finally {
      await rc.exit({ timeout: 0 });
    }
    await env.sleep(between(8_000, 12_000));
  }
}

/** A tus upload (SDK), then placed in a kernel's work dir (even rounds) or given to a job (odd), read back. */
export async function uploadUser(env: Env): Promise<void> {
  for (let n = 1; env.running(); n++) {
    const data = randomBytes(Math.round(between(64 * 1024, 1024 * 1024)));
    const sha = createHash('sha256').update(data).digest('hex');
    const name = `in-${n}.bin`;
    const read = `import hashlib\nprint(hashlib.sha256(open(${JSON.stringify(name)}, "rb").read()).hexdigest())`;
    const rc = new RunCell({ url: env.base, token: env.token, pollSeconds: 10 });
    try {
      const up = await env.op('upload', async () => {
        const u = await rc.upload(data, { name, chunkBytes: 256 * 1024 });
        check(u.size === data.length, `upload: size ${u.size}`);
        return u;
      });
      if (!up) continue;
      if (n % 2 === 0) {
        const id = await env.op('kernel.create', () => createKernel(env));
        if (!id) continue;
        try {
          const placed = await env.op('upload.place', async () => {
            const r = await call(env.base, 'POST', `/api/kernels/${id}/files`, env.headers, {
              upload: up.id,
              name,
            });
            check(
              r.status === 201 && r.body?.size === data.length,
              `files: ${r.status} ${JSON.stringify(r.body)}`,
            );
            return true;
          });
          const sock = placed
            ? await env.op('ws.open', () => KernelSocket.open(env.wsBase, id, env.headers))
            : undefined;
          if (sock) {
            env.watch(sock);
            await env.op('upload.readback', async () => {
              const r = ok(await sock.run(read), 'upload.readback');
              check(r.stdout === `${sha}\n`, 'upload.readback: wrong sha256');
              return true;
            });
            await sock.close();
          }
        } finally {
          await deleteKernel(env, id);
        }
      } else {
        await env.op('upload.job', async () => {
          const batch = await rc.submit({ code: read, files: [up.id] });
          const [d] = await within(batch.results(), 90_000, 'upload job');
          check(
            d?.state === 'succeeded' && d.result?.stdout === `${sha}\n`,
            `upload.job: ${d?.state} ${d?.reason}`,
          );
          return true;
        });
      }
    } finally {
      await rc.exit({ timeout: 0 });
      await env.sleep(between(8_000, 12_000));
    }
  }
}
