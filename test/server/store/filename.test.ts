import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { safeFileName } from '../../../server/store/filename.js';

describe('safeFileName', () => {
  it('accepts ordinary names, NFC-normalised', () => {
    expect(safeFileName('data.csv')).toBe('data.csv');
    expect(safeFileName('résumé final (2).pdf')).toBe('résumé final (2).pdf');
    expect(safeFileName('Cafe\u0301.txt')).toBe('Café.txt');
    expect(safeFileName('日本語.txt')).toBe('日本語.txt');
  });

  it.each([
    ['', 'empty'],
    ['.', 'dot'],
    ['..', 'dot'],
    ['.bashrc', 'dot'],
    ['../etc/passwd', 'traversal'],
    ['a/b', 'separator'],
    ['..\\..\\x', 'separator'],
    ['/etc/passwd', 'absolute'],
    ['a\u0000b', 'NUL'],
    ['a\nb', 'newline'],
    ['a\u001bb', 'escape'],
    ['a\u007f', 'DEL'],
    ['a\u0085', 'C1'],
    ['evil\u202Etxt.exe', 'bidi override'],
    ['x\u2066y', 'bidi isolate'],
    ['a\ud800', 'lone surrogate'],
    [' lead', 'white space'],
    ['trail ', 'white space'],
    ['a'.repeat(256), 'too long'],
    ['é'.repeat(128), 'too long in bytes'],
  ])('refuses %j (%s)', (name) => {
    expect(() => safeFileName(name)).toThrow(
      expect.objectContaining({ code: 'RUNCELL_ERR_INVALID_FILE_NAME', statusCode: 400 }),
    );
  });

  it('refuses non-strings', () => {
    expect(() => safeFileName(42)).toThrow(expect.objectContaining({ statusCode: 400 }));
  });

  it('never returns a name that could leave the directory or hide', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 300, unit: 'binary' }), (s) => {
        let n: string;
        try {
          n = safeFileName(s);
        } catch {
          return;
        }
        expect(n).not.toMatch(/[/\\]/);
        expect(n.startsWith('.')).toBe(false);
        expect(n).not.toMatch(/\p{Cc}/u);
        expect(Buffer.byteLength(n)).toBeLessThanOrEqual(255);
        expect(n).toBe(n.normalize('NFC'));
      }),
      { numRuns: 2000 },
    );
  });
});
