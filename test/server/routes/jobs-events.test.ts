// The jobs API's server-sent event stream against a client that stops reading: the stream must end
// when such a client goes away, even while the server waits for its full buffer to drain (issue 18,
// point 8). Real server, embedded database, a raw TCP client; the stream is seen through /metrics.
import { randomUUID } from 'node:crypto';
import { connect, type Socket } from 'node:net';
import { setTimeout as sleep } from 'node:timers/promises';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { api, startServer, type TestServer, TOKEN } from '../helpers.js';

const EVENTS = 320;
/** Each event carries this much reason: EVENTS of them are far more than the socket buffers hold. */
const REASON_BYTES = 64 * 1024;

describe('jobs event stream', () => {
  let s: TestServer;

  beforeAll(async () => {
    s = await startServer(25, { poolSize: 0 }, { store: true, jobs: true });
  });
  afterAll(() => s?.stop());

  const openStreams = async (): Promise<number> => {
    const r = await fetch(`${s.base}/metrics`, { headers: { authorization: `token ${TOKEN}` } });
    const m = /^runcell_job_event_streams (\d+)$/m.exec(await r.text());
    if (!m) throw new Error('no runcell_job_event_streams in /metrics');
    return Number(m[1]);
  };

  test('ends when a client that stopped reading disconnects with its buffer full', async () => {
    const sql = s.store?.sql;
    if (!sql) throw new Error('no store');
    // A finished job of this token's owner (the scheduler leaves it alone), then many large events.
    const job = randomUUID();
    await sql`
      insert into jobs (id, owner, batch_id, root_id, kernel, code, timeout_ms, state)
      values (${job}, 'token:0', ${job}, ${job}, 'python3', '1', 1000, 'succeeded')`;
    await sql`
      insert into job_events (job_id, owner, batch_id, state, reason)
      select ${job}, 'token:0', ${job}, 'succeeded', repeat('x', ${REASON_BYTES})
      from generate_series(1, ${EVENTS})`;

    const { port } = new URL(s.base);
    const socket: Socket = connect(Number(port), '127.0.0.1');
    await new Promise<void>((resolve, reject) => {
      socket.once('connect', resolve);
      socket.once('error', reject);
    });
    socket.write(
      'GET /api/jobs/events HTTP/1.1\r\nHost: 127.0.0.1\r\n' +
        `Authorization: token ${TOKEN}\r\nAccept: text/event-stream\r\n\r\n`,
    );
    // Read until the first event has arrived, then stop reading: the server is then part-way through
    // far more than the client's and its own socket buffers can hold, so it must wait for them.
    let head = '';
    await new Promise<void>((resolve, reject) => {
      const onData = (chunk: Buffer) => {
        head += chunk.toString('latin1');
        if (!head.includes('event: state')) return;
        socket.off('data', onData);
        socket.pause();
        resolve();
      };
      socket.on('data', onData);
      socket.once('error', reject);
    });
    expect(head).toMatch(/^HTTP\/1\.1 200/);
    expect(await openStreams()).toBe(1);

    socket.destroy();
    // The bound is only how long the test waits; the stream ends as soon as the close is seen.
    const left = await waitForAsync(async () => (await openStreams()) === 0, 30_000);
    expect(left).toBe(true);
    expect((await api(s, 'GET', '/healthz', undefined, {})).status).toBe(200);
  });
});

/** Polls an async check until it holds or `ms` passes; resolves with whether it held. */
async function waitForAsync(check: () => Promise<boolean>, ms: number): Promise<boolean> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (await check()) return true;
    if (Date.now() > deadline) return false;
    await sleep(50);
  }
}
