import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { applySgr, parseAnsi, stripAnsi } from '../../web/src/render/ansi.js';

const ESC = '\u001b';

describe('parseAnsi', () => {
  it('turns SGR colours into styled segments', () => {
    const segs = parseAnsi(`${ESC}[0;31mZeroDivisionError${ESC}[0m: division by zero`);
    expect(segs).toEqual([
      { text: 'ZeroDivisionError', style: { fg: 1 } },
      { text: ': division by zero', style: {} },
    ]);
  });

  it('reads bright, 256-colour and true-colour forms', () => {
    expect(applySgr({}, [1, 92])).toEqual({ bold: true, fg: 10 });
    expect(applySgr({}, [38, 5, 196]).fg).toBe('rgb(255,0,0)');
    expect(applySgr({}, [48, 2, 1, 2, 3]).bg).toBe('rgb(1,2,3)');
    expect(applySgr({ fg: 3, bold: true }, [39, 22])).toEqual({});
  });

  it('drops cursor movement and OSC sequences', () => {
    expect(stripAnsi(`a${ESC}[2Kb${ESC}]0;title\u0007c${ESC}]8;;http://x${ESC}\\d`)).toBe('abcd');
  });

  it('keeps every character of the text between escapes, in order', () => {
    const piece = fc.oneof(
      fc.string().filter((s) => !s.includes(ESC)),
      fc.array(fc.integer({ min: 0, max: 255 }), { maxLength: 5 }).map((p) => `${ESC}[${p.join(';')}m`),
      fc.constantFrom(`${ESC}[2J`, `${ESC}[1A`, `${ESC}]0;t\u0007`),
    );
    fc.assert(
      fc.property(fc.array(piece), (pieces) => {
        const text = pieces.join('');
        const plain = pieces.filter((p) => !p.startsWith(ESC)).join('');
        return (
          parseAnsi(text)
            .map((s) => s.text)
            .join('') === plain && stripAnsi(text) === plain
        );
      }),
    );
  });

  it('never throws on arbitrary input', () => {
    fc.assert(fc.property(fc.string(), (s) => Array.isArray(parseAnsi(s))));
  });
});
