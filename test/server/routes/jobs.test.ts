// The jobs routes over HTTP on the real app (auth hook, error handler) with real kernels and
// Postgres: tokens and owners, validation, history filters and pages, long-poll and server-sent
// events resumed from a cursor, cancel and rerun answers, files written by a job.
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { type Stack, startStack, TOKENS } from '../jobs/helpers.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are free-form JSON here
type Json = any;

describe('jobs routes', () => {
  let s: Stack;
  const A = { authorization: `token ${TOKENS[0]}` };
  const B = { authorization: `token ${TOKENS[1]}` };
  const call = async (method: string, path: string, body?: unknown, headers: Record<string, string> = A) => {
    const res = await fetch(s.base + path, {
      method,
      headers: body === undefined ? headers : { ...headers, 'content-type': 'application/json' },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
    });
    const text = await res.text();
    return { status: res.status, body: (text ? JSON.parse(text) : undefined) as Json, headers: res.headers };
  };
  const waitDone = async (id: string, headers = A) => {
    for (let after = 0; ; ) {
      const r = await call('GET', `/api/jobs/events?after=${after}&job=${id}&timeout=10`, undefined, headers);
      after = r.body.cursor;
      if (
        r.body.events.some((e: Json) => ['succeeded', 'failed', 'cancelled', 'timed_out'].includes(e.state))
      )
        return (await call('GET', `/api/jobs/${id}`, undefined, headers)).body;
    }
  };

  beforeAll(async () => {
    s = await startStack(33, {
      http: true,
      poolSize: 1,
      maxKernels: 4,
      limits: { concurrency: 2, perOwner: 2 },
    });
  });
  afterAll(() => s?.stop());

  test('every route needs a token; bodies are validated; errors are {code, message}', async () => {
    expect((await call('GET', '/api/jobs', undefined, {})).body.code).toBe('RUNCELL_ERR_UNAUTHORIZED');
    expect((await call('POST', '/api/jobs', { code: '1' }, {})).status).toBe(401);
    expect((await call('POST', '/api/jobs', { jobs: [] })).status).toBe(400);
    const bad = await call('POST', '/api/jobs', { kode: 'print(1)' });
    expect(bad.status).toBe(400);
    expect(bad.body.code).toBe('RUNCELL_ERR_BAD_REQUEST');
    const kernel = await call('POST', '/api/jobs', { code: '1', kernel: 'cobol' });
    expect(kernel.body).toMatchObject({ code: 'RUNCELL_ERR_JOB_UNKNOWN_KERNEL' });
    const file = await call('POST', '/api/jobs', { code: '1', files: ['AAAAAAAAAAAAAAAAAAAAAA'] });
    expect(file.body.code).toBe('RUNCELL_ERR_JOB_BAD_FILE');
    expect((await call('GET', '/api/jobs/not-a-uuid')).status).toBe(400);
  });

  test('a body over RUNCELL_BODY_LIMIT_BYTES is 413 BODY_TOO_LARGE, as on every route', async () => {
    const big = await s.server?.app.inject({
      method: 'POST',
      url: '/api/jobs',
      headers: { ...A, 'content-type': 'application/json' },
      payload: JSON.stringify({ code: 'x'.repeat(5 * 1024 * 1024) }),
    });
    expect(big?.statusCode).toBe(413);
    expect(big?.json()).toEqual({ code: 'RUNCELL_ERR_BODY_TOO_LARGE', message: expect.any(String) });
  });

  test('submit answers 202 after the insert; owners are isolated on every route', async () => {
    const r = await call('POST', '/api/jobs', { jobs: [{ code: 'print("mine")', tags: ['iso'] }] });
    expect(r.status).toBe(202);
    const id = r.body.jobs[0].id;
    expect(r.body.jobs[0].state).toBe('queued');
    // Committed before the answer: visible at once.
    expect((await call('GET', `/api/jobs/${id}`)).body.id).toBe(id);
    const done = await waitDone(id);
    expect(done.result.stdout).toBe('mine\n');
    for (const [m, p] of [
      ['GET', `/api/jobs/${id}`],
      ['POST', `/api/jobs/${id}/cancel`],
      ['POST', `/api/jobs/${id}/rerun`],
    ] as const) {
      const other = await call(m, p, undefined, B);
      expect(other.status).toBe(404);
      expect(other.body.code).toBe('RUNCELL_ERR_JOB_NOT_FOUND');
    }
    expect((await call('GET', '/api/jobs?tag=iso', undefined, B)).body.jobs).toEqual([]);
    expect((await call('GET', '/api/jobs/events?after=0&timeout=0', undefined, B)).body.events).toEqual([]);
    expect((await call('POST', '/api/jobs/rerun', { states: ['succeeded'] }, B)).body.jobs).toEqual([]);
  });

  test('history: filters by state, tag and time, pages with next', async () => {
    const t0 = new Date().toISOString();
    const r = await call('POST', '/api/jobs', {
      jobs: [1, 2, 3, 4, 5].map((i) => ({ code: i === 5 ? '1/0' : `${i}`, tags: ['hist'] })),
    });
    for (const j of r.body.jobs) await waitDone(j.id);
    const p1 = await call('GET', `/api/jobs?tag=hist&limit=2&since=${encodeURIComponent(t0)}`);
    expect(p1.body.jobs).toHaveLength(2);
    const p2 = await call('GET', `/api/jobs?tag=hist&limit=2&cursor=${p1.body.next}`);
    const p3 = await call('GET', `/api/jobs?tag=hist&limit=2&cursor=${p2.body.next}`);
    const ids = [...p1.body.jobs, ...p2.body.jobs, ...p3.body.jobs].map((j: Json) => j.id);
    expect(ids).toEqual(r.body.jobs.map((j: Json) => j.id).reverse());
    expect(p3.body.next).toBeNull();
    const failed = await call('GET', '/api/jobs?tag=hist&state=failed');
    expect(failed.body.jobs).toHaveLength(1);
    expect((await call('GET', `/api/jobs?tag=hist&until=${encodeURIComponent(t0)}`)).body.jobs).toEqual([]);
    expect((await call('GET', '/api/jobs?state=bogus')).status).toBe(400);
  });

  test('server-sent events: each transition as it happens; a reconnect with Last-Event-ID misses nothing', async () => {
    const r = await call('POST', '/api/jobs', { jobs: [{ code: '1' }, { code: '2' }] });
    const batch = r.body.batch_id;
    const read = async (headers: Record<string, string>, stopAfter: number) => {
      const ac = new AbortController();
      const res = await fetch(`${s.base}/api/jobs/events?batch=${batch}&after=${r.body.cursor}`, {
        headers: { ...A, accept: 'text/event-stream', ...headers },
        signal: ac.signal,
      });
      expect(res.headers.get('content-type')).toMatch(/^text\/event-stream/);
      const got: Json[] = [];
      let buf = '';
      const decoder = new TextDecoder();
      for await (const chunk of res.body as unknown as AsyncIterable<Uint8Array>) {
        buf += decoder.decode(chunk, { stream: true });
        for (let i = buf.indexOf('\n\n'); i >= 0; i = buf.indexOf('\n\n')) {
          const block = buf.slice(0, i);
          buf = buf.slice(i + 2);
          const data = /^data: (.*)$/m.exec(block)?.[1];
          if (data) got.push({ id: Number(/^id: (\d+)$/m.exec(block)?.[1]), ...JSON.parse(data) });
        }
        if (got.length >= stopAfter) break;
      }
      ac.abort();
      return got;
    };
    const first = await read({}, 3);
    expect(first.every((e) => e.id === e.seq)).toBe(true);
    // Reconnect as an EventSource would, from the last id it got.
    const rest = await read({ 'last-event-id': String(first.at(-1).seq) }, 8 - first.length);
    const all = [...first, ...rest];
    expect(all.map((e) => e.seq)).toEqual([...all.map((e) => e.seq)].sort((a, b) => a - b));
    for (const j of r.body.jobs) {
      expect(all.filter((e) => e.job_id === j.id).map((e) => e.state)).toEqual([
        'queued',
        'launched',
        'running',
        'succeeded',
      ]);
    }
  });

  test('cancel and rerun answers; a file written by a job downloads as an attachment', async () => {
    const r = await call('POST', '/api/jobs', {
      code: 'open("page.html", "w").write("<script>alert(1)</script>")',
    });
    const id = r.body.jobs[0].id;
    const d = await waitDone(id);
    expect(d.state).toBe('succeeded');
    const f = d.result.files[0];
    expect(f.name).toBe('page.html');
    const res = await fetch(`${s.base}/api/jobs/${id}/files/${f.id}`, { headers: A });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toBe('application/octet-stream');
    expect(res.headers.get('content-disposition')).toMatch(/^attachment/);
    expect(await res.text()).toBe('<script>alert(1)</script>');
    expect((await fetch(`${s.base}/api/jobs/${id}/files/${f.id}`, { headers: B })).status).toBe(404);
    const c = await call('POST', `/api/jobs/${id}/cancel`);
    expect(c).toMatchObject({ status: 409, body: { code: 'RUNCELL_ERR_JOB_NOT_CANCELLABLE' } });
    const again = await call('POST', `/api/jobs/${id}/rerun`);
    expect(again.status).toBe(202);
    expect(again.body.jobs[0]).toMatchObject({ attempt: 2, rerun_of: id, root_id: id });
    const twice = await call('POST', `/api/jobs/${id}/rerun`);
    expect(twice.body.code).toBe('RUNCELL_ERR_JOB_NOT_RERUNNABLE');
    await waitDone(again.body.jobs[0].id);
  });
});
