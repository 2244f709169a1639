// Kernel HTML, SVG and Markdown are untrusted. Shown inline, they pass through DOMPurify: no script,
// no event handlers, no javascript: URLs, no forms or <base>; links open in a new tab without opener.
// HTML that carried <script> is reported so the caller can show it in the sandboxed frame instead.
//
// Inline output loads nothing: a kernel has no network, and output that made the visitor's browser
// fetch a URL (an <img src>, an SVG <image href>, a CSS url()) would be a channel out of the sandbox and a
// tracker on the host page. Every resource reference is dropped unless it is a data: URL or a reference
// into the output itself (#id); links the visitor clicks (<a href>, <area href>) stay.
import createDOMPurify, { type Config } from 'dompurify';

const purify = createDOMPurify(window);

/** Attributes that make a browser fetch (or that name a resource) when present. */
const RESOURCE_ATTRS = new Set([
  'src',
  'srcset',
  'imagesrcset',
  'href',
  'xlink:href',
  'poster',
  'background',
  'lowsrc',
  'dynsrc',
  'data',
  'codebase',
  'archive',
  'manifest',
  'icon',
]);

const SVG = 'http://www.w3.org/2000/svg';

/** Elements whose href is a link to follow on a click, not a resource to load. */
const LINKS = new Set(['a', 'area']);

/** data: (inline, no request) or #fragment (a reference into the output itself). */
const local = (url: string) => /^\s*(data:|#)/i.test(url);

/**
 * CSS with every outside reference made inert: url() other than data: and #id, image-set(), image(),
 * src() and @import get a name no browser knows, so the declaration or rule is dropped as invalid
 * (whatever follows, even an unterminated string). CSS escapes could spell those names in ways this
 * cannot see, so CSS with a backslash is refused whole (undefined).
 */
export function inertCss(css: string): string | undefined {
  if (css.includes('\\')) return undefined;
  return css
    .replace(/@import/gi, '@runcell-blocked-import')
    .replace(/(?<![\w-])((?:-webkit-)?image-set|image|src|cross-fade)\(/gi, 'runcell-blocked-$1(')
    .replace(/url\(\s*['"]?/gi, (m: string, at: number, all: string) =>
      local(all.slice(at + m.length)) ? m : `runcell-blocked-${m}`,
    );
}

purify.addHook('afterSanitizeElements', (node) => {
  // <style> in HTML or SVG: the rules stay, their outside references do not.
  if (node.nodeName.toLowerCase() !== 'style') return;
  const css = inertCss(node.textContent ?? '');
  if (css === undefined) (node as Element).remove();
  else if (css !== node.textContent) node.textContent = css;
});

purify.addHook('afterSanitizeAttributes', (node) => {
  const el = node as Element;
  const tag = el.nodeName.toLowerCase();
  for (const name of el.getAttributeNames()) {
    const value = el.getAttribute(name) ?? '';
    const attr = name.toLowerCase();
    if (RESOURCE_ATTRS.has(attr)) {
      const link = LINKS.has(tag) && (attr === 'href' || attr === 'xlink:href');
      // srcset lists candidates separated by commas, which data: URLs contain too: never kept.
      if (!link && (attr === 'srcset' || attr === 'imagesrcset' || !local(value))) {
        el.removeAttribute(name);
        if (tag === 'img' && attr === 'src') el.setAttribute('title', `remote image not loaded: ${value}`);
      }
    } else if (attr === 'style' || (el.namespaceURI === SVG && /url\(|image|src\(/i.test(value))) {
      // style="", and SVG presentation attributes (fill="url(…)", filter, mask, clip-path, cursor…).
      const css = inertCss(value);
      if (css === undefined) el.removeAttribute(name);
      else if (css !== value) el.setAttribute(name, css);
    }
  }
  if (LINKS.has(tag) && el.hasAttribute('href')) {
    el.setAttribute('target', '_blank');
    el.setAttribute('rel', 'noopener noreferrer nofollow');
  }
});

const BASE: Config = {
  FORBID_TAGS: ['form', 'base', 'meta', 'link', 'iframe', 'frame', 'object', 'embed', 'portal'],
  FORBID_ATTR: ['formaction', 'action', 'ping'],
  ADD_ATTR: ['target'],
  ALLOW_DATA_ATTR: false,
  // Without it, markup that starts with <script> or <style> is parsed into <head> and silently lost
  // (a leading script would not even be reported, so the output showed nothing at all).
  FORCE_BODY: true,
};

export interface Sanitized {
  fragment: DocumentFragment;
  /** The input had <script> elements (dropped here): it was meant to run code. */
  hadScript: boolean;
}

export function sanitizeHtml(html: string): Sanitized {
  const fragment = purify.sanitize(html, { ...BASE, RETURN_DOM_FRAGMENT: true }) as DocumentFragment;
  const hadScript = purify.removed.some(
    (r) => 'element' in r && (r.element as Element | undefined)?.nodeName?.toLowerCase() === 'script',
  );
  return { fragment, hadScript };
}

export function sanitizeSvg(svg: string): DocumentFragment {
  return purify.sanitize(svg, {
    ...BASE,
    USE_PROFILES: { svg: true, svgFilters: true },
    RETURN_DOM_FRAGMENT: true,
  }) as DocumentFragment;
}
