// Long-poll end to end with real kernels: send, poll, hold and wake, concurrent pollers, routing,
// replay and gaps, and bad input.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import {
  api,
  auth,
  executeMsg,
  type Json,
  makeMsg,
  newKernel,
  startServer,
  type TestServer,
  waitFor,
} from '../helpers.js';

let s: TestServer;
let kernel: string;

beforeAll(async () => {
  s = await startServer(3, { poolSize: 2, replayMessages: 40, ipMaxPollers: 1 });
  kernel = await newKernel(s);
});
afterAll(async () => {
  await s?.stop();
});

const path = (sid: string, q = '') => `/api/kernels/${kernel}/messages?session_id=${sid}${q}`;

/** Polls until `pred` matches a message; returns every message seen and the final cursor. */
async function pollUntil(sid: string, after: number, pred: (m: Json) => boolean, headers = auth) {
  const seen: Json[] = [];
  let cursor = after;
  for (let i = 0; i < 50; i++) {
    const r = await api(s, 'GET', path(sid, `&after=${cursor}&timeout=5`), undefined, headers);
    expect(r.status).toBe(200);
    seen.push(...r.body.messages);
    cursor = r.body.next;
    if (r.body.messages.some(pred)) return { seen, cursor };
  }
  throw new Error('never matched');
}

describe('long-poll /api/kernels/:id/messages', () => {
  it('runs code: POST a message, GET its output and reply with a cursor', async () => {
    const sid = randomUUID();
    const head = await api(s, 'GET', path(sid, '&timeout=0'));
    expect(head.body).toMatchObject({ messages: [], lost: 0 });
    const m = executeMsg('print("polled")', sid);
    const sent = await api(s, 'POST', path(sid), m);
    expect(sent.status).toBe(200);
    expect(sent.body).toEqual({ accepted: 1 });
    const { seen } = await pollUntil(sid, head.body.next, (x) => x.header.msg_type === 'execute_reply');
    const reply = seen.find((x) => x.header.msg_type === 'execute_reply');
    expect(reply.parent_header.msg_id).toBe(m.header.msg_id);
    expect(reply.channel).toBe('shell');
    const out = seen.filter((x) => x.header.msg_type === 'stream').map((x) => x.content.text);
    expect(out.join('')).toBe('polled\n');
    // Every message carries its sequence number, increasing.
    const seqs = seen.map((x) => x.seq);
    expect([...seqs].sort((a, b) => a - b)).toEqual(seqs);
  });

  it('holds a poll until a message exists, and ends an idle hold with an empty list', async () => {
    const sid = randomUUID();
    const head = (await api(s, 'GET', path(sid, '&timeout=0'))).body.next;
    const t0 = Date.now();
    const empty = await api(s, 'GET', path(sid, `&after=${head}&timeout=0.3`));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(250);
    expect(empty.body).toMatchObject({ messages: [], next: head });
    const t1 = Date.now();
    const held = api(s, 'GET', path(sid, `&after=${head}&timeout=20`));
    await new Promise((r) => setTimeout(r, 200));
    await api(s, 'POST', path(sid), executeMsg('1', sid));
    const r = await held;
    // Woken by the message, not ended by its own 20 s hold (how fast is bench/'s figure).
    expect(Date.now() - t1).toBeLessThan(20_000);
    expect(r.body.messages.length).toBeGreaterThan(0);
  });

  it('serves several concurrent pollers; replies go only to the asker', async () => {
    const a = randomUUID();
    const b = randomUUID();
    const head = (await api(s, 'GET', path(a, '&timeout=0'))).body.next;
    const m = executeMsg('print("shared")', a);
    // b stops at the idle of *this* execution (output of an earlier test's execution may still be
    // arriving after `head`).
    let sharedParent: string | undefined;
    let aReply = false;
    let aStream = false;
    const [ra, rb] = await Promise.all([
      // Until both the reply (shell) and the output (iopub) are in: the two channels are not ordered.
      pollUntil(a, head, (x) => {
        if (x.header.msg_type === 'execute_reply') aReply = true;
        if (x.header.msg_type === 'stream' && x.content.text === 'shared\n') aStream = true;
        return aReply && aStream;
      }),
      pollUntil(b, head, (x) => {
        if (x.header.msg_type === 'stream' && x.content.text === 'shared\n')
          sharedParent = x.parent_header.msg_id;
        return (
          x.header.msg_type === 'status' &&
          x.content.execution_state === 'idle' &&
          sharedParent !== undefined &&
          x.parent_header.msg_id === sharedParent
        );
      }),
      api(s, 'POST', path(a), [m]),
    ]);
    expect(ra.seen.some((x) => x.header.msg_type === 'stream' && x.content.text === 'shared\n')).toBe(true);
    expect(rb.seen.some((x) => x.header.msg_type === 'stream' && x.content.text === 'shared\n')).toBe(true);
    expect(rb.seen.some((x) => x.header.msg_type === 'execute_reply')).toBe(false);
    // The asker's ids are restored for it; the other poller sees the server's.
    const streamA = ra.seen.find((x) => x.header.msg_type === 'stream');
    const streamB = rb.seen.find((x) => x.header.msg_type === 'stream');
    expect(streamA.parent_header.msg_id).toBe(m.header.msg_id);
    expect(streamB.parent_header.msg_id).not.toBe(m.header.msg_id);
  });

  it('replays from an old cursor and reports a gap that fell out of the log', async () => {
    const sid = randomUUID();
    const head = (await api(s, 'GET', path(sid, '&timeout=0'))).body.next;
    await api(s, 'POST', path(sid), executeMsg('print("one")', sid));
    const first = await pollUntil(sid, head, (x) => x.header.msg_type === 'execute_reply');
    // Reading again from the same cursor gives the same messages.
    const again = await pollUntil(sid, head, (x) => x.header.msg_type === 'execute_reply');
    // (Compared up to the reply: the idle status may or may not have arrived by the second read.)
    const upToReply = (seen: Json[]) =>
      seen.slice(0, seen.findIndex((x) => x.header.msg_type === 'execute_reply') + 1).map((x) => x.seq);
    expect(upToReply(again.seen)).toEqual(upToReply(first.seen));
    // Push more than the log keeps (40 messages), then read from the old cursor.
    await api(s, 'POST', path(sid), executeMsg('for i in range(60): print(i, flush=True)', sid));
    await pollUntil(sid, first.cursor, (x) => x.header.msg_type === 'execute_reply');
    const late = await api(s, 'GET', path(sid, `&after=${head}&timeout=0`));
    expect(late.body.lost).toBeGreaterThan(0);
  });

  it('rejects bad input with a clear error and keeps serving', async () => {
    const sid = randomUUID();
    const raw = await fetch(s.base + path(sid), {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: '{nope',
    });
    expect(raw.status).toBe(400);
    expect(await raw.json()).toMatchObject({ code: 'RUNCELL_ERR_BAD_REQUEST' });
    const noHeader = await api(s, 'POST', path(sid), { channel: 'shell', content: {} });
    expect(noHeader.status).toBe(400);
    expect(noHeader.body.message).toMatch(/message 0/);
    expect((await api(s, 'GET', `/api/kernels/${randomUUID()}/messages?session_id=x&timeout=0`)).status).toBe(
      404,
    );
    expect((await api(s, 'GET', path(sid, '&after=-1'))).status).toBe(400);
    // Anonymous from a foreign origin (a token caller would be served: see hostile-clients.test.ts).
    const foreign = await api(s, 'GET', path(sid, '&timeout=0'), undefined, {
      origin: 'https://evil.example',
    });
    expect(foreign.status).toBe(403);
    expect(foreign.body.code).toBe('RUNCELL_ERR_FORBIDDEN_ORIGIN');
    const noOrigin = await api(s, 'GET', path(sid, '&timeout=0'), undefined, {});
    expect(noOrigin.status).toBe(403);
    // A forbidden type is answered in the stream, like on the websocket.
    const head = (await api(s, 'GET', path(sid, '&timeout=0'))).body.next;
    const bad = makeMsg('shutdown_request', {}, sid, 'control');
    await api(s, 'POST', path(sid), bad);
    const { seen } = await pollUntil(sid, head, (x) => x.header.msg_type === 'shutdown_reply');
    expect(seen.find((x) => x.header.msg_type === 'shutdown_reply').content.status).toBe('error');
  });

  it('limits concurrent anonymous pollers per address with 429 and Retry-After', async () => {
    const browser = { origin: s.base };
    const first = api(s, 'GET', path(randomUUID(), '&timeout=2'), undefined, browser);
    // Once the server holds the first poll (not after a fixed sleep: a loaded machine may be slower).
    const hub = s.ctx.kernels.get(kernel);
    await waitFor(() => (hub?.connections ?? 0) > 0, 10_000, 'the first poll to be held');
    const second = await api(s, 'GET', path(randomUUID(), '&timeout=0'), undefined, browser);
    expect(second.status).toBe(429);
    expect(second.headers.get('retry-after')).toBeTruthy();
    expect((await first).status).toBe(200);
  });
});
