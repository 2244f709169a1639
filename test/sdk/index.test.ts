// The SDK against a real server (real app, jobs and uploads routes, real kernels, Postgres):
// execute, blocking and event styles, async iterators, uploads as inputs and files as outputs,
// exit() reports, and errors as RunCellError.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type JobEvent, RunCell, RunCellError } from '../../sdk/index.js';
import { type Stack, startStack, TOKENS } from '../server/jobs/helpers.js';

describe('sdk', () => {
  let s: Stack;
  let rc: RunCell;
  beforeAll(async () => {
    s = await startStack(34, {
      http: true,
      poolSize: 2,
      maxKernels: 5,
      limits: { concurrency: 2, perOwner: 2 },
    });
    rc = new RunCell({ url: s.base, token: TOKENS[0] as string, pollSeconds: 5 });
  });
  afterAll(() => s?.stop());

  test('execute returns the outputs of a one-shot run', async () => {
    const r = await rc.execute('print("hi")\n6 * 7');
    expect(r.status).toBe('ok');
    expect(r.stdout).toBe('hi\n');
    expect(r.result).toBe('42');
  });

  test('blocking style: submit, then await each result; event style sees every transition in order', async () => {
    const seen = new Map<string, string[]>();
    const onState = (e: JobEvent) => seen.set(e.job_id, [...(seen.get(e.job_id) ?? []), e.state]);
    rc.on('state', onState);
    const batch = await rc.submit(['print(1)', { code: '1/0', name: 'bad' }]);
    const [ok, bad] = await batch.results();
    rc.off('state', onState);
    expect(ok?.state).toBe('succeeded');
    expect(ok?.result?.stdout).toBe('1\n');
    expect(bad?.state).toBe('failed');
    expect(bad?.result?.error?.ename).toBe('ZeroDivisionError');
    for (const j of batch.jobs) {
      expect(seen.get(j.id)).toEqual(['queued', 'launched', 'running', j.detail?.state]);
    }
  });

  test('async iterators: a batch yields every transition until all are final', async () => {
    const batch = await rc.submit(['1', '2']);
    const states: string[] = [];
    for await (const e of batch.events())
      states.push(`${e.job_id === batch.jobs[0]?.id ? 'a' : 'b'}:${e.state}`);
    expect(states.filter((x) => x.startsWith('a'))).toEqual([
      'a:queued',
      'a:launched',
      'a:running',
      'a:succeeded',
    ]);
    expect(states.filter((x) => x.startsWith('b'))).toEqual([
      'b:queued',
      'b:launched',
      'b:running',
      'b:succeeded',
    ]);
    const one: string[] = [];
    const again = await rc.rerun(batch.jobs[0]?.id as string);
    for await (const e of again.events()) one.push(e.state);
    expect(one).toEqual(['queued', 'launched', 'running', 'succeeded']);
    expect((await again.result()).attempt).toBe(2);
  });

  test('an uploaded file is a job input; a file the job writes comes back', async () => {
    const up = await rc.upload(Buffer.from('a,b\n1,2\n'), { name: 'data.csv' });
    const [job] = (
      await rc.submit({
        code: 'rows = open("data.csv").read().splitlines()\nopen("count.txt", "w").write(str(len(rows)))',
        files: [up.id],
      })
    ).jobs;
    const d = await job?.result();
    expect(d?.state, d?.reason ?? '').toBe('succeeded');
    const files = d?.result?.files ?? [];
    expect(files.map((f) => f.name)).toEqual(['count.txt']);
    expect((await rc.file(d?.id as string, files[0]?.id as string)).toString()).toBe('2');
  });

  test('exit({timeout}) reports which jobs finished and which did not', async () => {
    const c = new RunCell({ url: s.base, token: TOKENS[0] as string, pollSeconds: 2 });
    const b = await c.submit(['1', 'import time; time.sleep(30)']);
    await b.jobs[0]?.result();
    const report = await c.exit({ timeout: 0.5 });
    expect(report.finished.map((j) => j.id)).toEqual([b.jobs[0]?.id]);
    expect(report.unfinished.map((h) => h.id)).toEqual([b.jobs[1]?.id]);
    expect((await c.cancel(b.jobs[1]?.id as string)).state).toBe('cancelled');
  });

  test('errors: a bad token, a job of another token, an unreachable server', async () => {
    const bad = new RunCell({ url: s.base, token: 'nope' });
    await expect(bad.list()).rejects.toMatchObject({ code: 'RUNCELL_ERR_UNAUTHORIZED', status: 401 });
    const [j] = (await rc.submit('1')).jobs;
    const other = new RunCell({ url: s.base, token: TOKENS[1] as string });
    await expect(other.get(j?.id as string)).rejects.toMatchObject({ code: 'RUNCELL_ERR_JOB_NOT_FOUND' });
    await j?.result();
    const down = new RunCell({ url: 'http://127.0.0.1:9', token: 'x' });
    const e = await down.list().catch((x: unknown) => x);
    expect(e).toBeInstanceOf(RunCellError);
    expect((e as RunCellError).code).toBe('RUNCELL_ERR_CONNECTION');
  });
});
