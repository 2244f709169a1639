import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { renderMarkdown } from '../../web/src/render/markdown.js';

describe('renderMarkdown', () => {
  it('renders the common subset', () => {
    expect(renderMarkdown('# Title\n\nSome **bold** and *em* and `code`.')).toBe(
      '<h1>Title</h1>\n<p>Some <strong>bold</strong> and <em>em</em> and <code>code</code>.</p>',
    );
    expect(renderMarkdown('- a\n- b')).toBe('<ul><li>a</li><li>b</li></ul>');
    expect(renderMarkdown('```\nx < 1\n```')).toBe('<pre><code>x &lt; 1</code></pre>');
    expect(renderMarkdown('$x^2$')).toContain('class="rc-tex" data-display="0">x^2</span>');
  });

  it('escapes raw HTML and refuses script URLs', () => {
    expect(renderMarkdown('<script>alert(1)</script>')).toBe('<p>&lt;script&gt;alert(1)&lt;/script&gt;</p>');
    expect(renderMarkdown('[x](javascript:alert(1))')).not.toContain('javascript:');
  });

  it('never emits a tag it did not make', () => {
    const allowed = /^<\/?(h[1-6]|p|strong|em|code|pre|ul|ol|li|blockquote|hr|a|img|span|div)\b/;
    fc.assert(
      fc.property(fc.string(), (s) => {
        const html = renderMarkdown(s);
        return (html.match(/<[^>]*>/g) ?? []).every((t) => allowed.test(t));
      }),
    );
  });
});
