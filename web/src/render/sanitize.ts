// Kernel HTML, SVG and Markdown are untrusted. Shown inline, they pass through DOMPurify: no script,
// no event handlers, no javascript: URLs, no forms or <base>; links open in a new tab without opener.
// HTML that carried <script> is reported so the caller can show it in the sandboxed frame instead.
import createDOMPurify, { type Config } from 'dompurify';

const purify = createDOMPurify(window);

purify.addHook('afterSanitizeAttributes', (node) => {
  if (node.nodeName === 'A' || node.nodeName === 'a') {
    const a = node as Element;
    if (a.hasAttribute('href')) {
      a.setAttribute('target', '_blank');
      a.setAttribute('rel', 'noopener noreferrer nofollow');
    }
  }
});

const BASE: Config = {
  FORBID_TAGS: ['form', 'base', 'meta', 'link', 'iframe', 'frame', 'object', 'embed', 'portal'],
  FORBID_ATTR: ['formaction', 'action', 'ping'],
  ADD_ATTR: ['target'],
  ALLOW_DATA_ATTR: false,
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
