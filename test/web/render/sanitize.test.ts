// @vitest-environment jsdom
// Inline output loads nothing from outside: each vector a kernel could use to make the visitor's browser
// fetch a URL without a click, checked in the DOM that ends up in the page (after sanitizing).
import { describe, expect, it } from 'vitest';
import { renderBundle } from '../../../web/src/render/mime.js';
import { inertCss, sanitizeHtml, sanitizeSvg } from '../../../web/src/render/sanitize.js';

const EVIL = 'https://evil.example';

/** Every element of a rendered output, its shadow root included. */
function elements(node: ParentNode): Element[] {
  const out: Element[] = [];
  if (node instanceof Element && node.shadowRoot) out.push(...elements(node.shadowRoot));
  for (const el of node.querySelectorAll('*')) {
    out.push(el);
    if (el.shadowRoot) out.push(...elements(el.shadowRoot));
  }
  return out;
}

const RESOURCE = ['src', 'srcset', 'href', 'xlink:href', 'poster', 'background', 'data', 'lowsrc'];
/**
 * A CSS reference a browser would fetch: url() of anything but data: or #id, @import, image-set(), or
 * a CSS escape (which can spell any of them).
 */
const FETCHING_CSS = /(?<![\w-])(url\(\s*['"]?(?!data:|#)|@import|(-webkit-)?image-set\(|image\(|src\()|\\/i;

/** What in `node` would make a browser fetch (links to click excepted), as readable strings. */
function fetches(node: ParentNode): string[] {
  const found: string[] = [];
  for (const el of elements(node)) {
    const tag = el.nodeName.toLowerCase();
    for (const name of el.getAttributeNames()) {
      const value = el.getAttribute(name) ?? '';
      const link = (tag === 'a' || tag === 'area') && /href$/.test(name);
      if (RESOURCE.includes(name) && !link && !/^\s*(data:|#)/i.test(value))
        found.push(`${tag} ${name}=${value}`);
      if (!RESOURCE.includes(name) && FETCHING_CSS.test(value)) found.push(`${tag} ${name}=${value}`);
    }
    if (tag === 'style' && FETCHING_CSS.test(el.textContent ?? '')) found.push(`<style>${el.textContent}`);
    if (['link', 'meta', 'script', 'iframe', 'object', 'embed'].includes(tag)) found.push(`<${tag}>`);
  }
  return found;
}

const wrap = (f: DocumentFragment) => {
  const d = document.createElement('div');
  d.appendChild(f);
  return d;
};

describe('inline HTML loads nothing from outside', () => {
  const vectors: Record<string, string> = {
    'img src': `<img src="${EVIL}/a.png" alt="a">`,
    'relative img src': '<img src="/track.png">',
    'protocol-relative src': '<img src="//evil.example/a.png">',
    'img srcset': `<img srcset="${EVIL}/a.png 1x, ${EVIL}/b.png 2x">`,
    'picture source': `<picture><source srcset="${EVIL}/a.webp"><img src="${EVIL}/a.png"></picture>`,
    'video src and poster': `<video src="${EVIL}/v.mp4" poster="${EVIL}/p.png"><source src="${EVIL}/s.mp4"><track src="${EVIL}/t.vtt"></video>`,
    'audio src': `<audio src="${EVIL}/a.mp3" autoplay></audio>`,
    'input type=image': `<input type="image" src="${EVIL}/i.png">`,
    'table background': `<table background="${EVIL}/bg.png"><tr><td background="${EVIL}/td.png">x</td></tr></table>`,
    'style url()': `<div style="background:url(${EVIL}/s.png)">x</div>`,
    'style quoted url()': `<div style='background-image: URL( "${EVIL}/s.png" )'>x</div>`,
    'style unterminated url()': `<div style="background:url('${EVIL}/s.png">x</div>`,
    'style image-set()': `<div style="background-image:image-set('${EVIL}/s.png' 1x)">x</div>`,
    'style -webkit-image-set()': `<div style="background-image:-webkit-image-set('${EVIL}/s.png' 1x)">x</div>`,
    'style cursor and list-style': `<ul style="list-style-image:url(${EVIL}/l.png);cursor:url(${EVIL}/c.cur),auto"><li>x</li></ul>`,
    'style escaped url': `<div style="background:\\75 rl(${EVIL}/e.png)">x</div>`,
    '<style> url()': `<p>x</p><style>p{background:url(${EVIL}/p.png)}</style>`,
    '<style> @import': `<p>x</p><style>@import url(${EVIL}/a.css);@import "${EVIL}/b.css";p{color:red}</style>`,
    '<style> @font-face': `<p>x</p><style>@font-face{font-family:f;src:url(${EVIL}/f.woff2)}</style>`,
    'leading <style>': `<style>p{background:url(${EVIL}/p.png)}</style><p>x</p>`,
    '<style> escaped @import': `<p>x</p><style>@\\69mport "${EVIL}/c.css";</style>`,
    '<link>': `<link rel="stylesheet" href="${EVIL}/l.css"><link rel="prefetch" href="${EVIL}/p"><p>x</p>`,
    '<meta refresh>': `<meta http-equiv="refresh" content="0;url=${EVIL}/"><p>x</p>`,
    'object, embed, iframe': `<object data="${EVIL}/o"></object><embed src="${EVIL}/e"><iframe src="${EVIL}/f"></iframe>`,
    'svg image href': `<svg><image href="${EVIL}/i.png" width="10" height="10"/></svg>`,
    'svg image xlink:href': `<svg xmlns:xlink="http://www.w3.org/1999/xlink"><image xlink:href="${EVIL}/i.png"/></svg>`,
    'svg feImage': `<svg><filter id="f"><feImage href="${EVIL}/f.png"/></filter></svg>`,
    'svg use': `<svg><use href="${EVIL}/u.svg#a"/></svg>`,
    'svg fill url()': `<svg><rect width="4" height="4" fill="url(${EVIL}/g.svg#g)" filter="url(${EVIL}/f.svg#f)"/></svg>`,
    'svg <style>': `<svg><style>rect{fill:url(${EVIL}/g.svg#g)}</style><rect width="4" height="4"/></svg>`,
  };
  for (const [name, html] of Object.entries(vectors)) {
    it(name, () => {
      const el = renderBundle({ 'text/html': html });
      expect(el.tagName).not.toBe('IFRAME');
      expect(fetches(el)).toEqual([]);
    });
  }

  it('SVG output (image/svg+xml) too', () => {
    const svg =
      '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink">' +
      `<image href="${EVIL}/a.png"/><image xlink:href="${EVIL}/b.png"/>` +
      `<style>@import "${EVIL}/c.css";</style><rect style="fill:url(${EVIL}/d.svg#x)"/></svg>`;
    expect(fetches(wrap(sanitizeSvg(svg)))).toEqual([]);
    expect(fetches(renderBundle({ 'image/svg+xml': svg }))).toEqual([]);
  });

  it('keeps data: images, references into the output itself and links to click', () => {
    const png = 'data:image/png;base64,iVBORw0KGgo=';
    const out = wrap(
      sanitizeHtml(
        `<img src="${png}"><a href="https://example.org/doc">doc</a>` +
          `<div style="color:red;background:url(${png})">x</div><style>p{color:blue}</style>` +
          `<svg><defs><linearGradient id="g"></linearGradient></defs><rect fill="url(#g)" clip-path="url(#c)"/>` +
          `<image href="${png}"/><a href="https://example.org/svg"><text>t</text></a></svg>`,
      ).fragment,
    );
    expect(out.querySelector('img')?.getAttribute('src')).toBe(png);
    expect(out.querySelector('a')?.getAttribute('href')).toBe('https://example.org/doc');
    expect(out.querySelector('div')?.getAttribute('style')).toBe(`color:red;background:url(${png})`);
    expect(out.querySelector('style')?.textContent).toBe('p{color:blue}');
    expect(out.querySelector('rect')?.getAttribute('fill')).toBe('url(#g)');
    expect(out.querySelector('rect')?.getAttribute('clip-path')).toBe('url(#c)');
    expect(out.querySelector('image')?.getAttribute('href')).toBe(png);
    expect(out.querySelectorAll('a')[1]?.getAttribute('href')).toBe('https://example.org/svg');
  });

  it('opens <area> links in a new tab too, like <a>', () => {
    const out = wrap(
      sanitizeHtml('<map name="m"><area href="https://example.org/x" shape="rect"></map>').fragment,
    );
    const area = out.querySelector('area');
    expect(area?.getAttribute('href')).toBe('https://example.org/x');
    expect(area?.getAttribute('target')).toBe('_blank');
    expect(area?.getAttribute('rel')).toContain('noopener');
  });

  it('says why a remote image is not shown', () => {
    const img = wrap(sanitizeHtml(`<img src="${EVIL}/a.png" alt="chart">`).fragment).querySelector('img');
    expect(img?.getAttribute('alt')).toBe('chart');
    expect(img?.getAttribute('title')).toBe(`remote image not loaded: ${EVIL}/a.png`);
  });

  it('makes outside CSS references inert and refuses CSS escapes', () => {
    expect(inertCss(`a{background:url(${EVIL}/x)}`)).toBe(`a{background:runcell-blocked-url(${EVIL}/x)}`);
    expect(inertCss('a{background:url( "data:image/png;base64,AA")}')).toBe(
      'a{background:url( "data:image/png;base64,AA")}',
    );
    expect(inertCss('@import "x.css";')).toBe('@runcell-blocked-import "x.css";');
    expect(inertCss('a{b:\\75rl(x)}')).toBeUndefined();
  });
});

describe('scripted output goes to the sandboxed frame', () => {
  it('HTML that starts with <script> is shown in the frame, not dropped', () => {
    const el = renderBundle({ 'text/html': '<script>document.body.textContent = "hi"</script>' });
    expect(el.tagName).toBe('IFRAME');
    expect(el.getAttribute('sandbox')).not.toContain('allow-same-origin');
  });

  it('HTML that starts with <style> keeps its rules', () => {
    const el = renderBundle({ 'text/html': '<style>p{color:red}</style><p>x</p>' });
    expect(el.shadowRoot?.querySelectorAll('style')).toHaveLength(2);
    expect(el.shadowRoot?.querySelector('p')?.textContent).toBe('x');
  });

  it('application/javascript runs in the frame, never in the page', () => {
    const el = renderBundle({
      'application/javascript': 'element.textContent = "from js"',
      'text/plain': '<IPython.core.display.Javascript object>',
    } as never);
    expect(el.tagName).toBe('IFRAME');
    const sandbox = el.getAttribute('sandbox') ?? '';
    expect(sandbox.split(/\s+/)).toContain('allow-scripts');
    expect(sandbox).not.toContain('allow-same-origin');
  });
});
