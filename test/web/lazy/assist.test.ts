// Completion replies from the kernel: cursor offsets in code points (Jupyter) against UTF-16 (the
// editor), and replies that are malformed or hostile give no completion rather than a broken one.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { completionResult, fromCodePoints, toCodePoints } from '../../../web/src/lazy/assist.js';

describe('cursor offsets', () => {
  it('counts a character outside the BMP once', () => {
    const s = 'x = "😀"; x.up';
    expect(s.length).toBe(14);
    expect(toCodePoints(s, s.length)).toBe(13);
    expect(fromCodePoints(s, 13)).toBe(14);
    expect(fromCodePoints(s, 99)).toBe(14);
  });

  it('round-trips every offset that is not inside a surrogate pair', () => {
    fc.assert(
      fc.property(fc.string({ unit: 'grapheme', maxLength: 30 }), (s) => {
        for (let i = 0; i <= s.length; i++) {
          const c = s.charCodeAt(i - 1);
          if (c >= 0xd800 && c <= 0xdbff) continue;
          expect(fromCodePoints(s, toCodePoints(s, i))).toBe(i);
        }
      }),
    );
  });
});

describe('completionResult', () => {
  const code = 'import math\nmath.fl';
  const ok = {
    status: 'ok',
    matches: ['floor', 'floor', 'fabs', 7, ''],
    cursor_start: 17,
    cursor_end: 19,
    metadata: {
      _jupyter_types_experimental: [
        { text: 'floor', type: 'function', signature: '(x, /)' },
        { text: 'fabs', type: '<img src=x>' },
      ],
    },
  };

  it('maps matches, once each, with jedi types as icons and signatures as detail', () => {
    const r = completionResult(code, code.length, ok);
    expect(r?.from).toBe(17);
    expect(r?.to).toBe(19);
    expect(r?.options).toEqual([{ label: 'floor', type: 'function', detail: '(x, /)' }, { label: 'fabs' }]);
  });

  it('gives nothing for errors, offsets that do not surround the cursor, or non-numbers', () => {
    expect(completionResult(code, code.length, undefined)).toBeUndefined();
    expect(completionResult(code, code.length, { ...ok, status: 'error' })).toBeUndefined();
    expect(completionResult(code, code.length, { ...ok, cursor_start: 20, cursor_end: 21 })).toBeUndefined();
    expect(completionResult(code, code.length, { ...ok, cursor_start: '17' })).toBeUndefined();
    expect(completionResult(code, code.length, { ...ok, matches: 'floor' })).toBeUndefined();
    expect(completionResult(code, code.length, { ...ok, matches: [] })).toBeUndefined();
  });

  it('caps a flood of matches', () => {
    const many = Array.from({ length: 5_000 }, (_, i) => `m${i}`);
    expect(completionResult(code, code.length, { ...ok, matches: many })?.options).toHaveLength(300);
  });
});
