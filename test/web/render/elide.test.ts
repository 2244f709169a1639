// Long stream text: the middle left out beyond a number of lines, nothing lost in the cut.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { elide } from '../../../web/src/render/elide.js';

const lines = (n: number, end = '\n') =>
  Array.from({ length: n }, (_, i) => `line ${i}`).join('\n') + (n ? end : '');

describe('elide', () => {
  it('keeps the first and last half of max lines and counts what it leaves out', () => {
    const cut = elide(lines(10_000), 400);
    expect(cut?.hidden).toBe(9_600);
    expect(cut?.head.split('\n').slice(0, 2)).toEqual(['line 0', 'line 1']);
    expect(cut?.head.endsWith('line 199\n')).toBe(true);
    expect(cut?.tail.startsWith('line 9800\n')).toBe(true);
    expect(cut?.tail.endsWith('line 9999\n')).toBe(true);
  });

  it('leaves text at or under the limit whole, a trailing newline not counting as a line', () => {
    expect(elide(lines(400), 400)).toBeUndefined();
    expect(elide(lines(400, ''), 400)).toBeUndefined();
    expect(elide(lines(401), 400)?.hidden).toBe(1);
    expect(elide('', 4)).toBeUndefined();
    expect(elide(lines(10_000), 0)).toBeUndefined();
    expect(elide(lines(10_000), Number.NaN)).toBeUndefined();
  });

  it('head + the hidden lines + tail is the text, for any text and limit', () => {
    fc.assert(
      fc.property(
        fc.array(fc.string({ maxLength: 6 }), { maxLength: 60 }),
        fc.boolean(),
        fc.integer({ min: 2, max: 20 }),
        (ls, nl, max) => {
          const text = ls.map((l) => l.replace(/\n/g, '')).join('\n') + (nl ? '\n' : '');
          const cut = elide(text, max);
          if (!cut) return;
          expect(text.startsWith(cut.head)).toBe(true);
          expect(text.endsWith(cut.tail)).toBe(true);
          const middle = text.slice(cut.head.length, text.length - cut.tail.length);
          expect(middle.split('\n').length - 1).toBe(cut.hidden);
          const shown = `${cut.head}${cut.tail}`.replace(/\n$/, '').split('\n').length;
          expect(shown).toBeLessThanOrEqual(max);
        },
      ),
    );
  });
});
