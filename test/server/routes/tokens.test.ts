// The tokens and login routes on the real app (auth hook, error handler) with a real database, on
// both backends: create, list, revoke, owner isolation, the secret kept only as a digest, bad input,
// the login code's callback, one use, verifier and expiry, the exchange rate limit. On Postgres also:
// an outage (through a TCP proxy) fails issued tokens closed while configured ones keep working, and a
// revocation on one instance reaches another through NOTIFY long before its cache would expire.
import { createHash, randomBytes } from 'node:crypto';
import type { FastifyInstance } from 'fastify';
import { pino } from 'pino';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { KernelManager } from '../../../kernel-manager/index.js';
import { type App, buildApp } from '../../../server/app.js';
import { kernelManagerConfig, loadConfig, type ServerConfig } from '../../../server/config.js';
import type { Store } from '../../../server/store/db.js';
import { SUITE_KERNELS } from '../../suite-kernels.js';
import { type Backend, backends, postgresBackend, type TestDb } from '../store/helpers.js';
import { TcpProxy } from '../store/tcp-proxy.js';

// biome-ignore lint/suspicious/noExplicitAny: response bodies are free-form JSON here
type Json = any;

const SLOT = 43;
const A = 'tokens-account-a-0123456789abcdef';
const B = 'tokens-account-b-0123456789abcdef';
const C = 'tokens-account-c-0123456789abcdef';
const log = pino({ level: process.env.RUNCELL_TEST_LOG ?? 'silent' });

interface Instance {
  app: App;
  manager: KernelManager;
  store: Store;
  close(): Promise<void>;
}

async function start(db: TestDb, over: Partial<ServerConfig> = {}, databaseUrl?: string): Promise<Instance> {
  const config = loadConfig(
    {},
    {
      port: 0,
      logLevel: 'silent',
      poolSize: 0,
      maxKernels: 1,
      ...SUITE_KERNELS,
      tokens: [A, B, C],
      sandboxUidRange: [65_000 + SLOT * 100, 65_000 + SLOT * 100 + 99],
      sandboxRuntimeRoot: `/run/rc-s${SLOT}`,
      apiTokensMax: 3,
      loginExchangesPerMinute: 12,
      ...over,
    },
  );
  const store = await db.open(databaseUrl ? { databaseUrl, connectTimeoutMs: 1000 } : {});
  const manager = await KernelManager.create(kernelManagerConfig(config), log);
  const app = await buildApp({ config, manager, logger: log, store });
  return {
    app,
    manager,
    store,
    async close() {
      await app.close();
      await manager.close();
      await store.close();
    },
  };
}

const auth = (t: string) => ({ authorization: `token ${t}` });

async function call(
  app: FastifyInstance,
  method: 'GET' | 'POST' | 'DELETE',
  url: string,
  token?: string,
  body?: unknown,
): Promise<{ status: number; body: Json; headers: Record<string, unknown> }> {
  const r = await app.inject({
    method,
    url,
    headers: token === undefined ? {} : auth(token),
    ...(body === undefined ? {} : { payload: body as object }),
  });
  return { status: r.statusCode, body: r.body ? JSON.parse(r.body) : undefined, headers: r.headers };
}

/** A PKCE pair (RFC 7636 §4.1-4.2, S256). */
function pkce(): { verifier: string; challenge: string } {
  const verifier = randomBytes(32).toString('base64url');
  return { verifier, challenge: createHash('sha256').update(verifier).digest('base64url') };
}

const CALLBACK = 'http://127.0.0.1:53117/callback';

/** An approved login through the API: the redirect's code, and what the CLI would hold. */
async function approve(app: FastifyInstance, token: string, name = 'runcell CLI on testhost') {
  const p = pkce();
  const state = randomBytes(16).toString('base64url');
  const r = await call(app, 'POST', '/api/login/codes', token, {
    callback: CALLBACK,
    state,
    challenge: p.challenge,
    name,
  });
  expect(r.status).toBe(201);
  const redirect = new URL(r.body.redirect);
  return { ...p, state, redirect, code: redirect.searchParams.get('code') as string };
}

describe.each(backends)('tokens routes on $name', (backend: Backend) => {
  let db: TestDb;
  let s: Instance;
  let app: FastifyInstance;
  beforeAll(async () => {
    db = await backend.create();
    s = await start(db);
    app = s.app.app;
  });
  afterAll(async () => {
    await s?.close();
    await db?.cleanup();
  });

  it('says who a configured token is; anonymous and wrong tokens get 401', async () => {
    const me = await call(app, 'GET', '/api/whoami', A);
    expect(me).toMatchObject({
      status: 200,
      body: { owner: 'token:0', credential: 'configured', token: null },
    });
    expect((await call(app, 'GET', '/api/whoami', B)).body.owner).toBe('token:1');
    for (const t of [undefined, 'nope', `rc_${randomBytes(32).toString('base64url')}`]) {
      const r = await call(app, 'GET', '/api/tokens', t);
      expect(r.status).toBe(401);
      expect(r.body.code).toBe('RUNCELL_ERR_UNAUTHORIZED');
    }
    expect((await call(app, 'POST', '/api/tokens', undefined, { name: 'x' })).status).toBe(401);
  });

  it('creates a token shown once, stores only its digest, and the token acts as its account', async () => {
    const r = await call(app, 'POST', '/api/tokens', A, { name: 'laptop' });
    expect(r.status).toBe(201);
    expect(r.headers['cache-control']).toBe('no-store');
    const token = r.body.token as string;
    expect(token).toMatch(/^rc_[A-Za-z0-9_-]{43}$/);
    expect(r.body).toMatchObject({ name: 'laptop', prefix: token.slice(0, 11) });

    // The table holds the sha256 and the prefix, never the token.
    const rows = await s.store.sql<Json[]>`select * from api_tokens where id = ${r.body.id}`;
    expect(rows).toHaveLength(1);
    const row = rows[0];
    expect(Buffer.from(row.digest).equals(createHash('sha256').update(token).digest())).toBe(true);
    expect(JSON.stringify(rows)).not.toContain(token.slice(11));
    expect(row.account).not.toContain(A);

    const me = await call(app, 'GET', '/api/whoami', token);
    expect(me.body).toEqual({
      owner: 'token:0',
      credential: 'issued',
      token: { id: r.body.id, name: 'laptop', prefix: token.slice(0, 11) },
    });
    // Listed for its account (by either token), without the secret; `current` marks the caller's.
    const byIssued = await call(app, 'GET', '/api/tokens', token);
    expect(byIssued.body.max).toBe(3);
    expect(byIssued.body.tokens).toHaveLength(1);
    expect(byIssued.body.tokens[0]).toMatchObject({
      id: r.body.id,
      name: 'laptop',
      prefix: token.slice(0, 11),
      created_at: expect.any(String),
      current: true,
    });
    expect(Object.keys(byIssued.body.tokens[0]).sort()).toEqual(
      ['created_at', 'current', 'id', 'last_used_at', 'name', 'prefix'].sort(),
    );
    // Its use is recorded (off the request path).
    await expect
      .poll(async () => (await call(app, 'GET', '/api/tokens', A)).body.tokens[0].last_used_at)
      .toEqual(expect.any(String));
    expect(JSON.stringify(byIssued.body)).not.toContain(token.slice(11));
    const byAccount = await call(app, 'GET', '/api/tokens', A);
    expect(byAccount.body.tokens.map((t: Json) => [t.id, t.current])).toEqual([[r.body.id, false]]);
    // /metrics and /api/stats are operators' views: configured tokens only.
    for (const path of ['/metrics', '/api/stats']) {
      const refused = await call(app, 'GET', path, token);
      expect(refused.status, path).toBe(403);
      expect(refused.body.code).toBe('RUNCELL_ERR_FORBIDDEN');
      expect((await app.inject({ method: 'GET', url: path, headers: auth(A) })).statusCode, path).toBe(200);
    }
    // An issued token may issue more for its own account.
    const more = await call(app, 'POST', '/api/tokens', token, { name: 'ci' });
    expect(more.status).toBe(201);
    expect((await call(app, 'GET', '/api/whoami', more.body.token)).body.owner).toBe('token:0');
    for (const id of [more.body.id, r.body.id]) await call(app, 'DELETE', `/api/tokens/${id}`, A);
  });

  it('isolates accounts: another account neither sees nor revokes a token', async () => {
    const mine = (await call(app, 'POST', '/api/tokens', A, { name: 'isolated' })).body;
    const theirs = await call(app, 'GET', '/api/tokens', B);
    expect(theirs.body.tokens).toEqual([]);
    const del = await call(app, 'DELETE', `/api/tokens/${mine.id}`, B);
    expect(del.status).toBe(404);
    expect(del.body.code).toBe('RUNCELL_ERR_NO_SUCH_TOKEN');
    const missing = await call(app, 'DELETE', '/api/tokens/00000000-0000-4000-8000-000000000000', B);
    expect(missing.body).toEqual({ code: 'RUNCELL_ERR_NO_SUCH_TOKEN', message: expect.any(String) });
    expect((await call(app, 'GET', '/api/whoami', mine.token)).status).toBe(200);
    await call(app, 'DELETE', `/api/tokens/${mine.id}`, A);
  });

  it('revokes: the token is refused at once, and a second revoke is 404', async () => {
    const t = (await call(app, 'POST', '/api/tokens', A, { name: 'to revoke' })).body;
    expect((await call(app, 'GET', '/api/whoami', t.token)).status).toBe(200); // now cached
    expect((await call(app, 'DELETE', `/api/tokens/${t.id}`, A)).status).toBe(204);
    const after = await call(app, 'GET', '/api/whoami', t.token);
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('RUNCELL_ERR_UNAUTHORIZED');
    expect((await call(app, 'DELETE', `/api/tokens/${t.id}`, A)).status).toBe(404);
    expect((await call(app, 'GET', '/api/tokens', A)).body.tokens.map((x: Json) => x.id)).not.toContain(t.id);
    const [row] = await s.store.sql<Json[]>`select revoked_at from api_tokens where id = ${t.id}`;
    expect(row.revoked_at).toBeInstanceOf(Date);
  });

  it('revokes the current token (logout); a configured token cannot be revoked that way', async () => {
    const t = (await call(app, 'POST', '/api/tokens', A, { name: 'session' })).body;
    expect((await call(app, 'DELETE', '/api/tokens/current', t.token)).status).toBe(204);
    expect((await call(app, 'GET', '/api/whoami', t.token)).status).toBe(401);
    expect((await call(app, 'DELETE', '/api/tokens/current', t.token)).status).toBe(401);
    const cfg = await call(app, 'DELETE', '/api/tokens/current', A);
    expect(cfg.status).toBe(409);
    expect(cfg.body.code).toBe('RUNCELL_ERR_TOKEN_NOT_REVOCABLE');
    expect((await call(app, 'GET', '/api/whoami', A)).status).toBe(200);
  });

  it('refuses bad input with 400 {code, message}', async () => {
    const bad: unknown[] = [
      {},
      { name: '' },
      { name: '   ' },
      { name: 'x'.repeat(101) },
      { name: 'evil\u202etxt.exe' },
      { name: 'line\nbreak' },
      { name: ['a', 'b'] },
    ];
    for (const body of bad) {
      const r = await call(app, 'POST', '/api/tokens', A, body);
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.body.code).toBe('RUNCELL_ERR_BAD_REQUEST');
    }
    expect((await call(app, 'DELETE', '/api/tokens/not-a-uuid', A)).status).toBe(400);
    expect((await call(app, 'POST', '/api/login/codes', A, { callback: CALLBACK })).status).toBe(400);
    expect((await call(app, 'POST', '/api/login/token', undefined, { code: 'x' })).status).toBe(400);
  });

  it('bounds live tokens per account', async () => {
    const made: string[] = [];
    for (let i = 0; i < 3; i++) {
      const r = await call(app, 'POST', '/api/tokens', C, { name: `t${i}` });
      expect(r.status).toBe(201);
      made.push(r.body.id);
    }
    const full = await call(app, 'POST', '/api/tokens', C, { name: 'one too many' });
    expect(full.status).toBe(409);
    expect(full.body.code).toBe('RUNCELL_ERR_TOO_MANY_TOKENS');
    // A full account cannot approve a login either; revoking makes room.
    const p = pkce();
    const code = await call(app, 'POST', '/api/login/codes', C, {
      callback: CALLBACK,
      state: 'state-0123456789abcdef',
      challenge: p.challenge,
      name: 'cli',
    });
    expect(code.body.code).toBe('RUNCELL_ERR_TOO_MANY_TOKENS');
    await call(app, 'DELETE', `/api/tokens/${made[0]}`, C);
    expect((await call(app, 'POST', '/api/tokens', C, { name: 'room' })).status).toBe(201);
  });

  it('hands login codes only to callbacks on this computer', async () => {
    const p = pkce();
    const body = (callback: string) => ({
      callback,
      state: 'state-0123456789abcdef',
      challenge: p.challenge,
      name: 'cli',
    });
    const foreign = [
      'https://evil.example/callback',
      'http://evil.example:8080/callback',
      'http://127.0.0.1.evil.example:8080/callback',
      'http://127.0.0.1/callback',
      'http://127.0.0.1:8080/',
      'http://127.0.0.1:8080',
      'https://127.0.0.1:8080/callback',
      'http://user:pw@127.0.0.1:8080/callback',
      'http://127.0.0.1:8080/callback?next=https://evil.example',
      'http://127.0.0.1:8080/callback#x',
      'http://127.1:8080/callback',
      'http://0.0.0.0:8080/callback',
      'http://[::ffff:127.0.0.1]:8080/callback',
      'http://LOCALHOST:8080/callback',
      'http://localhost.:8080/callback',
      'javascript:alert(1)//127.0.0.1:8080/callback',
      'file:///etc/passwd',
      '//127.0.0.1:8080/callback',
      'http://127.0.0.1:8080\\@evil.example/callback',
      'http://evil.example:8080/@127.0.0.1:8080/callback',
    ];
    for (const cb of foreign) {
      const r = await call(app, 'POST', '/api/login/codes', A, body(cb));
      expect(r.status, cb).toBe(400);
      expect(r.body.code, cb).toBe('RUNCELL_ERR_BAD_CALLBACK');
    }
    expect(await s.store.sql`select 1 from login_codes`).toHaveLength(0);
    for (const cb of ['http://127.0.0.1:8080/cb', 'http://[::1]:8080/cb', 'http://localhost:8080/x/y']) {
      const r = await call(app, 'POST', '/api/login/codes', A, body(cb));
      expect(r.status, cb).toBe(201);
      const redirect = new URL(r.body.redirect);
      expect(`${redirect.origin}${redirect.pathname}`).toBe(cb);
      expect(redirect.searchParams.get('state')).toBe('state-0123456789abcdef');
      expect(redirect.searchParams.get('code')).toMatch(/^[A-Za-z0-9_-]{43}$/);
    }
    // Approving needs a token.
    expect((await call(app, 'POST', '/api/login/codes', undefined, body(CALLBACK))).status).toBe(401);
  });

  it('exchanges a code once, for the verifier behind its challenge, before it expires', async () => {
    const a = await approve(app, A);
    expect(a.redirect.origin + a.redirect.pathname).toBe(CALLBACK);
    expect(a.redirect.searchParams.get('state')).toBe(a.state);
    // The code is kept only as a digest too.
    const codes = await s.store.sql<Json[]>`select * from login_codes`;
    expect(JSON.stringify(codes)).not.toContain(a.code);

    const ok = await call(app, 'POST', '/api/login/token', undefined, {
      code: a.code,
      verifier: a.verifier,
      callback: CALLBACK,
    });
    expect(ok.status).toBe(201);
    expect(ok.headers['cache-control']).toBe('no-store');
    expect(ok.body).toMatchObject({ name: 'runcell CLI on testhost', token: expect.stringMatching(/^rc_/) });
    const me = await call(app, 'GET', '/api/whoami', ok.body.token);
    expect(me.body).toMatchObject({ owner: 'token:0', credential: 'issued' });

    // Reuse.
    const again = await call(app, 'POST', '/api/login/token', undefined, {
      code: a.code,
      verifier: a.verifier,
      callback: CALLBACK,
    });
    expect(again.status).toBe(400);
    expect(again.body.code).toBe('RUNCELL_ERR_LOGIN_CODE_INVALID');

    // A wrong verifier is refused, and burns the code: the right one cannot use it afterwards.
    const b = await approve(app, A);
    const wrong = await call(app, 'POST', '/api/login/token', undefined, {
      code: b.code,
      verifier: pkce().verifier,
      callback: CALLBACK,
    });
    expect(wrong.body.code).toBe('RUNCELL_ERR_LOGIN_CODE_INVALID');
    const late = await call(app, 'POST', '/api/login/token', undefined, {
      code: b.code,
      verifier: b.verifier,
      callback: CALLBACK,
    });
    expect(late.status).toBe(400);

    // Another callback than the one approved.
    const c = await approve(app, A);
    const moved = await call(app, 'POST', '/api/login/token', undefined, {
      code: c.code,
      verifier: c.verifier,
      callback: 'http://127.0.0.1:53118/callback',
    });
    expect(moved.body.code).toBe('RUNCELL_ERR_LOGIN_CODE_INVALID');

    // Expired (the database's clock decides).
    const d = await approve(app, A);
    const digest = createHash('sha256').update(d.code).digest();
    await s.store
      .sql`update login_codes set expires_at = now() - interval '1 second' where digest = ${digest}`;
    const expired = await call(app, 'POST', '/api/login/token', undefined, {
      code: d.code,
      verifier: d.verifier,
      callback: CALLBACK,
    });
    expect(expired.status).toBe(400);
    expect(expired.body).toEqual({
      code: 'RUNCELL_ERR_LOGIN_CODE_INVALID',
      message: expect.stringMatching(/expired/),
    });

    // An issued token may approve too; its login acts for the same account.
    const e = await approve(app, ok.body.token, 'second machine');
    const second = await call(app, 'POST', '/api/login/token', undefined, {
      code: e.code,
      verifier: e.verifier,
      callback: CALLBACK,
    });
    expect((await call(app, 'GET', '/api/whoami', second.body.token)).body.owner).toBe('token:0');
    for (const t of [ok.body.id, second.body.id]) await call(app, 'DELETE', `/api/tokens/${t}`, A);
  });

  it('rate-limits code exchanges per address (429 with Retry-After)', async () => {
    let limited: Awaited<ReturnType<typeof call>> | undefined;
    for (let i = 0; i < 13 && !limited; i++) {
      const r = await call(app, 'POST', '/api/login/token', undefined, {
        code: randomBytes(32).toString('base64url'),
        verifier: pkce().verifier,
        callback: CALLBACK,
      });
      if (r.status === 429) limited = r;
      else expect(r.body.code).toBe('RUNCELL_ERR_LOGIN_CODE_INVALID');
    }
    expect(limited?.body.code).toBe('RUNCELL_ERR_RATE_LIMITED');
    expect(Number(limited?.headers['retry-after'])).toBeGreaterThan(0);
  });
});

describe('tokens on Postgres: outages and other instances', () => {
  let db: TestDb;
  let proxy: TcpProxy;
  let viaProxy: Instance;
  let other: Instance;
  beforeAll(async () => {
    db = await postgresBackend.create();
    let url: string;
    ({ proxy, url } = await TcpProxy.toDatabase(db.options.databaseUrl as string));
    viaProxy = await start(db, { apiTokenCacheMs: 200 }, url);
    // Another instance on the same database, trusting its lookups for a minute.
    other = await start(db, { apiTokenCacheMs: 60_000 });
  });
  afterAll(async () => {
    await viaProxy?.close();
    await other?.close();
    await proxy?.stop();
    await db?.cleanup();
  });

  it('fails issued tokens closed while the database is gone; configured tokens keep working', async () => {
    const app = viaProxy.app.app;
    const t = (await call(app, 'POST', '/api/tokens', A, { name: 'outage' })).body;
    expect((await call(app, 'GET', '/api/whoami', t.token)).status).toBe(200);
    await proxy.stop();
    await new Promise((r) => setTimeout(r, 300)); // past the 200 ms cache
    const down = await call(app, 'GET', '/api/whoami', t.token);
    expect(down.status).toBe(503);
    expect(down.body).toEqual({ code: 'RUNCELL_ERR_TOKEN_UNVERIFIABLE', message: expect.any(String) });
    expect(down.body.message).not.toMatch(/postgres|127\.0\.0\.1|ECONN/i);
    expect(Number(down.headers['retry-after'])).toBeGreaterThan(0);
    // Anything unknown is still refused, not let through.
    expect(
      (await call(app, 'GET', '/api/whoami', `rc_${randomBytes(32).toString('base64url')}`)).status,
    ).toBe(503);
    expect((await call(app, 'GET', '/api/whoami', A)).status).toBe(200);
    // The tokens routes answer an outage as every other route does.
    const list = await call(app, 'GET', '/api/tokens', A);
    expect(list.status).toBe(503);
    expect(list.body).toEqual({ code: 'RUNCELL_ERR_STORE_UNAVAILABLE', message: expect.any(String) });
    expect(Number(list.headers['retry-after'])).toBeGreaterThan(0);
    await proxy.start();
    await expect
      .poll(async () => (await call(app, 'GET', '/api/whoami', t.token)).status, { timeout: 15_000 })
      .toBe(200);
  });

  it('a revocation on one instance reaches another at once, whatever its cache', async () => {
    const a = viaProxy.app.app;
    const b = other.app.app;
    const t = (await call(a, 'POST', '/api/tokens', B, { name: 'two instances' })).body;
    expect((await call(b, 'GET', '/api/whoami', t.token)).status).toBe(200); // cached on b for 60 s
    expect((await call(a, 'DELETE', `/api/tokens/${t.id}`, B)).status).toBe(204);
    // b's cache would trust the token for 60 s: a refusal well before that came from the revocation
    // notice (how fast it travels is not asserted here).
    await expect
      .poll(async () => (await call(b, 'GET', '/api/whoami', t.token)).status, {
        timeout: 30_000,
        interval: 50,
      })
      .toBe(401);
  });
});
