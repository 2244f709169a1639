// POST /api/execute against a program that floods its output straight to fd 1 and 2 (past Python's
// sys.stdout): the output rate limits apply as they do for websocket clients, the answer is capped
// (RUNCELL_EXECUTE_MAX_OUTPUT_BYTES) and says so, and the server stays healthy (issue 18, point 5).
// Two servers on this file's slot, one after the other: the default limits, then the rate limits
// turned off so that the cap alone bounds the answer.
import { Value } from 'typebox/value';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { ServerConfig } from '../../../server/config.js';
import { ExecuteResult } from '../../../shared/execute.js';
import { api, startServer, type TestServer } from '../helpers.js';

const SLOT = 26;
const MiB = 2 ** 20;
/** The default of RUNCELL_EXECUTE_MAX_OUTPUT_BYTES: a few MiB. */
const CAP = 4 * MiB;
const FLOOD = [
  'import os',
  'while True:',
  '    os.write(1, b"y" * 2**20)',
  '    os.write(2, b"z" * 2**20)',
].join('\n');

type Answer = ExecuteResult & { truncated?: boolean };

async function execute(s: TestServer, code: string, timeout = 20): Promise<{ bytes: number; body: Answer }> {
  const res = await fetch(`${s.base}/api/execute`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ code, timeout }),
  });
  expect(res.status).toBe(200);
  const raw = Buffer.from(await res.arrayBuffer());
  return { bytes: raw.length, body: JSON.parse(raw.toString('utf8')) };
}

async function healthy(s: TestServer): Promise<void> {
  expect((await api(s, 'GET', '/healthz', undefined, {})).status).toBe(200);
  const { body } = await execute(s, 'print(6 * 7)');
  expect(body).toMatchObject({ status: 'ok', stdout: '42\n', stderr: '' });
  expect(body.truncated).toBeUndefined();
}

function withServer(over: Partial<ServerConfig>): () => TestServer {
  let s: TestServer | undefined;
  beforeAll(async () => {
    s = await startServer(SLOT, { poolSize: 1, ...over });
  });
  afterAll(async () => {
    await s?.stop();
  });
  return () => {
    if (!s) throw new Error('no server');
    return s;
  };
}

describe('POST /api/execute with the default limits', () => {
  const server = withServer({});

  it('holds a flood through fd 1 and 2 to the iopub rate limits, with the notice websocket clients get', async () => {
    const s = server();
    const { bytes, body } = await execute(s, FLOOD, 5);
    expect(bytes).toBeLessThanOrEqual(CAP);
    expect(Value.Check(ExecuteResult, body)).toBe(true);
    expect(body.stderr).toMatch(/\[runcell\] Output data rate \(1000000 bytes\/s\) exceeded/);
    // The flood ends with the time limit (or, should enough of it pass the rates, the cap).
    expect(body.status).toMatch(/^(timeout|error)$/);
    await healthy(s);
  });
});

describe('POST /api/execute with the rate limits off', () => {
  const server = withServer({ iopubMsgRate: 0, iopubDataRate: 0 });

  it('caps a flood through fd 1 and 2, says it was truncated, and stops the execution', async () => {
    const s = server();
    const { bytes, body } = await execute(s, FLOOD);
    expect(bytes).toBeLessThanOrEqual(CAP);
    expect(Value.Check(ExecuteResult, body)).toBe(true);
    expect(body.truncated).toBe(true);
    expect(body.stdout + body.stderr).toMatch(
      /\[runcell\] output truncated: this answer is limited to 4 MiB \(RUNCELL_EXECUTE_MAX_OUTPUT_BYTES\)/,
    );
    expect(body).toMatchObject({ status: 'error', error: { ename: 'OutputLimitError' } });
    // The answer is filled up to the cap with what the program wrote before it was stopped.
    expect(body.stdout.length + body.stderr.length).toBeGreaterThan(CAP / 2);
    expect(body.stdout).toMatch(/^y+/);
    expect(s.config.executeMaxOutputBytes).toBe(CAP);
    await healthy(s);
  });
});

describe('POST /api/execute refused before it runs', () => {
  const server = withServer({ ipExecutionsPerMinute: 1 });

  it('costs an anonymous caller no execution token when no kernel can be had', async () => {
    const s = server();
    const bad = await fetch(`${s.base}/api/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: '1', kernel: 'no-such-kernel' }),
    });
    expect(bad.status).toBe(400);
    // The address's one token is still there.
    const { body } = await execute(s, 'print(6 * 7)');
    expect(body).toMatchObject({ status: 'ok', stdout: '42\n' });
    const over = await fetch(`${s.base}/api/execute`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: '1' }),
    });
    expect(over.status).toBe(429);
  });
});
