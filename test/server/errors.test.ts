// The error codes are declared once (shared/errors.ts); docs/api.md's table is generated from that
// catalogue and must match it, and docs/jobs.md and docs/storage.md, which tell more about when their
// codes arise, must name only codes of the catalogue, with their status. The server builds one error
// class per code of the catalogue.
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import * as errors from '../../server/errors.js';
import { ERRORS, type ErrorCode } from '../../shared/errors.js';

const ROOT = join(import.meta.dirname, '..', '..');
const read = (...path: string[]) => readFileSync(join(ROOT, ...path), 'utf8');
const BEGIN = '<!-- generated from shared/errors.ts; test/server/errors.test.ts keeps it in step -->\n';
const END = '\n<!-- end of generated table -->';

/** docs/api.md's table as the catalogue says it (paste it there when this test fails). */
function table(): string {
  const rows = Object.entries(ERRORS).map(
    ([code, e]) => `| \`${code}\` | ${e.status === 0 ? '—' : e.status} | ${e.description} |`,
  );
  return ['| code | status | when |', '| --- | --- | --- |', ...rows].join('\n');
}

describe('error codes', () => {
  it("docs/api.md's table is the catalogue's", () => {
    const api = read('docs', 'api.md');
    const start = api.indexOf(BEGIN);
    const end = api.indexOf(END);
    expect(start).toBeGreaterThan(0);
    expect(api.slice(start + BEGIN.length, end)).toBe(table());
  });

  it('docs/jobs.md and docs/storage.md name only codes of the catalogue, with its status', () => {
    const wrong = ['jobs.md', 'storage.md'].flatMap((f) =>
      [...read('docs', f).matchAll(/\| `(RUNCELL_ERR_[A-Z_]+)` \| (\d{3}) \|/g)]
        .filter(([, code, status]) => ERRORS[code as ErrorCode]?.status !== Number(status))
        .map(([row]) => `${f}: ${row}`),
    );
    expect(wrong).toEqual([]);
    // Every jobs code is in jobs.md.
    const jobs = read('docs', 'jobs.md');
    const missing = Object.keys(ERRORS).filter(
      (c) => /^RUNCELL_ERR_JOBS?_/.test(c) && !jobs.includes(`| \`${c}\` |`),
    );
    expect(missing).toEqual([]);
  });

  it("HAProxy's error pages answer codes of the catalogue, with its status", () => {
    for (const [file, code] of [
      ['kernel-lost.http', 'RUNCELL_ERR_KERNEL_LOST'],
      ['unavailable.http', 'RUNCELL_ERR_UNAVAILABLE'],
    ] as const) {
      const page = read('ops', 'haproxy', 'errors', file);
      expect(page).toMatch(new RegExp(`^HTTP/1\\.1 ${ERRORS[code].status} `));
      expect(JSON.parse(page.slice(page.indexOf('{')))).toEqual({ code, message: ERRORS[code].message });
      expect(ERRORS[code].from).toBe('haproxy');
    }
  });

  it('the server has one error class per server code, with its status, and no other', () => {
    type Class = new (...a: unknown[]) => errors.HttpError;
    const classes = (Object.values(errors) as unknown[]).filter(
      (v): v is Class => typeof v === 'function' && v.prototype instanceof Error,
    );
    const built = classes.map((C) => {
      const e = new C('x');
      return [e.code, e.statusCode];
    });
    const expected = Object.entries(ERRORS)
      .filter(([, e]) => e.from === 'server')
      .map(([code, e]) => [code, e.status]);
    expect(built.sort()).toEqual(expected.sort());
  });

  it('keeps the original error as cause and formats the message template', () => {
    const cause = new Error('ECONNREFUSED 127.0.0.1:5432');
    const e = new errors.StoreUnavailableError({ cause });
    expect(e.cause).toBe(cause);
    expect(e.message).toBe(ERRORS.RUNCELL_ERR_STORE_UNAVAILABLE.message);
    expect(new errors.UploadOffsetMismatchError(42).message).toBe(
      'Upload-Offset does not match the upload (expected 42)',
    );
    expect(new errors.BadRequest('unknown file id').message).toBe('unknown file id');
  });
});
