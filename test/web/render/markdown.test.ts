// @vitest-environment jsdom
// Markdown output as it ends up in the page: markdown-it's HTML after the sanitizer, maths after KaTeX.
import fc from 'fast-check';
import { describe, expect, it, vi } from 'vitest';
import { renderMarkdownIn } from '../../../web/src/render/markdown.js';
import { renderBundle } from '../../../web/src/render/mime.js';

// Vite defines it at build time (the KaTeX stylesheet's folder).
vi.stubGlobal('__KATEX_VERSION__', 'test');

async function md(source: string): Promise<HTMLElement> {
  const root = document.createElement('div');
  await renderMarkdownIn(root, source);
  return root;
}

/** Event handler attributes anywhere under `el`. */
const handlers = (el: Element) =>
  [...el.querySelectorAll('*')].flatMap((e) => e.getAttributeNames().filter((n) => /^on/i.test(n)));

describe('text/markdown', () => {
  it('typesets $$…$$ as display maths and $…$ inline, after sanitizing', async () => {
    const el = renderBundle({ 'text/markdown': 'Inline $x^2$ here.\n\n$$\n\\int_0^1 x\\,dx\n$$\n' });
    const root = el.shadowRoot as ShadowRoot;
    await vi.waitFor(() => expect(root.querySelectorAll('.katex')).toHaveLength(2), { timeout: 10_000 });
    expect(root.querySelectorAll('.katex-display')).toHaveLength(1);
    expect(root.querySelector('p .katex')?.closest('.katex-display')).toBeNull();
    expect(root.querySelector('.katex-display annotation')?.textContent).toBe('\\int_0^1 x\\,dx');
  });

  it('keeps maths for KaTeX: inline, display on one line and inside a paragraph, not in code', async () => {
    const el = await md('a $x$ b $$y$$ c `$z$`\n\n$$ w $$\n\nCosts $5 and $6.\n\nEscaped \\$x\\$.');
    const tex = [...el.querySelectorAll('.rc-tex')];
    // After KaTeX: the TeX is the MathML annotation; display maths is in a .katex-display.
    const shown = (t: Element) => [
      t.querySelector('annotation')?.textContent,
      t.classList.contains('rc-tex-display') && t.querySelector('.katex-display') !== null,
    ];
    expect(tex.map(shown)).toEqual([
      ['x', false],
      ['y', true],
      ['w', true],
    ]);
    expect(el.querySelector('code')?.textContent).toBe('$z$');
    expect(el.textContent).toContain('Costs $5 and $6.');
    expect(el.textContent).toContain('Escaped $x$.');
  });

  it('leaves a $$ that opens a paragraph to the inline rule, and an unclosed $$ as text', async () => {
    const el = await md('$$a$$ is big\n\n$$ never closed\n\n**after**');
    expect(el.querySelector('p .rc-tex.rc-tex-display annotation')?.textContent).toBe('a');
    expect(el.textContent).toContain('$$ never closed');
    expect(el.querySelector('strong')?.textContent).toBe('after');
  });

  it('renders tables, nested lists, emphasis and code', async () => {
    const el = await md(
      '| a | b |\n|---|--:|\n| 1 | **2** |\n\n- one\n  - one.one\n    1. deep\n- two\n\n```py\nx < 1\n```\n',
    );
    expect([...el.querySelectorAll('th')].map((t) => t.textContent)).toEqual(['a', 'b']);
    expect(el.querySelector('td strong')?.textContent).toBe('2');
    expect(el.querySelector('ul > li > ul > li > ol > li')?.textContent).toBe('deep');
    expect(el.querySelector('pre code')?.textContent).toBe('x < 1\n');
  });

  it('applies no emphasis inside link URLs', async () => {
    const el = await md('[the_docs](https://example.org/a_b_c/*x*) and _em_');
    const a = el.querySelector('a');
    expect(a?.getAttribute('href')).toBe('https://example.org/a_b_c/*x*');
    expect(a?.textContent).toBe('the_docs');
    expect(el.querySelectorAll('em')).toHaveLength(1);
    expect(a?.getAttribute('rel')).toContain('noopener');
  });

  it('sanitizes raw HTML: markup stays, scripts, handlers and script URLs do not', async () => {
    const el = await md(
      'Some <b>bold</b> <img src=x onerror=alert(1)>\n\n<script>alert(1)</script>\n\n[x](javascript:alert(1))',
    );
    expect(el.querySelector('b')?.textContent).toBe('bold');
    expect(el.querySelector('script')).toBeNull();
    expect(handlers(el)).toEqual([]);
    expect(el.querySelector('a')).toBeNull(); // markdown-it refuses the javascript: link: it stays text
  });

  it('loads no outside image', async () => {
    const el = await md('![chart](https://evil.example/c.png) ![ok](data:image/png;base64,iVBORw0KGgo=)');
    const [remote, local] = [...el.querySelectorAll('img')];
    expect(remote?.getAttribute('src')).toBeNull();
    expect(remote?.getAttribute('alt')).toBe('chart');
    expect(local?.getAttribute('src')).toBe('data:image/png;base64,iVBORw0KGgo=');
  });

  it('never leaves a script, a handler or a frame in the page', async () => {
    await fc.assert(
      fc.asyncProperty(
        fc
          .array(
            fc.constantFrom(
              '<script>x</script>',
              '<img onerror=x src=y>',
              '$',
              '*',
              '[a](b)',
              '<iframe>',
              ' ',
              '\n',
              'x',
            ),
            {
              maxLength: 12,
            },
          )
          .map((parts) => parts.join('')),
        async (s) => {
          const el = await md(s);
          return el.querySelector('script, iframe') === null && handlers(el).length === 0;
        },
      ),
      { numRuns: 100 },
    );
  });
});
