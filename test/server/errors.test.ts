// The error codes are declared in code and listed for users in docs/api.md (server and store codes)
// and docs/jobs.md (jobs codes): the lists must not drift from the code.
import { execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ERROR_CODES } from '../../server/errors.js';
import { JOB_ERROR_CODES } from '../../server/jobs/index.js';

const ROOT = join(import.meta.dirname, '..', '..');
const doc = (name: string) => readFileSync(join(ROOT, 'docs', name), 'utf8');
const row = (code: string, status: number) => new RegExp(`\\| \`${code}\` \\| ${status} \\|`);

describe('error codes', () => {
  it('every server code is in docs/api.md and every jobs code in docs/jobs.md, with its status', () => {
    const api = doc('api.md');
    const jobs = doc('jobs.md');
    expect(Object.entries(ERROR_CODES).filter(([c, s]) => !row(c, s).test(api))).toEqual([]);
    expect(Object.entries(JOB_ERROR_CODES).filter(([c, s]) => !row(c, s).test(jobs))).toEqual([]);
  });

  it('every code the docs list is one that something answers with (server, store, proxies)', () => {
    const documented = new Set(
      ['api.md', 'jobs.md', 'storage.md'].flatMap((f) =>
        [...doc(f).matchAll(/\| `(RUNCELL_ERR_[A-Z_]+)` \| \d{3} \|/g)].map((m) => m[1] as string),
      ),
    );
    expect(documented.size).toBeGreaterThan(30);
    const sources = execFileSync('grep', ['-rhoE', 'RUNCELL_ERR_[A-Z_]+', 'server', 'ops'], {
      cwd: ROOT,
      encoding: 'utf8',
    });
    const declared = new Set(sources.split('\n'));
    expect([...documented].filter((c) => !declared.has(c))).toEqual([]);
  });
});
