import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { fixCarriageReturns, isServerNotice } from '../../web/src/render/stream.js';

describe('fixCarriageReturns', () => {
  it('overwrites from the start of the line like a terminal', () => {
    expect(fixCarriageReturns('10%\r20%\r30%')).toBe('30%');
    expect(fixCarriageReturns('abcdef\rXY')).toBe('XYcdef');
    expect(fixCarriageReturns('a\r\nb')).toBe('a\nb');
    expect(fixCarriageReturns('done 50%\r')).toBe('done 50%');
    expect(fixCarriageReturns('x\n1\r2\ny')).toBe('x\n2\ny');
  });

  it('leaves text without carriage returns alone and never leaves one behind', () => {
    fc.assert(fc.property(fc.string(), (s) => s.includes('\r') || fixCarriageReturns(s) === s));
    fc.assert(fc.property(fc.string(), (s) => !fixCarriageReturns(s).includes('\r')));
  });

  it('keeps the number of lines', () => {
    fc.assert(
      fc.property(
        fc.array(fc.constantFrom('a', 'b', '\r', '\n', ' ')).map((a) => a.join('')),
        (s) => {
          const lines = s.replace(/\r+\n/g, '\n').split('\n').length;
          return fixCarriageReturns(s).split('\n').length === lines;
        },
      ),
    );
  });

  it('recognises server notices', () => {
    expect(isServerNotice('[runcell] output limit reached\n')).toBe(true);
    expect(isServerNotice('hello')).toBe(false);
  });
});
