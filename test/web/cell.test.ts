// @vitest-environment jsdom
// What a screen reader hears when a run ends: one sentence, not the stream.
import { describe, expect, it } from 'vitest';
import { summary } from '../../web/src/cell.js';

describe('summary', () => {
  it('says how a run ended and how much it printed', () => {
    expect(summary('Code cell 3 of 12', 'ok', [])).toBe('Code cell 3 of 12 finished, no output.');
    expect(
      summary('Code cell 1 of 1', 'ok', [
        { output_type: 'stream', name: 'stdout', text: 'a\nb\n' },
        { output_type: 'stream', name: 'stderr', text: 'c' },
        { output_type: 'display_data', data: {}, metadata: {} },
      ]),
    ).toBe('Code cell 1 of 1 finished: 3 lines and 1 result of output.');
    expect(
      summary('Exercise 2', 'error', [
        { output_type: 'error', ename: 'ZeroDivisionError', evalue: 'division by zero', traceback: [] },
      ]),
    ).toBe('Exercise 2 failed: ZeroDivisionError: division by zero');
    expect(summary('Exercise 2', 'error', [])).toBe('Exercise 2 failed.');
    expect(summary('Exercise 2', 'aborted', [])).toBe('Exercise 2 stopped.');
  });
});
