// The CLI's table helpers: reasons cut at a word boundary, phases from a job's times.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { elide, jobTable, phases } from '../../cli/output.js';
import type { JobSummary } from '../../sdk/index.js';

describe('elide', () => {
  it('keeps short reasons whole and on one line', () => {
    expect(elide('ZeroDivisionError: division\nby zero')).toBe('ZeroDivisionError: division by zero');
    expect(elide(null)).toBe('');
  });

  it('cuts long ones at a word boundary, with an ellipsis', () => {
    const r = elide(
      "the input files could not be placed: the job's input files total 2000000000 bytes, over the limit",
    );
    expect(r).toBe("the input files could not be placed: the job's input files…");
    expect(r.length).toBeLessThanOrEqual(60);
  });

  it('never exceeds the width, never ends inside a word when there is a space to cut at', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), fc.integer({ min: 10, max: 80 }), (s, width) => {
        const out = elide(s, width);
        expect(out.length).toBeLessThanOrEqual(width);
        const flat = s.replace(/\s+/g, ' ').trim();
        if (flat.length <= width) expect(out).toBe(flat);
        else {
          expect(out.endsWith('…')).toBe(true);
          const kept = out.slice(0, -1);
          expect(flat.startsWith(kept)).toBe(true);
        }
      }),
    );
  });
});

describe('phases and the table', () => {
  const job = {
    id: '0b6f0000-0000-4000-8000-000000000000',
    batch_id: '5d0c2a4e-0000-4000-8000-000000000000',
    name: 'a.py',
    state: 'succeeded',
    attempt: 2,
    reason: null,
    created_at: '2026-01-01T00:00:00.000Z',
    launched_at: '2026-01-01T00:00:01.500Z',
    started_at: '2026-01-01T00:00:03.000Z',
    finished_at: '2026-01-01T00:00:03.250Z',
    result: { timings: { files_in_ms: 1200 } },
  } as unknown as JobSummary & { result: { timings: { files_in_ms: number } } };

  it('queued, placing inputs and running, in seconds', () => {
    expect(phases(job)).toEqual({ queued: 1.5, inputs: 1.2, running: 0.25 });
    expect(phases({ ...job, launched_at: null, started_at: null, result: null } as never)).toEqual({
      queued: null,
      inputs: null,
      running: null,
    });
  });

  it('shows the batch, the attempt and the phases', () => {
    const t = jobTable([job]);
    expect(t).toMatch(/^ID\s+BATCH\s+NAME\s+STATE\s+TRY\s+QUEUED\s+INPUTS\s+SECONDS\s+REASON\n/);
    expect(t).toMatch(/5d0c2a4e\s+a\.py\s+succeeded\s+2\s+1\.50\s+1\.20\s+0\.25/);
  });
});
