// The browser side's one JSON call (web/src/fetch.ts), against a stand-in fetch: the token goes in a
// header, a 2xx answers its body, a refusal becomes ApiError with the server's code and message,
// and an unreachable server is status 0 (but an abort the caller asked for stays an abort).
import fc from 'fast-check';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { ApiError, fetchJson } from '../../web/src/fetch.js';

afterEach(() => {
  vi.unstubAllGlobals();
});

const answer = (status: number, body: string) =>
  vi.fn(async () => new Response(status === 204 ? null : body, { status }));
const call = { method: 'POST', url: 'http://h/api/x', unreachable: 'cannot reach h' };

describe('fetchJson', () => {
  it('sends the token and a JSON body, and answers the parsed body', async () => {
    const f = answer(200, '{"ok":1}');
    vi.stubGlobal('fetch', f);
    await expect(fetchJson({ ...call, token: 't1', body: { a: 1 } })).resolves.toEqual({ ok: 1 });
    const [url, init] = f.mock.calls[0] as unknown as [string, RequestInit];
    expect(url).toBe('http://h/api/x');
    expect(init.headers).toEqual({ authorization: 'token t1', 'content-type': 'application/json' });
    expect(init.body).toBe('{"a":1}');
  });

  it('sends no token header without a token, and no body or content type without a body', async () => {
    const f = answer(204, '');
    vi.stubGlobal('fetch', f);
    await expect(fetchJson({ ...call, method: 'DELETE' })).resolves.toBeUndefined();
    const [, init] = f.mock.calls[0] as unknown as [string, RequestInit];
    expect(init.headers).toEqual({});
    expect(init.body).toBeUndefined();
  });

  it("rejects a refusal with the server's code and message", async () => {
    vi.stubGlobal('fetch', answer(401, '{"code":"RUNCELL_ERR_UNAUTHORIZED","message":"no token"}'));
    const e = await fetchJson(call).catch((x: unknown) => x);
    expect(e).toBeInstanceOf(ApiError);
    expect(e).toMatchObject({ status: 401, code: 'RUNCELL_ERR_UNAUTHORIZED', message: 'no token' });
  });

  it('names the status when the refusal has no usable {code, message}', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc.integer({ min: 400, max: 599 }),
        fc.oneof(
          fc.constant(''),
          fc.constant('<html>'),
          fc.constant('{"code":5,"message":null}'),
          fc.string(),
        ),
        async (status, body) => {
          let parsed: unknown;
          try {
            parsed = JSON.parse(body);
          } catch {}
          fc.pre(typeof (parsed as { code?: unknown } | null)?.code !== 'string');
          vi.stubGlobal('fetch', answer(status, body));
          const e = (await fetchJson(call).catch((x: unknown) => x)) as ApiError;
          expect(e).toBeInstanceOf(ApiError);
          expect(e.status).toBe(status);
          expect(e.code).toBe(`HTTP_${status}`);
        },
      ),
      { numRuns: 100 },
    );
  });

  it('reports an unreachable server as status 0, and lets a requested abort through', async () => {
    vi.stubGlobal(
      'fetch',
      vi.fn(async () => {
        throw new TypeError('fetch failed');
      }),
    );
    await expect(fetchJson(call)).rejects.toMatchObject({
      status: 0,
      code: 'NETWORK',
      message: 'cannot reach h',
    });
    const ac = new AbortController();
    ac.abort();
    await expect(fetchJson({ ...call, signal: ac.signal })).rejects.toBeInstanceOf(TypeError);
  });
});
