// The kernel websocket end to end, with real kernels: both framings, several clients per kernel,
// reply routing, replay on reconnect, stale sockets, death of a kernel, and bad input.
import { randomUUID } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { V1_PROTOCOL } from '../../../server/bridge/framing.js';
import {
  api,
  auth,
  executeMsg,
  makeMsg,
  newKernel,
  RawClient,
  startServer,
  type TestServer,
} from '../helpers.js';

let s: TestServer;
let kernel: string;

beforeAll(async () => {
  s = await startServer(1, {
    poolSize: 2,
    wsMaxPayloadBytes: 64 * 1024,
    iopubMsgRate: 200,
    iopubRateWindowMs: 1000,
  });
  kernel = await newKernel(s);
});
afterAll(async () => {
  await s?.stop();
});

describe('websocket /api/kernels/:id/channels', () => {
  it.each([
    ['legacy JSON', ''],
    ['v1 binary', V1_PROTOCOL],
  ])('executes code over the %s framing', async (_name, protocol) => {
    const c = await RawClient.open(s, kernel, { protocol });
    expect(c.ws.protocol).toBe(protocol);
    const r = await c.run('print("hello", 6*7)');
    expect(r.reply.content.status).toBe('ok');
    expect(r.stdout).toBe('hello 42\n');
    // The client's own ids come back in parent_header.
    expect(r.reply.parent_header.session).toBe(c.session);
    c.close();
  });

  it('fans iopub out to every client and routes replies only to the asker', async () => {
    const a = await RawClient.open(s, kernel);
    const b = await RawClient.open(s, kernel, { protocol: V1_PROTOCOL });
    const r = await a.run('print("from a")');
    expect(r.stdout).toBe('from a\n');
    // b sees the output (with the server's ids), but not a's execute_reply.
    await b.next((m) => m.header.msg_type === 'stream' && m.content.text === 'from a\n');
    expect(b.messages.some((m) => m.header.msg_type === 'execute_reply')).toBe(false);
    const streamB = b.messages.find((m) => m.header.msg_type === 'stream');
    expect(streamB?.parent_header.msg_id).not.toBe(r.reply.parent_header.msg_id);
    a.close();
    b.close();
  });

  it('lets only the asking client answer input_request', async () => {
    const a = await RawClient.open(s, kernel);
    const b = await RawClient.open(s, kernel);
    const m = executeMsg('x = input("name? "); print("hi", x)', a.session);
    a.send(m);
    const req = await a.next((x) => x.header.msg_type === 'input_request');
    expect(req.content.prompt).toBe('name? ');
    expect(b.messages.some((x) => x.header.msg_type === 'input_request')).toBe(false);
    // b cannot answer it.
    b.send(makeMsg('input_reply', { value: 'mallory' }, b.session, 'stdin'));
    await b.next(
      (x) => x.header.msg_type === 'stream' && /input_reply without a pending/.test(x.content.text),
    );
    a.send({ ...makeMsg('input_reply', { value: 'alice' }, a.session, 'stdin'), parent_header: req.header });
    await a.next((x) => x.header.msg_type === 'stream' && x.content.text === 'hi alice\n');
    a.close();
    b.close();
  });

  it('answers forbidden message types and unknown channels with an error, not silence', async () => {
    const c = await RawClient.open(s, kernel);
    const shut = makeMsg('shutdown_request', { restart: false }, c.session, 'control');
    c.send(shut);
    const reply = await c.next(
      (m) => m.parent_header.msg_id === shut.header.msg_id && m.header.msg_type === 'shutdown_reply',
    );
    expect(reply.content.status).toBe('error');
    expect(reply.content.evalue).toMatch(/REST API/);
    const odd = makeMsg('execute_request', { code: '1' }, c.session, 'bogus');
    c.send(odd);
    await c.next((m) => m.header.msg_type === 'stream' && /unknown channel "bogus"/.test(m.content.text));
    const dbg = makeMsg('debug_request', {}, c.session, 'shell');
    c.send(dbg);
    const r2 = await c.next((m) => m.header.msg_type === 'debug_reply');
    expect(r2.content.status).toBe('error');
    // The kernel still works.
    expect((await c.run('print(1)')).stdout).toBe('1\n');
    c.close();
  });

  it('rejects malformed frames, bad offsets and oversized frames; neighbours survive', async () => {
    const bad = await RawClient.open(s, kernel);
    const good = await RawClient.open(s, kernel);
    bad.ws.send('{not json');
    await bad.next((m) => m.header.msg_type === 'stream' && /not valid JSON/.test(m.content.text));
    bad.ws.send(JSON.stringify({ channel: 'shell', header: { msg_type: 'execute_request' }, content: {} }));
    await bad.next((m) => m.header.msg_type === 'stream' && /invalid message/.test(m.content.text));
    const offsets = Buffer.alloc(12);
    offsets.writeUInt32BE(2, 0);
    offsets.writeUInt32BE(4000, 4); // beyond the frame
    offsets.writeUInt32BE(8, 8);
    bad.ws.send(offsets);
    await bad.next((m) => m.header.msg_type === 'stream' && /bad offsets/.test(m.content.text));
    bad.ws.send(Buffer.alloc(200 * 1024, 0x20)); // over the 64 KiB cap
    const closed = await bad.closed;
    expect(closed.code).toBe(1009);
    expect((await good.run('print("still here")')).stdout).toBe('still here\n');
    expect((await api(s, 'GET', '/api')).status).toBe(200);
    good.close();
  });

  it('drops output over the iopub rate with a visible notice, never silently', async () => {
    const c = await RawClient.open(s, kernel);
    const r = await c.run('for i in range(1000): print(i, flush=True)');
    expect(r.reply.content.status).toBe('ok');
    expect(r.stderr).toMatch(/\[runcell\] Output message rate \(200 messages\/s\) exceeded/);
    const lines = r.stdout.split('\n').filter(Boolean);
    expect(lines.length).toBeLessThan(1000);
    expect(lines[0]).toBe('0');
    c.close();
  });

  it('replays what a reconnecting session missed', async () => {
    const session = randomUUID();
    const a = await RawClient.open(s, kernel, { session });
    const m = executeMsg(
      'import time\nfor i in range(6):\n    print("tick", i, flush=True)\n    time.sleep(0.1)',
      session,
    );
    a.send(m);
    const printed = () =>
      a.messages
        .filter((x) => x.header.msg_type === 'stream')
        .map((x) => x.content.text)
        .join('');
    await a.next(() => printed().includes('tick 0\n'));
    a.ws.terminate();
    await a.closed;
    await new Promise((r) => setTimeout(r, 900));
    const b = await RawClient.open(s, kernel, { session });
    const reply = await b.next((x) => x.header.msg_type === 'execute_reply');
    expect(reply.parent_header.msg_id).toBe(m.header.msg_id);
    const text = [...a.messages, ...b.messages]
      .filter((x) => x.header.msg_type === 'stream')
      .map((x) => x.content.text)
      .join('');
    for (let i = 0; i < 6; i++) expect(text).toContain(`tick ${i}\n`);
    b.close();
  });

  it('replaces a stale socket that has the same session id', async () => {
    const session = randomUUID();
    const a = await RawClient.open(s, kernel, { session });
    const b = await RawClient.open(s, kernel, { session });
    const closed = await a.closed;
    expect(closed.code).toBe(1000);
    expect(closed.reason).toMatch(/replaced/);
    expect((await b.run('print(2)')).stdout).toBe('2\n');
    b.close();
  });

  it('tells every client when a kernel dies mid-execution', async () => {
    const id = await newKernel(s);
    const a = await RawClient.open(s, id);
    const b = await RawClient.open(s, id, { protocol: V1_PROTOCOL });
    a.send(
      executeMsg(
        'import os, time\nprint("dying", flush=True)\ntime.sleep(0.3)\nos.kill(os.getpid(), 9)',
        a.session,
      ),
    );
    for (const c of [a, b]) {
      const dead = await c.next(
        (m) => m.header.msg_type === 'status' && m.content.execution_state === 'dead',
      );
      expect(dead.content.reason).toBeTruthy();
      expect((await c.closed).code).toBe(1000);
    }
    const model = await api(s, 'GET', `/api/kernels/${id}`);
    expect(model.body.execution_state).toBe('dead');
    expect(model.body.reason).toBeTruthy();
  });

  it('refuses unknown kernels, bad tokens and foreign origins before the upgrade', async () => {
    const expectHttp = (url: string, headers: Record<string, string>) =>
      new Promise<number>((resolve, reject) => {
        const ws = new WebSocket(url, { headers });
        ws.on('unexpected-response', (_req, res) => resolve(res.statusCode ?? 0));
        ws.on('open', () => reject(new Error('opened')));
        ws.on('error', () => undefined);
      });
    const url = (id: string) => `${s.wsBase}/api/kernels/${id}/channels?session_id=x`;
    expect(await expectHttp(url(randomUUID()), auth)).toBe(404);
    expect(await expectHttp(url(kernel), { authorization: 'token wrong-token-xxxxxxxxxxxx' })).toBe(401);
    // Anonymous from a foreign origin (a token caller would be served: see hostile-clients.test.ts).
    expect(await expectHttp(url(kernel), { origin: 'https://evil.example' })).toBe(403);
    // Anonymous without an Origin: refused (browsers always send one).
    expect(await expectHttp(url(kernel), {})).toBe(403);
    // Anonymous from the server's own origin: fine.
    const c = await RawClient.open(s, kernel, { headers: { origin: s.base } });
    expect((await c.run('print(3)')).stdout).toBe('3\n');
    c.close();
  });
});
