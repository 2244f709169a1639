// Long-poll for a whole page against real kernels, as anonymous visitors from an allowed origin: one
// poll carries every kernel of a page, every stream resumes after dropped polls with nothing lost or
// repeated, a held poll gives way to a new stream, interrupt and restart answer promptly while the page polls, the page's kernels end with
// its connections (or at once on its beacon), per-page limits sit under per-address ceilings, and bad
// input gets a 4xx JSON answer.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, executeMsg, type Json, startServer, type TestServer, waitFor } from '../helpers.js';

const SLOT = 60;
const ORIGIN = 'https://course.example';
let s: TestServer;

beforeAll(async () => {
  s = await startServer(SLOT, {
    poolSize: 2,
    maxKernels: 8,
    allowedOrigins: [ORIGIN],
    trustProxy: true,
    pageMaxKernels: 2,
    ipMaxKernels: 3,
    // Room for a starved test process between two polls (a CPU hog beside the suite took more than
    // 500 ms, and the page's kernels ended mid-test); the grace test below waits it out.
    pageGraceMs: 3_000,
  });
});
afterAll(async () => {
  await s?.stop();
});

/** A visitor: its own address, and a page id as the embed makes one. */
function visitor(ip: string) {
  const page = randomUUID();
  const headers = { origin: ORIGIN, 'x-forwarded-for': ip };
  return {
    page,
    headers,
    call: (method: string, path: string, body?: unknown) => api(s, method, path, body, headers),
    async kernel(): Promise<string> {
      const r = await api(s, 'POST', `/api/kernels?page=${page}`, {}, headers);
      expect(r.status).toBe(201);
      return r.body.id;
    },
  };
}

interface StreamState {
  kernel: string;
  session: string;
  after?: number;
  seen: Json[];
}

/** One page poll; `signal` drops it. Folds every stream's answer into its state. */
async function pollOnce(
  v: ReturnType<typeof visitor>,
  streams: StreamState[],
  timeout = 5,
  signal?: AbortSignal,
): Promise<Json> {
  const res = await fetch(`${s.base}/api/poll/${streams[0]?.kernel ?? 'none'}`, {
    method: 'POST',
    headers: { ...v.headers, 'content-type': 'text/plain;charset=UTF-8' },
    body: JSON.stringify({
      page: v.page,
      timeout,
      streams: streams.map(({ kernel, session, after }) => ({ kernel, session, after })),
    }),
    ...(signal ? { signal } : {}),
  });
  expect(res.status).toBe(200);
  const body = (await res.json()) as Json;
  body.streams.forEach((a: Json, i: number) => {
    const st = streams[i] as StreamState;
    expect(a.kernel).toBe(st.kernel);
    st.seen.push(...a.messages);
    st.after = a.next;
  });
  return body;
}

/** Spec: the reply, then idle for that request, means every output of it has been sent. */
const replied = (st: StreamState, msgId: string) =>
  st.seen.some((m) => m.header.msg_type === 'execute_reply' && m.parent_header.msg_id === msgId) &&
  st.seen.some(
    (m) =>
      m.header.msg_type === 'status' &&
      m.content.execution_state === 'idle' &&
      m.parent_header.msg_id === msgId,
  );
const stdout = (st: StreamState) =>
  st.seen
    .filter((m) => m.header.msg_type === 'stream')
    .map((m) => m.content.text)
    .join('');

async function send(v: ReturnType<typeof visitor>, st: StreamState, code: string): Promise<string> {
  const m = executeMsg(code, st.session);
  const r = await v.call('POST', `/api/poll/${st.kernel}/messages`, {
    messages: [{ kernel: st.kernel, session: st.session, message: m }],
  });
  expect(r.body).toEqual({ accepted: 1, gone: [] });
  return m.header.msg_id;
}

describe('POST /api/poll/:kernel: a page long-polls every kernel at once', () => {
  const v = visitor('198.51.100.1');
  let a: StreamState;
  let b: StreamState;

  it('one poll carries the output of every kernel of the page, each stream with its own cursor', async () => {
    a = { kernel: await v.kernel(), session: randomUUID(), seen: [] };
    b = { kernel: await v.kernel(), session: randomUUID(), seen: [] };
    await pollOnce(v, [a, b], 0);
    const ids = [await send(v, a, 'print("from a")'), await send(v, b, 'print("from b")')];
    for (let i = 0; i < 40 && !(replied(a, ids[0] as string) && replied(b, ids[1] as string)); i++)
      await pollOnce(v, [a, b]);
    expect(stdout(a)).toBe('from a\n');
    expect(stdout(b)).toBe('from b\n');
  });

  it('a held poll ends when a stream it lacks sends (a new cell), so the next poll carries it', async () => {
    // The page's poll carries a only; b is a cell whose kernel the page started meanwhile.
    const fresh: StreamState = { kernel: b.kernel, session: randomUUID(), seen: [] };
    const held = pollOnce(v, [a], 120);
    // b's first message ends the held poll (or the poll on its way, on arrival): it is not held for
    // its whole timeout (25 s here), which the race's 10 s bound stands for.
    const id = await send(v, fresh, 'print("new cell")');
    const bound = new Promise((r) => setTimeout(r, 10_000, 'still held'));
    expect(await Promise.race([held.then(() => 'answered'), bound])).toBe('answered');
    for (let i = 0; i < 40 && !replied(fresh, id); i++) await pollOnce(v, [a, fresh]);
    expect(stdout(fresh)).toBe('new cell\n');
    // One log per kernel: b's own stream moves past what this session's run printed.
    b.after = fresh.after;
  });

  it('resumes every stream after dropped polls: nothing lost, nothing repeated', async () => {
    a.seen = [];
    b.seen = [];
    const code = (tag: string) =>
      `import time\nfor i in range(60):\n    print("${tag}", i, flush=True)\n    time.sleep(0.02)`;
    const ids = [await send(v, a, code('a')), await send(v, b, code('b'))];
    let drops = 0;
    for (let i = 0; i < 400 && !(replied(a, ids[0] as string) && replied(b, ids[1] as string)); i++) {
      if (i % 2 === 0) {
        // An answer lost on the way (the server sent it; the client never saw it): the next poll, from
        // the same cursors, must carry it again.
        const lost = [a, b].map((st) => ({ ...st, seen: [] as Json[] }));
        await pollOnce(v, lost, 5);
        if (lost.some((st) => st.seen.length > 0)) drops++;
      } else await pollOnce(v, [a, b]);
    }
    expect(drops).toBeGreaterThan(0);
    const expected = (tag: string) => Array.from({ length: 60 }, (_, i) => `${tag} ${i}\n`).join('');
    expect(stdout(a)).toBe(expected('a'));
    expect(stdout(b)).toBe(expected('b'));
  });

  it('interrupt and restart through the REST API reach a polling page promptly', async () => {
    a.seen = [];
    const id = await send(v, a, 'import time\nprint("sleeping", flush=True)\ntime.sleep(60)');
    while (!stdout(a).includes('sleeping')) await pollOnce(v, [a]);
    expect((await v.call('POST', `/api/kernels/${a.kernel}/interrupt`)).status).toBe(204);
    while (!replied(a, id)) await pollOnce(v, [a]);
    const reply = a.seen.find((m) => m.header.msg_type === 'execute_reply' && m.parent_header.msg_id === id);
    expect(reply.content.status, JSON.stringify(reply.content)).toBe('error');
    expect(a.seen.some((m) => m.header.msg_type === 'error' && m.content.ename === 'KeyboardInterrupt')).toBe(
      true,
    );
    const restart = await v.call('POST', `/api/kernels/${a.kernel}/restart`);
    expect(restart.status).toBe(200);
    await pollOnce(v, [a]);
    expect(
      a.seen.some((m) => m.header.msg_type === 'status' && m.content.execution_state === 'restarting'),
    ).toBe(true);
    const after = await send(v, a, 'print("fresh")');
    while (!replied(a, after)) await pollOnce(v, [a]);
    expect(stdout(a)).toContain('fresh\n');
  });

  it('per-page limits under a per-address ceiling, with messages that say which', async () => {
    // The page stays open meanwhile (it keeps polling, as the embed does).
    let open = true;
    const polling = (async () => {
      while (open) await pollOnce(v, [a, b], 0.2);
    })();
    const third = await v.call('POST', `/api/kernels?page=${v.page}`, {});
    expect(third.status).toBe(429);
    expect(third.body.message).toMatch(/per page/);
    // Another tab of the same visitor is another page: it gets kernels until the address's ceiling.
    const tab = { ...visitor('198.51.100.1'), headers: v.headers };
    const ok = await api(s, 'POST', `/api/kernels?page=${tab.page}`, {}, v.headers);
    expect(ok.status).toBe(201);
    const full = await api(s, 'POST', `/api/kernels?page=${tab.page}`, {}, v.headers);
    expect(full.status).toBe(429);
    expect(full.body.message).toMatch(/per address/);
    expect(full.headers.get('retry-after')).toBeTruthy();
    // Another address is not affected.
    const other = visitor('198.51.100.2');
    const k = await other.kernel();
    await other.call('DELETE', `/api/kernels/${k}`);
    await v.call('DELETE', `/api/kernels/${ok.body.id}`);
    open = false;
    await polling;
  });

  it("a page's kernels live while it polls, end after its last poll, and at once on its beacon", async () => {
    // The page keeps polling past the grace period: its kernels stay.
    const t0 = Date.now();
    while (Date.now() - t0 < 4_500) await pollOnce(v, [a, b], 0.3);
    expect((await v.call('GET', `/api/kernels/${a.kernel}`)).status).toBe(200);
    // It stops (closed, crashed, offline): both end within the grace.
    const stopped = Date.now();
    await waitFor(
      () => s.ctx.kernels.get(a.kernel) === undefined && s.ctx.kernels.get(b.kernel) === undefined,
      10_000,
      'the page kernels to end',
    );
    expect(Date.now() - stopped).toBeGreaterThanOrEqual(2_900);
    expect((await v.call('GET', `/api/kernels/${b.kernel}`)).status).toBe(404);

    const w = visitor('198.51.100.3');
    const k = await w.kernel();
    const beacon = await fetch(`${s.base}/api/pages/${w.page}/close`, { method: 'POST', headers: w.headers });
    expect(beacon.status).toBe(204);
    expect(s.ctx.kernels.get(k)).toBeUndefined();
  });

  it('answers bad input with a 4xx JSON error, and a stream of an unknown kernel as gone', async () => {
    const w = visitor('198.51.100.4');
    const gone = await w.call('POST', '/api/poll/no-such-kernel', {
      page: w.page,
      timeout: 5,
      streams: [{ kernel: 'no-such-kernel', session: 's' }],
    });
    expect(gone.status).toBe(200);
    expect(gone.body.streams[0]).toMatchObject({ kernel: 'no-such-kernel', gone: true, messages: [] });
    const sent = await w.call('POST', '/api/poll/no-such-kernel/messages', {
      messages: [{ kernel: 'no-such-kernel', session: 's', message: executeMsg('1', 's') }],
    });
    expect(sent.body).toEqual({ accepted: 0, gone: ['no-such-kernel'] });
    for (const [path, body] of [
      ['/api/poll/k', { streams: 'x' }],
      ['/api/poll/k', { page: '../../etc', streams: [] }],
      ['/api/poll/k', { streams: Array.from({ length: 65 }, () => ({ kernel: 'k', session: 's' })) }],
      ['/api/poll/k/messages', { messages: [] }],
      ['/api/poll/k/messages', { messages: [{ kernel: 'k', session: 's', message: 42 }] }],
      ['/api/kernels?page=%2F..%2F', {}],
    ] as const) {
      const r = await w.call('POST', path, body);
      expect(r.status, path).toBe(400);
      expect(r.body.code).toMatch(/^RUNCELL_ERR_/);
      expect(JSON.stringify(r.body)).not.toMatch(/\/(home|work|usr)\//);
    }
    // Without an allowed Origin an anonymous page poll is refused, as the per-kernel long-poll is.
    const bare = await api(s, 'POST', '/api/poll/k', { streams: [] }, { 'x-forwarded-for': '198.51.100.4' });
    expect(bare.status).toBe(403);
  });
});
