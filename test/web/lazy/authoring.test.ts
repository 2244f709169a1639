// @vitest-environment jsdom
// Code cut short by the HTML parser: "a<b" in a <pre> becomes an element; highlighted code does not count.
import { afterEach, describe, expect, it, vi } from 'vitest';
import { strayElement, warnIfTruncated } from '../../../web/src/lazy/authoring.js';

function pre(html: string): Element {
  const doc = new DOMParser().parseFromString(
    `<body><pre data-runcell>${html}</pre><p>after</p></body>`,
    'text/html',
  );
  return doc.querySelector('pre') as Element;
}

afterEach(() => vi.restoreAllMocks());

describe('strayElement', () => {
  it('finds what the parser made of a "<" in code', () => {
    expect(strayElement(pre('if a<b: print(a)'))?.localName).toBe('b:');
    expect(strayElement(pre('x = a<b and c>d'))?.localName).toBe('b');
    expect(strayElement(pre('while i<n:\n    i += 1'))?.localName).toBe('n:');
    expect(strayElement(pre('print(a<div)'))).toBeDefined();
  });

  it('leaves plain and highlighted code alone', () => {
    expect(strayElement(pre('print(1 < 2)'))).toBeUndefined();
    expect(strayElement(pre('x = 1&lt;2'))).toBeUndefined();
    expect(
      strayElement(pre('<code class="language-python"><span class="k">print</span>(<b>1</b>)<br></code>')),
    ).toBeUndefined();
  });
});

describe('warnIfTruncated', () => {
  it('warns once with the safe form to use, and only when something looks cut', () => {
    const warn = vi.spyOn(console, 'warn').mockImplementation(() => undefined);
    expect(warnIfTruncated(pre('if a<b: pass'))).toBe(true);
    expect(warnIfTruncated(pre('<span>ok</span>'))).toBe(false);
    expect(warn).toHaveBeenCalledTimes(1);
    expect(String(warn.mock.calls[0]?.[0])).toContain('<script type="text/x-python" data-runcell>');
  });
});
