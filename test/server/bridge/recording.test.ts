// The server with its store: every execute_request that passes through it (websocket, long-poll,
// one-shot) is recorded, /readyz checks the database, and /api/execute can make a permalink.
import { createHash } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { api, type Json, newKernel, RawClient, startServer, type TestServer } from '../helpers.js';

let s: TestServer;
beforeAll(async () => {
  s = await startServer(8, { poolSize: 2 }, { store: true });
});
afterAll(() => s?.stop());

async function recordsFor(code: string): Promise<Json[]> {
  const store = s.store;
  if (!store) throw new Error('this server has no store');
  await store.records.flush();
  const sha = createHash('sha256').update(code).digest('hex');
  return await store.sql`select * from execute_records where code_sha256 = ${sha}`;
}

describe('execute records', () => {
  it('records a websocket execute_request as sent, with its outcome and a bounded summary', async () => {
    const id = await newKernel(s);
    const c = await RawClient.open(s, id);
    const code = `print("recorded-${Date.now()}")`;
    const r = await c.run(code);
    expect(r.stdout).toMatch(/^recorded-/);
    let row: Json;
    const deadline = Date.now() + 5_000;
    do {
      [row] = await recordsFor(code);
      if (row?.status) break;
      await new Promise((res) => setTimeout(res, 50));
    } while (Date.now() < deadline);
    expect(row).toMatchObject({
      kernel_id: id,
      kernel_spec: 'python3',
      transport: 'websocket',
      status: 'ok',
    });
    expect(row.message.content.code).toBe(code);
    expect(row.message.header.msg_type).toBe('execute_request');
    // The client's address is never stored raw.
    expect(JSON.stringify(row)).not.toContain('127.0.0.1');
    expect(row.client_hash).toMatch(/^[A-Za-z0-9_-]{20,}$/);
    expect(row.outputs.text).toContain('recorded-');
    expect(row.duration_ms).toBeGreaterThanOrEqual(0);
    c.close();
  });

  it('records long-poll executions and errors', async () => {
    const id = await newKernel(s);
    const code = `raise ValueError("lp-${Date.now()}")`;
    const msg = {
      channel: 'shell',
      header: {
        msg_id: 'c1',
        msg_type: 'execute_request',
        session: 'x',
        username: 'u',
        version: '5.3',
        date: '',
      },
      parent_header: {},
      metadata: {},
      content: { code, silent: false, store_history: true, user_expressions: {}, allow_stdin: false },
    };
    const sent = await api(s, 'POST', `/api/kernels/${id}/messages?session_id=lp1`, [msg]);
    expect(sent.status).toBeLessThan(300);
    let row: Json;
    const deadline = Date.now() + 15_000;
    do {
      [row] = await recordsFor(code);
      if (row?.status) break;
      await new Promise((res) => setTimeout(res, 50));
    } while (Date.now() < deadline);
    expect(row).toMatchObject({ transport: 'longpoll', status: 'error' });
    expect(row.outputs.error.ename).toBe('ValueError');
  });

  it('records one-shot executions and makes a permalink when asked', async () => {
    const code = `print(sum(range(${Date.now() % 1000})))`;
    const r = await api(s, 'POST', '/api/execute', { code, permalink: true });
    expect(r.status).toBe(200);
    expect(r.body.status).toBe('ok');
    expect(r.body.permalink.url).toBe(`/p/${r.body.permalink.id}`);
    const p = await api(s, 'GET', `/api/permalinks/${r.body.permalink.id}`);
    expect(p.body.code).toBe(code);
    expect(p.body.outputs[0]).toMatchObject({ output_type: 'stream', name: 'stdout', text: r.body.stdout });
    const [row] = await recordsFor(code);
    expect(row).toMatchObject({ transport: 'oneshot', status: 'ok' });
  });

  it('reports the database in /readyz', async () => {
    const r = await api(s, 'GET', '/readyz');
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ status: 'ready', database: true, kernelPool: true });
  });
});
