// @vitest-environment jsdom
// The output renderers in a DOM (happy-dom): what a kernel sends is untrusted, so these check what ends
// up in the page, not the strings in between.
import { describe, expect, it } from 'vitest';
import { FILES_MIME, pickMime, renderBundle, textOf } from '../../../web/src/render/mime.js';

/** Everything a rendered output contains, including its shadow root. */
function html(el: HTMLElement): string {
  return (el.shadowRoot?.innerHTML ?? '') + el.innerHTML;
}

function all(el: HTMLElement, selector: string): Element[] {
  return [...(el.shadowRoot?.querySelectorAll(selector) ?? []), ...el.querySelectorAll(selector)];
}

describe('pickMime', () => {
  it('prefers rich representations in the documented order, and skips null ones', () => {
    expect(pickMime({ 'text/plain': 'x', 'text/html': '<b>x</b>' })).toBe('text/html');
    expect(pickMime({ 'text/plain': 'x', 'image/png': 'AAAA' })).toBe('image/png');
    expect(pickMime({ 'text/plain': 'x', 'text/html': null as unknown as string })).toBe('text/plain');
    expect(pickMime({ 'application/x-unknown': 'x' })).toBeUndefined();
  });

  it('joins nbformat line arrays', () => {
    expect(textOf(['a\n', 'b'])).toBe('a\nb');
    expect(textOf({ k: 1 })).toBe('{\n  "k": 1\n}');
  });
});

describe('renderBundle', () => {
  it('inserts text/plain as text, never as markup', () => {
    const el = renderBundle({ 'text/plain': '<img src=x onerror=alert(1)> & <b>bold</b>' });
    expect(el.tagName).toBe('PRE');
    expect(el.textContent).toBe('<img src=x onerror=alert(1)> & <b>bold</b>');
    expect(el.querySelector('img, b')).toBeNull();
  });

  it('sanitizes HTML into a shadow root: no handlers, no script URLs, no forms, frames or base', () => {
    const el = renderBundle({
      'text/html':
        '<p id="ok">hi</p><img src="x" onerror="alert(1)"><a href="javascript:alert(1)">j</a>' +
        '<form action="https://evil.example"><input></form><iframe src="https://evil.example"></iframe>' +
        '<base href="https://evil.example/"><div onclick="alert(1)" style="color:red">d</div>',
    });
    expect(el.shadowRoot).not.toBeNull();
    const out = html(el);
    expect(all(el, '#ok')).toHaveLength(1);
    expect(out).not.toMatch(/onerror|onclick|javascript:|<form|<iframe|<base/i);
  });

  it('opens links in a new tab without an opener or a referrer', () => {
    const el = renderBundle({ 'text/html': '<a href="https://example.org/doc">doc</a>' });
    const [a] = all(el, 'a');
    expect(a?.getAttribute('target')).toBe('_blank');
    expect(a?.getAttribute('rel')).toContain('noopener');
    expect(a?.getAttribute('rel')).toContain('noreferrer');
  });

  it('sends HTML that carried a script to the sandboxed frame, never into the page', () => {
    const el = renderBundle({ 'text/html': '<div>x</div><script>parent.document.body.remove()</script>' });
    expect(el.tagName).toBe('IFRAME');
    const sandbox = el.getAttribute('sandbox') ?? '';
    expect(sandbox.split(/\s+/)).toContain('allow-scripts');
    expect(sandbox).not.toContain('allow-same-origin');
    expect(el.getAttribute('referrerpolicy')).toBe('no-referrer');
    expect(all(el, 'script')).toHaveLength(0);
  });

  it('strips scripts and handlers from SVG', () => {
    const el = renderBundle({
      'image/svg+xml':
        '<svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script><circle r="4" onload="alert(1)"/></svg>',
    });
    expect(all(el, 'circle')).toHaveLength(1);
    expect(html(el)).not.toMatch(/<script|onload/i);
  });

  it('shows images only as data: URLs of the declared type, with the metadata size', () => {
    const ok = renderBundle({ 'image/png': 'iVBORw0K\nGgo=' }, { 'image/png': { width: 40, height: 30 } });
    expect(ok.getAttribute('src')).toBe('data:image/png;base64,iVBORw0KGgo=');
    expect(ok.getAttribute('width')).toBe('40');
    const bad = renderBundle({ 'image/png': '"><script>alert(1)</script>' });
    expect(bad.getAttribute('src')).toBeNull();
  });

  it('links only the server’s own /files/ paths, with names as text', () => {
    const el = renderBundle(
      {
        [FILES_MIME]: {
          files: [
            { name: '<b>out.csv</b>', size: 12, url: '/files/abc/out.csv' },
            { name: 'evil', size: 1, url: 'https://evil.example/x' },
            { name: 'js', size: 1, url: 'javascript:alert(1)' },
          ],
          skipped: [{ name: 'big.bin', reason: 'too large' }],
        },
      } as never,
      {},
      'https://runcell.example',
    );
    const links = all(el, 'a');
    expect(links).toHaveLength(1);
    expect(links[0]?.getAttribute('href')).toBe('https://runcell.example/files/abc/out.csv');
    expect(links[0]?.textContent).toBe('<b>out.csv</b>');
    expect(el.textContent).toContain('big.bin: not kept (too large)');
  });

  it('shows JSON as text, and a notice for a type it cannot show', () => {
    const json = renderBundle({ 'application/json': { a: '<b>' } } as never);
    expect(json.textContent).toBe('{\n  "a": "<b>"\n}');
    const none = renderBundle({ 'application/x-custom': 'x' } as never);
    expect(none.textContent).toBe('[output of type application/x-custom not shown]');
  });
});
