import { describe, expect, it } from 'vitest';
import { dedent, optionsFromElement, parseHide, resolveOptions } from '../../web/src/options.js';

describe('options', () => {
  it('dedents code written inside indented HTML', () => {
    expect(dedent('\n    for i in x:\n        print(i)\n  ')).toBe('for i in x:\n    print(i)');
  });
  it('reads the hide list, ignoring unknown names', () => {
    expect(parseHide('share, upload  bogus restart')).toEqual(['share', 'upload', 'restart']);
  });
});

describe('options for the cell interface', () => {
  it('reads a label, a line limit and what Restart does to outputs, with safe defaults', () => {
    const attrs: Record<string, string> = {
      'data-label': 'Exercise 2',
      'data-max-output-lines': '50',
      'data-restart-outputs': 'clear',
    };
    const el = { localName: 'pre', getAttribute: (n: string) => attrs[n] ?? null } as unknown as Element;
    const o = resolveOptions(optionsFromElement(el), 'x');
    expect([o.label, o.maxOutputLines, o.restartOutputs]).toEqual(['Exercise 2', 50, 'clear']);
    attrs['data-max-output-lines'] = '-3';
    attrs['data-restart-outputs'] = 'explode';
    const d = resolveOptions(optionsFromElement(el), 'x');
    expect([d.maxOutputLines, d.restartOutputs]).toEqual([400, 'mark']);
    expect(resolveOptions({ maxOutputLines: 0 }, '').maxOutputLines).toBe(0);
    expect(resolveOptions({}, '').label).toBeUndefined();
  });
});
