// Where a login code may go (shared/login.ts, used by the server and the login page alike): only
// to http://127.0.0.1, [::1] or localhost with a port and a path, written in normal form.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { callbackWith, checkCallback } from '../../shared/login.js';

const port = fc.integer({ min: 1, max: 65_535 });
const segment = fc.stringMatching(/^[A-Za-z0-9._~-]{1,20}$/).filter((s) => s !== '.' && s !== '..');
const path = fc.array(segment, { minLength: 1, maxLength: 4 }).map((s) => `/${s.join('/')}`);
const host = fc.constantFrom('127.0.0.1', '[::1]', 'localhost');

describe('checkCallback', () => {
  it('accepts loopback URLs with a port and a path', () => {
    fc.assert(
      fc.property(host, port, path, (h, p, pa) => {
        const cb = `http://${h}:${p}${pa}`;
        // Port 80 is http's default: normal form drops it, so it is refused (no port).
        expect(checkCallback(cb).ok).toBe(p !== 80);
      }),
      { numRuns: 500 },
    );
  });

  it('refuses every other host, scheme, credentials, query and fragment', () => {
    const other = fc.webUrl({ withQueryParameters: true, withFragments: true }).filter((u) => {
      const h = new URL(u).hostname;
      return !['127.0.0.1', '[::1]', 'localhost'].includes(h);
    });
    fc.assert(
      fc.property(other, (u) => {
        expect(checkCallback(u).ok).toBe(false);
      }),
      { numRuns: 500 },
    );
    fc.assert(
      fc.property(
        host,
        port.filter((p) => p !== 80),
        path,
        fc.constantFrom('https://', 'ws://', 'ftp://', 'http://u@', 'http://u:p@'),
        fc.constantFrom('', '?a=1', '#f'),
        (h, p, pa, scheme, tail) => {
          const cb = `${scheme}${h}:${p}${pa}${tail}`;
          expect(checkCallback(cb).ok).toBe(false);
        },
      ),
      { numRuns: 300 },
    );
  });

  it('refuses look-alikes and anything not in normal form', () => {
    for (const cb of [
      'http://127.0.0.2:8000/cb',
      'http://127.1:8000/cb',
      'http://2130706433:8000/cb',
      'http://0x7f.0.0.1:8000/cb',
      'http://[::ffff:7f00:1]:8000/cb',
      'http://localhost.localdomain:8000/cb',
      'http://LocalHost:8000/cb',
      'http://127.0.0.1:08000/cb',
      'http://127.0.0.1:8000/a/../cb',
      'http://127.0.0.1:8000/cb ',
      ' http://127.0.0.1:8000/cb',
      'http:127.0.0.1:8000/cb',
      'http://127.0.0.1:8000/',
      '',
    ])
      expect(checkCallback(cb).ok, cb).toBe(false);
  });

  it('answers every string, and accepts only what it would open unchanged', () => {
    const near = fc
      .tuple(
        fc.constantFrom('http://', 'https://', 'http:', ''),
        fc.constantFrom('127.0.0.1', '[::1]', 'localhost', '127.1', 'evil.example', 'u@127.0.0.1'),
        fc.oneof(
          fc.constant(''),
          port.map((p) => `:${p}`),
        ),
        fc.oneof(fc.constant(''), path),
        fc.constantFrom('', '?x', '#y', '/..', '%2e'),
      )
      .map((parts) => parts.join(''));
    fc.assert(
      fc.property(fc.oneof(near, fc.string(), fc.webUrl()), (cb) => {
        const r = checkCallback(cb);
        if (r.ok) {
          expect(r.url.href).toBe(cb);
          expect(['127.0.0.1', '[::1]', 'localhost']).toContain(r.url.hostname);
          expect(r.url.protocol).toBe('http:');
        } else expect(r.reason).toMatch(/^the callback /);
      }),
      { numRuns: 2_000 },
    );
  });

  it('appends the code and state to the callback', () => {
    const r = checkCallback('http://127.0.0.1:5000/callback');
    if (!r.ok) throw new Error(r.reason);
    const to = new URL(callbackWith(r.url, { code: 'a&b=c', state: 's t' }));
    expect(`${to.origin}${to.pathname}`).toBe('http://127.0.0.1:5000/callback');
    expect(Object.fromEntries(to.searchParams)).toEqual({ code: 'a&b=c', state: 's t' });
  });
});
