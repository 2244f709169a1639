// The runcell command against a real server running in a child process (so it can be SIGKILLed
// mid-batch and started again on the same database and port): output, tables, --json, exit codes,
// one-line errors, upload, and `rerun --aborted` bringing a killed batch to all succeeded.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { type AddressInfo, createServer } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { RunCell } from '../../sdk/index.js';
import { createDb, type TestDb, TOKENS } from '../server/jobs/helpers.js';

const SLOT = 35;
const dir = mkdtempSync(join(tmpdir(), 'runcell-cli-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

interface Result {
  code: number;
  stdout: string;
  stderr: string;
}

function cli(args: string[], env: Record<string, string> = {}): Promise<Result> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'cli/runcell.ts', ...args], {
      env: {
        ...process.env,
        RUNCELL_SERVER: base,
        RUNCELL_TOKEN: TOKENS[0] as string,
        XDG_CACHE_HOME: dir,
        ...env,
      },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

/** A port nothing listens on. */
function freePort(): Promise<number> {
  return new Promise((resolve) => {
    const srv = createServer().listen(0, '127.0.0.1', () => {
      const { port } = srv.address() as AddressInfo;
      srv.close(() => resolve(port));
    });
  });
}

let db: TestDb;
let server: ChildProcess | undefined;
let base = '';
let port = 0;

async function startServer(): Promise<void> {
  const p = spawn(
    process.execPath,
    ['--import', 'tsx', 'test/cli/server.ts', db.url, String(SLOT), String(port)],
    {
      stdio: ['ignore', 'pipe', 'inherit'],
    },
  );
  server = p;
  port = await new Promise<number>((resolve, reject) => {
    let out = '';
    p.stdout?.on('data', (d) => {
      out += d;
      const m = /READY (\d+)/.exec(out);
      if (m) resolve(Number(m[1]));
    });
    p.once('exit', (c) => reject(new Error(`server exited (${c})`)));
  });
  base = `http://127.0.0.1:${port}`;
}

async function stopServer(signal: NodeJS.Signals): Promise<void> {
  const p = server;
  if (!p || p.exitCode !== null) return;
  await new Promise((r) => {
    p.once('exit', r);
    p.kill(signal);
  });
}

describe('runcell CLI', () => {
  beforeAll(async () => {
    db = await createDb('postgres');
    await startServer();
  });
  afterAll(async () => {
    await stopServer('SIGTERM');
    await db?.cleanup();
  });

  test('run: output, exit code from the result, --json', async () => {
    const ok = await cli(['run', file('ok.py', 'print("hello")\n')]);
    expect(ok).toMatchObject({ code: 0, stdout: 'hello\n' });
    const bad = await cli(['run', file('bad.py', 'print("before")\n1/0\n')]);
    expect(bad.code).toBe(1);
    expect(bad.stdout).toBe('before\n');
    expect(bad.stderr).toMatch(/ZeroDivisionError/);
    const json = await cli(['run', '--json', file('ok.py', 'print("hello")\n')]);
    expect(JSON.parse(json.stdout)).toMatchObject({ status: 'ok', stdout: 'hello\n' });
  });

  test('errors are one line and a non-zero exit', async () => {
    const missing = await cli(['run', join(dir, 'nope.py')]);
    expect(missing.code).toBe(2);
    expect(missing.stderr).toBe(`runcell: no such file: ${join(dir, 'nope.py')}\n`);
    const token = await cli(['jobs'], { RUNCELL_TOKEN: 'wrong' });
    expect(token.code).toBe(2);
    expect(token.stderr).toMatch(/^runcell: the server refused the token .*\n$/);
    const closed = await freePort();
    const down = await cli(['jobs', '--server', `http://127.0.0.1:${closed}`]);
    expect(down.code).toBe(2);
    expect(down.stderr).toBe(
      `runcell: cannot reach the server at http://127.0.0.1:${closed} (ECONNREFUSED)\n`,
    );
    const usage = await cli(['frobnicate']);
    expect(usage.code).toBe(2);
  });

  test('submit, jobs, logs, cancel, upload', async () => {
    const a = file('a.py', 'print("A")\n');
    const b = file('b.py', 'import sys; print("B", file=sys.stderr); 1/0\n');
    const r = await cli(['submit', a, b, '--parallel', '1', '--timeout', '20', '--tag', 'cli']);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(/^ID\s+BATCH\s+NAME\s+STATE\s+TRY\s+QUEUED\s+INPUTS\s+SECONDS\s+REASON\n/);
    expect(r.stdout).toMatch(/a\.py\s+succeeded/);
    expect(r.stdout).toMatch(/b\.py\s+failed\s+1\s+([\d.]+\s+)+ZeroDivisionError/);
    // Two files and --parallel 1: still one batch, its id said first.
    const batch = /^batch ([0-9a-f-]{36}): 2 jobs$/m.exec(r.stderr)?.[1];
    expect(batch, r.stderr).toBeDefined();
    expect(r.stdout.match(new RegExp(`^\\S+\\s+${batch?.slice(0, 8)}\\s`, 'gm'))).toHaveLength(2);
    const list = await cli(['jobs', '--state', 'succeeded', '--tag', 'cli', '--json']);
    const jobs = JSON.parse(list.stdout).jobs as { id: string; name: string }[];
    expect(jobs.map((j) => j.name)).toEqual(['a.py']);
    const logs = await cli(['logs', jobs[0]?.id as string]);
    expect(logs).toMatchObject({ code: 0, stdout: 'A\n' });
    const rc = new RunCell({ url: base, token: TOKENS[0] as string });
    const [slow] = (await rc.submit('import time; time.sleep(30)')).jobs;
    const c = await cli(['cancel', slow?.id as string]);
    expect(c).toMatchObject({ code: 0, stdout: `${slow?.id} cancelled\n` });
    const up = await cli(['upload', file('data.txt', 'x'.repeat(1000))]);
    expect(up.code).toBe(0);
    expect(up.stdout).toMatch(/^[A-Za-z0-9_-]{22}\n$/);
    // --file: a local path is uploaded under NAME, an upload id is used as it is.
    const reader = file('read.py', "print(len(open('local.txt').read()), len(open('data.txt').read()))\n");
    const local = file('local-source.txt', 'y'.repeat(321));
    const withFiles = await cli([
      'submit',
      reader,
      '--file',
      `local.txt=${local}`,
      '--file',
      `data.txt=${up.stdout.trim()}`,
      '--json',
    ]);
    expect(withFiles.code, withFiles.stderr).toBe(0);
    expect(JSON.parse(withFiles.stdout)[0].result.stdout).toBe('321 1000\n');
    const renamed = await cli(['submit', reader, '--file', `other.txt=${up.stdout.trim()}`]);
    expect(renamed.code).toBe(2);
    expect(renamed.stderr).toMatch(/that upload is named "data\.txt"; use --file data\.txt=/);
    const bad = await cli(['submit', reader, '--file', 'no-equals-sign']);
    expect(bad).toMatchObject({
      code: 2,
      stderr: 'runcell: --file takes NAME=PATH_OR_UPLOAD, not "no-equals-sign"\n',
    });
  });

  test('server killed mid-batch: running jobs are aborted, `rerun --aborted` brings the batch to all succeeded', async () => {
    const files = [0, 1, 2, 3].map((i) => file(`k${i}.py`, `import time; time.sleep(3); print(${i})\n`));
    const rc = new RunCell({ url: base, token: TOKENS[0] as string, pollSeconds: 2 });
    const submitted = cli(['submit', ...files, '--tag', 'kill', '--json']);
    // Wait until two run (the server's bound), then kill the server outright.
    for (;;) {
      const running = await rc.list({ tag: 'kill', state: 'running' });
      if (running.jobs.length === 2) break;
      await new Promise((r) => setTimeout(r, 100));
    }
    await stopServer('SIGKILL');
    await startServer();
    const done = await submitted; // the CLI rode out the restart and reports what it saw
    expect(done.code).toBe(1);
    const aborted = await cli(['jobs', '--state', 'aborted', '--tag', 'kill', '--json']);
    const ab = JSON.parse(aborted.stdout).jobs as { reason: string }[];
    expect(ab).toHaveLength(2);
    for (const j of ab) expect(j.reason).toMatch(/server stopped while the job was running/);
    const rerun = await cli(['rerun', '--aborted', '--json']);
    expect(rerun.code, rerun.stderr).toBe(0);
    expect(
      (JSON.parse(rerun.stdout) as { state: string; attempt: number }[]).map((j) => [j.state, j.attempt]),
    ).toEqual([
      ['succeeded', 2],
      ['succeeded', 2],
    ]);
    const latest = await rc.list({ tag: 'kill' });
    expect(latest.jobs.map((j) => j.state)).toEqual(['succeeded', 'succeeded', 'succeeded', 'succeeded']);
  }, 90_000);

  test('20 files are one batch; the CLI says when the server is unreachable; rerun --batch touches only that batch', async () => {
    const rc = new RunCell({ url: base, token: TOKENS[0] as string, pollSeconds: 2 });
    // Another batch of the same token, aborted by the same kill: a rerun of the 20 must leave it be.
    const [other] = (await rc.submit({ code: 'import time; time.sleep(120)', tags: ['other'] })).jobs;
    const files = Array.from({ length: 20 }, (_, i) => file(`b${i}.py`, `print(${i})\n`));
    const child = spawn(
      process.execPath,
      ['--import', 'tsx', 'cli/runcell.ts', 'submit', ...files, '--parallel', '5', '--json'],
      {
        env: {
          ...process.env,
          RUNCELL_SERVER: base,
          RUNCELL_TOKEN: TOKENS[0] as string,
          XDG_CACHE_HOME: dir,
        },
      },
    );
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d) => (stdout += d));
    child.stderr.on('data', (d) => (stderr += d));
    const exited = new Promise<number>((r) => child.on('close', (c) => r(c ?? -1)));
    const until = async (what: string, ok: () => boolean | Promise<boolean>) => {
      const deadline = Date.now() + 30_000;
      while (!(await ok())) {
        if (Date.now() > deadline) throw new Error(`${what}; stderr: ${stderr}`);
        await new Promise((r) => setTimeout(r, 50));
      }
    };
    // Two lines, which may reach us in separate chunks: wait for both.
    await until(
      'no batch id, or no notice of the server limit',
      () =>
        /^batch [0-9a-f-]{36}: 20 jobs$/m.test(stderr) &&
        /^running 2 at a time: the server's limit for your token$/m.test(stderr),
    );
    const batch = /^batch ([0-9a-f-]{36})/m.exec(stderr)?.[1] as string;
    // The batch id comes first.
    expect(stderr.indexOf('batch ')).toBe(0);
    await until('three jobs of the batch never succeeded', async () => {
      const r = await rc.list({ batch, state: 'succeeded', limit: 500 });
      return r.jobs.length >= 3;
    });
    await stopServer('SIGKILL');
    await until('the CLI never said the server was unreachable', () =>
      stderr.includes('runcell: server unreachable, retrying…'),
    );
    await startServer();
    const code = await exited;
    expect(stderr).toMatch(/server reachable again/);
    const jobs = JSON.parse(stdout) as {
      batch_id: string;
      state: string;
      attempt: number;
      seconds: { queued: number | null; running: number | null };
    }[];
    expect(jobs).toHaveLength(20);
    expect(new Set(jobs.map((j) => j.batch_id))).toEqual(new Set([batch]));
    const aborted = jobs.filter((j) => j.state === 'aborted').length;
    expect(code).toBe(aborted > 0 ? 1 : 0);
    for (const j of jobs) expect(['succeeded', 'aborted']).toContain(j.state);
    for (const j of jobs.filter((x) => x.state === 'succeeded')) expect(j.seconds.running).not.toBeNull();

    const rerun = await cli(['rerun', '--batch', batch, '--aborted', '--json']);
    expect(rerun.code, rerun.stderr).toBe(0);
    const again = JSON.parse(rerun.stdout) as { batch_id: string; state: string; attempt: number }[];
    expect(again).toHaveLength(aborted);
    for (const j of again) expect(j).toMatchObject({ batch_id: batch, state: 'succeeded', attempt: 2 });
    const latest = await rc.list({ batch, limit: 500 });
    expect(latest.jobs.filter((j) => j.state === 'succeeded')).toHaveLength(20);
    // The other batch's job was aborted by the same kill and is left as it was.
    const o = await rc.get(other?.id as string);
    expect(o).toMatchObject({ state: 'aborted', superseded_by: null });
    await rc.exit({ timeout: 0 });
  }, 120_000);
});
