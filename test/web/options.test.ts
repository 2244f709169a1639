import { describe, expect, it } from 'vitest';
import { dedent, parseHide } from '../../web/src/options.js';

describe('options', () => {
  it('dedents code written inside indented HTML', () => {
    expect(dedent('\n    for i in x:\n        print(i)\n  ')).toBe('for i in x:\n    print(i)');
  });
  it('reads the hide list, ignoring unknown names', () => {
    expect(parseHide('share, upload  bogus restart')).toEqual(['share', 'upload', 'restart']);
  });
});
