// The setting builders' parsers: what each accepts from the environment (strings) and the file (JSON).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { bool, gateways, int, list, oneOf, text, uidRange } from '../../../server/config/schema.js';

const base = { env: 'RUNCELL_X', doc: 'x' };

describe('int', () => {
  const s = int({ ...base, default: 5, min: 1, max: 100 });

  it('accepts exactly the integers within its bounds, written any way an env file may', () => {
    fc.assert(
      fc.property(fc.integer({ min: -1000, max: 1000 }), fc.constantFrom('', ' ', '  '), (n, pad) => {
        const inRange = n >= 1 && n <= 100;
        expect(s.parse(`${pad}${n}${pad}`)).toBe(inRange ? n : undefined);
        expect(s.parse(n)).toBe(inRange ? n : undefined);
      }),
    );
  });

  it('refuses what is not a whole number', () => {
    for (const raw of ['1.5', '1e3', '0x10', 'ten', '', '9007199254740993', 2.5, true, null, [3]])
      expect(s.parse(raw), String(raw)).toBeUndefined();
    expect(int({ ...base, default: 0, min: 0 }).expected).toBe('an integer >= 0');
    expect(s.expected).toBe('an integer between 1 and 100');
  });
});

describe('bool', () => {
  const s = bool({ ...base, default: false });
  it('accepts true/false/1/0/yes/no/on/off in any case, and JSON booleans', () => {
    for (const t of ['1', 'true', 'YES', ' On ']) expect(s.parse(t), t).toBe(true);
    for (const f of ['0', 'False', 'no', 'off ']) expect(s.parse(f), f).toBe(false);
    expect(s.parse(true)).toBe(true);
    for (const bad of ['maybe', '', 1, null]) expect(s.parse(bad), String(bad)).toBeUndefined();
  });
});

describe('text', () => {
  it("takes any string; nonEmpty refuses blanks; an empty variable sets ''", () => {
    const s = text({ ...base, default: 'a' });
    expect(s.parse('')).toBe('');
    expect(s.emptyIsUnset).toBe(false);
    expect(s.parse(3)).toBeUndefined();
    expect(text({ ...base, default: 'a', nonEmpty: true }).parse('  ')).toBeUndefined();
  });
});

describe('list', () => {
  const s = list({ ...base, default: [] });
  it('splits on commas and trims, dropping blanks; takes an array of strings from the file', () => {
    fc.assert(
      fc.property(fc.array(fc.stringMatching(/^[a-z0-9/._-]{1,8}$/), { maxLength: 6 }), (items) => {
        expect(s.parse(items.map((x) => ` ${x} `).join(','))).toEqual(items);
        expect(s.parse(items)).toEqual(items);
      }),
    );
    expect(s.parse(',,')).toEqual([]);
    expect(s.parse([1])).toBeUndefined();
  });
});

describe('oneOf', () => {
  it('takes only its values, exactly', () => {
    const s = oneOf(['local', 'remote'], { ...base, default: 'local' });
    expect(s.parse('remote')).toBe('remote');
    expect(s.parse('Remote')).toBeUndefined();
    expect(s.expected).toBe('one of local, remote');
  });
});

describe('uidRange', () => {
  const s = uidRange({ ...base, default: null });
  it('takes FIRST-LAST or [FIRST, LAST] with 1000 <= FIRST <= LAST', () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 3000 }), fc.integer({ min: 0, max: 3000 }), (lo, hi) => {
        const ok = lo >= 1000 && hi >= lo;
        expect(s.parse(`${lo}-${hi}`)).toEqual(ok ? [lo, hi] : undefined);
        expect(s.parse(` ${lo} - ${hi} `)).toEqual(ok ? [lo, hi] : undefined);
        expect(s.parse([lo, hi])).toEqual(ok ? [lo, hi] : undefined);
      }),
    );
    expect(s.parse('1000')).toBeUndefined();
    expect(s.format([1000, 1099])).toBe('1000-1099');
  });
});

describe('gateways', () => {
  const s = gateways({ ...base, default: [] });
  it('takes a JSON list (or a list in the file), a missing token being empty', () => {
    const one = { url: 'https://eg.example:8888', capacity: 3, specs: ['python3'] };
    expect(s.parse(JSON.stringify([one]))).toEqual([{ ...one, token: '' }]);
    expect(s.parse([{ ...one, token: 't' }])).toEqual([{ ...one, token: 't' }]);
    for (const bad of ['{', '{}', '[{"url":"eg:8888","capacity":1}]', '[{"url":"http://eg","capacity":0}]'])
      expect(s.parse(bad), bad).toBeUndefined();
  });
});
