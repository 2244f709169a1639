// Hostile clients against a real server: malformed and oversized frames in both websocket framings,
// forged ids and headers, forbidden message types, prototype pollution, deep nesting, floods, cross-origin
// handshakes, guessing tokens, kernel ids and permalinks, hostile upload names, compressed bodies, and
// thousands of kernel creations from one address. Each gets a clear 4xx or close code; nothing crashes.
import { randomUUID } from 'node:crypto';
import { gzipSync } from 'node:zlib';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { executeMsg, makeMsg } from '../server/helpers.js';
import {
  api,
  auth,
  healthy,
  type Json,
  RawClient,
  record,
  startSecurityServer,
  Tenant,
  type TestServer,
} from './helpers.js';

const SLOT = 51;
const ORIGIN = 'https://author.example';
let s: TestServer;
let k: Tenant;

beforeAll(async () => {
  s = await startSecurityServer(SLOT, {
    poolSize: 1,
    maxKernels: 6,
    allowedOrigins: [ORIGIN],
    wsMaxPayloadBytes: 64 * 1024,
    ipKernelCreatesPerMinute: 5,
    ipMaxKernels: 2,
    permalinkMissLimit: 10,
    // Tests stand for several addresses with X-Forwarded-For, as behind the documented proxy.
    trustProxy: true,
  });
  k = await Tenant.open(s);
});
afterAll(async () => {
  await k?.destroy();
  await s?.stop();
});

/** A bare websocket to a kernel: resolves with the socket, or rejects with the HTTP status. */
function rawSocket(
  id: string,
  opts: { protocol?: string; headers?: Record<string, string>; session?: string } = {},
): Promise<WebSocket> {
  const ws = new WebSocket(
    `${s.wsBase}/api/kernels/${id}/channels?session_id=${opts.session ?? randomUUID()}`,
    opts.protocol ? [opts.protocol] : [],
    { headers: opts.headers ?? auth },
  );
  return new Promise((resolve, reject) => {
    ws.once('open', () => resolve(ws));
    ws.once('error', reject);
    ws.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
  });
}

const closed = (ws: WebSocket) =>
  new Promise<{ code: number; reason: string }>((r) =>
    ws.once('close', (code, reason) => r({ code, reason: reason.toString() })),
  );

/** The kernel still answers over a fresh connection. */
async function stillServes(): Promise<void> {
  await healthy(s);
  const c = await RawClient.open(s, k.id);
  expect((await c.run('print(6*7)')).stdout).toBe('42\n');
  c.close();
}

function v1Frame(parts: Buffer[], offsetsOverride?: bigint[]): Buffer {
  const n = parts.length;
  const head = Buffer.alloc(8 * (n + 2));
  head.writeBigUInt64LE(BigInt(n + 1), 0);
  let at = head.length;
  const offs: bigint[] = [];
  for (const p of parts) {
    offs.push(BigInt(at));
    at += p.length;
  }
  offs.push(BigInt(at));
  (offsetsOverride ?? offs).forEach((o, i) => {
    head.writeBigUInt64LE(o, 8 * (i + 1));
  });
  return Buffer.concat([head, ...parts]);
}

describe('hostile websocket clients', () => {
  it('closes on an oversized frame with 1009, in both framings', async () => {
    for (const protocol of [undefined, 'v1.kernel.websocket.jupyter.org']) {
      const ws = await rawSocket(k.id, protocol ? { protocol } : {});
      const c = closed(ws);
      ws.send(Buffer.alloc(65 * 1024, 0x61));
      expect((await c).code).toBe(1009);
    }
    await stillServes();
  });

  it('answers malformed frames with a notice and keeps the connection, in both framings', async () => {
    const legacy = await RawClient.open(s, k.id);
    const bad: (string | Buffer)[] = [
      'not json',
      '[]',
      'null',
      '42',
      '{"channel":"shell"}',
      '{"channel":"shell","header":{"msg_type":"execute_request"},"content":[]}',
      JSON.stringify({ channel: 'nope', header: { msg_id: 'x', msg_type: 'execute_request' }, content: {} }),
      Buffer.alloc(0),
      Buffer.from([0, 0, 0, 9, 0, 0, 0, 1]),
      Buffer.from([0xff, 0xff, 0xff, 0xff, 0, 0, 0, 0]),
      Buffer.concat([Buffer.from([0, 0, 0, 2, 0, 0, 0, 12, 0xff, 0xff, 0xff, 0xff]), Buffer.from('{}')]),
    ];
    for (const f of bad) legacy.ws.send(f);
    await legacy.next(() => legacy.messages.length >= bad.length - 2, 10_000);
    expect(legacy.ws.readyState).toBe(WebSocket.OPEN);
    expect((await legacy.run('print("ok")')).stdout).toBe('ok\n');
    legacy.close();

    const v1 = await RawClient.open(s, k.id, { protocol: 'v1.kernel.websocket.jupyter.org' });
    const j = (o: unknown) => Buffer.from(JSON.stringify(o));
    const frames = [
      Buffer.alloc(4),
      Buffer.alloc(8),
      v1Frame([Buffer.from('shell'), j({}), j({}), j({}), j({})], [0n, 2n ** 63n, 5n, 1n, 0n, 0n]),
      v1Frame([Buffer.from('shell'), Buffer.from('{'), j({}), j({}), j({})]),
      v1Frame([Buffer.from('shell'), j({ msg_id: 'a', msg_type: 'execute_request' }), j({}), j({}), j([])]),
      (() => {
        const f = Buffer.alloc(16);
        f.writeBigUInt64LE(2n ** 40n, 0);
        return f;
      })(),
    ];
    for (const f of frames) v1.ws.send(f);
    await v1.next(() => v1.messages.length >= 3, 10_000);
    expect(v1.ws.readyState).toBe(WebSocket.OPEN);
    expect((await v1.run('print("ok")')).stdout).toBe('ok\n');
    v1.close();
    await stillServes();
  });

  it('replaces forged session, username and msg ids; replies go only to the sender', async () => {
    const a = await RawClient.open(s, k.id);
    const b = await RawClient.open(s, k.id);
    const m = executeMsg('print("mine")', a.session);
    m.header.session = b.session;
    m.header.username = 'admin';
    m.header.msg_id = b.messages.at(-1)?.header.msg_id ?? 'forged';
    const from = b.messages.length;
    a.send(m);
    const reply = await a.next(
      (x) => x.header.msg_type === 'execute_reply' && x.parent_header.msg_id === m.header.msg_id,
    );
    expect(reply.header.session).not.toBe(b.session);
    expect(reply.header.username).not.toBe('admin');
    await new Promise((r) => setTimeout(r, 200));
    expect(b.messages.slice(from).some((x) => x.header.msg_type === 'execute_reply')).toBe(false);
    a.close();
    b.close();
  });

  it('refuses forbidden message types with an error reply and keeps the kernel', async () => {
    const c = await RawClient.open(s, k.id);
    const cases: [string, string][] = [
      ['shutdown_request', 'control'],
      ['interrupt_request', 'control'],
      ['debug_request', 'control'],
      ['shutdown_request', 'shell'],
      ['usage_request', 'control'],
      ['execute_request', 'control'],
      ['made_up_request', 'shell'],
      ['input_reply', 'stdin'],
      ['execute_request', 'iopub'],
    ];
    for (const [type, channel] of cases) {
      const m = makeMsg(type, type === 'execute_request' ? { code: 'print(1)' } : {}, c.session, channel);
      c.send(m);
    }
    await c.next(
      () =>
        c.messages.filter((m) => /RuncellError|refused/.test(JSON.stringify(m.content))).length >=
        cases.length - 1,
      10_000,
    );
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    expect((await k.model()).execution_state).not.toBe('dead');
    c.close();
    await stillServes();
  });

  it('prototype-polluting keys and deep nesting do nothing to the server', async () => {
    const c = await RawClient.open(s, k.id);
    const polluted =
      '{"channel":"shell","header":{"msg_id":"p1","msg_type":"execute_request","__proto__":{"polluted":1},"constructor":{"prototype":{"polluted":1}}},"parent_header":{"__proto__":{"polluted":1}},"metadata":{"__proto__":{"polluted":1}},"content":{"code":"print(\'proto\')","silent":false,"store_history":true,"allow_stdin":false,"__proto__":{"polluted":1},"user_expressions":{"__proto__":{"polluted":1}}}}';
    c.ws.send(polluted);
    await c
      .next((m) => m.header.msg_type === 'execute_reply' && m.parent_header.msg_id === 'p1')
      .catch((e) => {
        throw new Error(`${e.message}: ${JSON.stringify(c.messages)}`);
      });
    const depth = 20_000;
    const deep = `${'['.repeat(depth)}${']'.repeat(depth)}`;
    c.ws.send(
      `{"channel":"shell","header":{"msg_id":"d1","msg_type":"comm_msg"},"content":{"comm_id":"x","data":{"deep":${deep}}}}`,
    );
    c.ws.send(
      `{"channel":"shell","header":{"msg_id":"d2","msg_type":"execute_request"},"content":{"code":"1","silent":false,"store_history":false,"user_expressions":{"a":${deep}}}}`,
    );
    const lp = await fetch(`${s.base}/api/kernels/${k.id}/messages?session_id=${randomUUID()}`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: `{"channel":"shell","header":{"msg_id":"d3","msg_type":"comm_msg","__proto__":{"polluted":1}},"content":{"comm_id":"x","data":${deep}}}`,
    });
    expect(lp.status).toBeLessThan(500);
    const rest = await fetch(`${s.base}/api/kernels`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json' },
      body: `{"name":"python3","__proto__":{"polluted":1},"x":${deep}}`,
    });
    expect(rest.status).toBeLessThan(500);
    if (rest.status === 201) await api(s, 'DELETE', `/api/kernels/${((await rest.json()) as Json).id}`);
    expect(({} as Json).polluted).toBeUndefined();
    expect(Object.prototype).not.toHaveProperty('polluted');
    expect((await c.run('print("after")')).stdout).toBe('after\n');
    c.close();
    await stillServes();
  });

  it('floods of input_reply and comm messages are absorbed; the kernel and others stay fine', async () => {
    const c = await RawClient.open(s, k.id);
    const quiet = await k.rtt(5);
    for (let i = 0; i < 3_000; i++) {
      c.send(makeMsg('input_reply', { value: 'x'.repeat(100) }, c.session, 'stdin'));
      c.send(makeMsg('comm_msg', { comm_id: `c${i}`, data: { v: i } }, c.session));
    }
    const during = await k.rtt(5);
    record('rtt', {
      attack: 'client flood of input_reply and comm_msg',
      quietMs: quiet,
      duringMs: during,
      ratio: during / quiet,
    });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.close();
    await stillServes();
  });
});

describe('hostile HTTP clients', () => {
  it('refuses cross-origin and origin-less anonymous websocket handshakes before the upgrade', async () => {
    await expect(rawSocket(k.id, { headers: { origin: 'https://evil.example' } })).rejects.toThrow(
      'HTTP 403',
    );
    await expect(rawSocket(k.id, { headers: { origin: `${ORIGIN}.evil.example` } })).rejects.toThrow(
      'HTTP 403',
    );
    await expect(rawSocket(k.id, { headers: { origin: 'null' } })).rejects.toThrow('HTTP 403');
    await expect(rawSocket(k.id, { headers: {} })).rejects.toThrow('HTTP 403');
    const lp = await fetch(`${s.base}/api/kernels/${k.id}/messages?session_id=x`, {
      headers: { origin: 'https://evil.example' },
    });
    expect(lp.status).toBe(403);
    expect(((await lp.json()) as Json).code).toBe('RUNCELL_ERR_FORBIDDEN_ORIGIN');
    const ok = await rawSocket(k.id, { headers: { origin: ORIGIN } });
    ok.close();
  });

  it('a token caller from an unlisted origin is served, as by Jupyter Server; without a valid token it is not', async () => {
    const evil = 'https://elsewhere.example';
    // A valid token in the header or the query (browsers' websockets can only use the query).
    const ws = await rawSocket(k.id, { headers: { ...auth, origin: evil } });
    ws.close();
    const token = auth.authorization.replace(/^token /, '');
    const q = new WebSocket(
      `${s.wsBase}/api/kernels/${k.id}/channels?session_id=${randomUUID()}&token=${token}`,
      {
        headers: { origin: evil },
      },
    );
    await new Promise((resolve, reject) => {
      q.once('open', resolve);
      q.once('unexpected-response', (_req, res) => reject(new Error(`HTTP ${res.statusCode}`)));
    });
    q.close();
    const rest = await fetch(`${s.base}/api/kernels/${k.id}`, { headers: { ...auth, origin: evil } });
    expect(rest.status).toBe(200);
    expect(rest.headers.get('access-control-allow-origin')).toBe(evil);
    const lp = await fetch(`${s.base}/api/kernels/${k.id}/messages?session_id=x&timeout=0&token=${token}`, {
      headers: { origin: evil },
    });
    expect(lp.status).toBe(200);
    // The preflight lets a request that announces a token through to its check, and nothing else.
    const pre = await fetch(`${s.base}/api/kernels`, {
      method: 'OPTIONS',
      headers: {
        origin: evil,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'authorization,content-type',
      },
    });
    expect(pre.status).toBe(204);
    expect(pre.headers.get('access-control-allow-origin')).toBe(evil);
    const bare = await fetch(`${s.base}/api/kernels`, {
      method: 'OPTIONS',
      headers: {
        origin: evil,
        'access-control-request-method': 'POST',
        'access-control-request-headers': 'content-type',
      },
    });
    expect(bare.status).toBe(403);
    // Without a token, or with a bad one, the same origin is refused.
    await expect(rawSocket(k.id, { headers: { origin: evil } })).rejects.toThrow('HTTP 403');
    await expect(
      rawSocket(k.id, { headers: { authorization: 'token nope-nope-nope', origin: evil } }),
    ).rejects.toThrow('HTTP 401');
    const anon = await fetch(`${s.base}/api/kernels`, { headers: { origin: evil } });
    expect(anon.status).toBe(403);
    expect(anon.headers.get('access-control-allow-origin')).toBeNull();
    const bad = await fetch(`${s.base}/api/kernels?token=nope-nope-nope`, { headers: { origin: evil } });
    expect(bad.status).toBe(401);
  });

  it('token guessing: every wrong token is 401, never anonymous access', async () => {
    const tries = 300;
    const statuses = new Set<number>();
    for (let i = 0; i < tries; i++) {
      const guess = i % 3 === 0 ? `test-token-0123456789abcde${i}` : randomUUID();
      const r = await fetch(`${s.base}/api/kernels?token=${guess}`);
      statuses.add(r.status);
    }
    expect([...statuses]).toEqual([401]);
    await expect(
      rawSocket(k.id, { headers: { authorization: 'token nope', origin: ORIGIN } }),
    ).rejects.toThrow('HTTP 401');
    const r = await fetch(`${s.base}/metrics`);
    expect(r.status).toBe(401);
  });

  it('kernel-id guessing finds nothing; anonymous callers do not see others’ kernels', async () => {
    for (let i = 0; i < 200; i++) {
      const id =
        i % 2
          ? randomUUID()
          : `${k.id.slice(0, -1)}${(Number.parseInt(k.id.at(-1) as string, 16) ^ 1).toString(16)}`;
      const r = await fetch(`${s.base}/api/kernels/${id}`, { headers: auth });
      expect(r.status).toBe(404);
    }
    for (const id of ['..', '%2e%2e', `${k.id}%00`, 'x'.repeat(5000), '<script>']) {
      const r = await fetch(`${s.base}/api/kernels/${id}`, { headers: auth });
      expect(r.status).toBeGreaterThanOrEqual(400);
      expect(r.status).toBeLessThan(500);
    }
    const anon = await fetch(`${s.base}/api/kernels`, { headers: { 'x-forwarded-for': '203.0.113.9' } });
    expect(anon.status).toBe(200);
    expect(JSON.stringify((await anon.json()) as Json)).not.toContain(k.id);
  });

  it('permalink enumeration: 404 then 429 after the miss limit', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < 30; i++) {
      statuses.push(
        (await fetch(`${s.base}/api/permalinks/${randomUUID().replaceAll('-', '').slice(0, 22)}`)).status,
      );
    }
    expect(statuses.slice(0, 5).every((x) => x === 404 || x === 400)).toBe(true);
    expect(statuses.at(-1)).toBe(429);
    expect(statuses.every((x) => x < 500)).toBe(true);
  });

  it('upload names with traversal and control characters never leave the work dir', async () => {
    const names = [
      '../../etc/passwd',
      '/etc/passwd',
      '..',
      '.bashrc',
      'a\u0000b',
      'a\nb',
      '\u001b[31mred',
      'x/../../y',
      ' lead',
      'ok\u202e.txt',
      'a'.repeat(300),
      'good.txt',
    ];
    const results: Record<string, number> = {};
    for (const name of names) {
      const create = await fetch(`${s.base}/api/uploads`, {
        method: 'POST',
        headers: {
          ...auth,
          'tus-resumable': '1.0.0',
          'upload-length': '3',
          'upload-metadata': `filename ${Buffer.from(name).toString('base64')}`,
        },
      });
      expect(create.status).toBeLessThan(500);
      if (create.status !== 201) {
        results[name] = create.status;
        continue;
      }
      const loc = create.headers.get('location') as string;
      const id = loc.split('/').at(-1) as string;
      const patch = await fetch(new URL(loc, s.base), {
        method: 'PATCH',
        headers: {
          ...auth,
          'tus-resumable': '1.0.0',
          'upload-offset': '0',
          'content-type': 'application/offset+octet-stream',
        },
        body: 'abc',
      });
      expect(patch.status).toBe(204);
      const place = await api(s, 'POST', `/api/kernels/${k.id}/files`, { upload: id });
      results[name] = place.status;
      expect(place.status).toBeLessThan(500);
      const named = await api(s, 'POST', `/api/kernels/${k.id}/files`, { upload: id, name });
      expect(named.status).toBeLessThan(500);
    }
    expect(
      Object.values(results).every((x) => x === 400 || x === 201),
      JSON.stringify(results),
    ).toBe(true);
    const inside = JSON.parse(
      (await k.client.run('import os, json; print(json.dumps(sorted(os.listdir(os.path.expanduser("~")))))'))
        .stdout,
    ) as string[];
    expect(results['good.txt']).toBe(201);
    // Only the one acceptable name arrived (and what ipykernel itself made).
    expect(inside.filter((n) => n !== '.ipython')).toEqual(['good.txt']);
  });

  it('a compressed body is never expanded: uploads count raw bytes, JSON routes refuse it', async () => {
    const bomb = gzipSync(Buffer.alloc(64 * 2 ** 20));
    const create = await fetch(`${s.base}/api/uploads`, {
      method: 'POST',
      headers: { ...auth, 'tus-resumable': '1.0.0', 'upload-length': String(bomb.length) },
    });
    expect(create.status).toBe(201);
    const patch = await fetch(new URL(create.headers.get('location') as string, s.base), {
      method: 'PATCH',
      headers: {
        ...auth,
        'tus-resumable': '1.0.0',
        'upload-offset': '0',
        'content-type': 'application/offset+octet-stream',
        'content-encoding': 'gzip',
      },
      body: bomb,
    });
    expect(patch.status).toBeLessThan(500);
    if (patch.status === 204) expect(patch.headers.get('upload-offset')).toBe(String(bomb.length));
    const exec = await fetch(`${s.base}/api/execute`, {
      method: 'POST',
      headers: { ...auth, 'content-type': 'application/json', 'content-encoding': 'gzip' },
      body: gzipSync(JSON.stringify({ code: 'print(1)' })),
    });
    expect(exec.status).toBeGreaterThanOrEqual(400);
    expect(exec.status).toBeLessThan(500);
    await healthy(s);
  });

  it('thousands of kernel creations from one address: 429 with Retry-After, live kernels capped', async () => {
    const from = { 'x-forwarded-for': '198.51.100.7', 'content-type': 'application/json' };
    const counts = new Map<number, number>();
    const created: string[] = [];
    const one = async () => {
      const r = await fetch(`${s.base}/api/kernels`, { method: 'POST', headers: from, body: '{}' });
      counts.set(r.status, (counts.get(r.status) ?? 0) + 1);
      if (r.status === 201) created.push(((await r.json()) as Json).id);
      else {
        expect(r.status).toBe(429);
        expect(r.headers.get('retry-after')).toBeTruthy();
        await r.body?.cancel();
      }
    };
    // 2000 requests, 20 at a time.
    for (let i = 0; i < 100; i++) await Promise.all(Array.from({ length: 20 }, one));
    expect(created.length).toBeLessThanOrEqual(5);
    expect(counts.get(429)).toBeGreaterThanOrEqual(1_995);
    for (const id of created) await api(s, 'DELETE', `/api/kernels/${id}`);
    await stillServes();
  });
});
