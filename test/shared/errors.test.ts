// The error catalogue: well-formed data that every side (server, SDK, docs) can rely on.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERRORS, isErrorCode, parseAnswer } from '../../shared/errors.js';

describe('error catalogue', () => {
  const entries = Object.entries(ERRORS);

  it('names every code RUNCELL_ERR_* in capitals, each once', () => {
    for (const [code] of entries) expect(code).toMatch(/^RUNCELL_ERR_[A-Z][A-Z_]*[A-Z]$/);
    expect(new Set(entries.map(([c]) => c)).size).toBe(entries.length);
  });

  it('gives answered codes an HTTP error status, and the client-side code none', () => {
    for (const [code, e] of entries) {
      if (e.from === 'client') expect(e.status, code).toBe(0);
      else expect(e.status >= 400 && e.status < 600, code).toBe(true);
    }
    expect(ERRORS.RUNCELL_ERR_CONNECTION.from).toBe('client');
  });

  it('has a message template and a one-line description (no table breaks) for each', () => {
    for (const [code, e] of entries) {
      expect(e.message.length, code).toBeGreaterThan(0);
      expect(e.description, code).toMatch(/^[^|\n]+$/);
      // Templates take at most a text and a number: what the server's classes accept.
      expect(e.message.match(/%[a-z]/g) ?? [], code).toSatisfy(
        (fmt: string[]) =>
          fmt.every((f) => f === '%s' || f === '%d') && (e.from === 'client' || fmt.length <= 1),
      );
    }
  });

  it('knows its codes', () => {
    expect(isErrorCode('RUNCELL_ERR_BAD_REQUEST')).toBe(true);
    expect(isErrorCode('RUNCELL_ERR_NOPE')).toBe(false);
    expect(isErrorCode('toString')).toBe(false);
    expect(isErrorCode(undefined)).toBe(false);
  });

  it('imports nothing (pure data every side can load)', () => {
    const source = readFileSync(join(import.meta.dirname, '..', '..', 'shared', 'errors.ts'), 'utf8');
    expect(source).not.toMatch(/^\s*import\s/m);
  });
});

describe('parseAnswer', () => {
  it('takes the server’s code and message from an error body, and stands in for a body without them', () => {
    expect(parseAnswer(404, '{"code":"RUNCELL_ERR_NOT_FOUND","message":"no such thing"}', 'x')).toEqual({
      data: { code: 'RUNCELL_ERR_NOT_FOUND', message: 'no such thing' },
      error: { code: 'RUNCELL_ERR_NOT_FOUND', message: 'no such thing' },
    });
    expect(parseAnswer(502, '<html>Bad Gateway</html>', 'GET /api: HTTP 502')).toEqual({
      data: undefined,
      error: { code: 'HTTP_502', message: 'GET /api: HTTP 502' },
    });
    expect(parseAnswer(500, '{"code":7}', 'fallback').error).toEqual({
      code: 'HTTP_500',
      message: 'fallback',
    });
  });

  it('answers the JSON of a 2xx, undefined for an empty body, and no error', () => {
    expect(parseAnswer(200, '{"a":1}', 'x')).toEqual({ data: { a: 1 } });
    expect(parseAnswer(204, '', 'x')).toEqual({ data: undefined });
  });
});
