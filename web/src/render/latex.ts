// text/latex and maths in Markdown: the raw TeX is shown at once, then replaced by KaTeX once its chunk
// has loaded (first use only). TeX KaTeX cannot parse stays visible as raw TeX.
import { loadChunk } from '../api.js';
import { STATIC_BASE } from '../base.js';

type KatexChunk = typeof import('../lazy/katex.js');
let chunk: Promise<KatexChunk> | undefined;

export function loadKatex(): Promise<KatexChunk> {
  chunk ??= loadChunk(() => import('../lazy/katex.js'));
  chunk.catch(() => {
    chunk = undefined;
  });
  return chunk;
}

const katexBase = () => `${STATIC_BASE}vendor/katex-${__KATEX_VERSION__}/`;

function link(href: string, marker: string): HTMLLinkElement {
  const l = document.createElement('link');
  l.rel = 'stylesheet';
  l.href = href;
  l.setAttribute(marker, '');
  return l;
}

/** Fonts must be declared in the document (a shadow root's @font-face is ignored); the rest is scoped. */
function ensureStyles(root: Node): void {
  if (!document.head.querySelector('link[data-runcell-katex-fonts]'))
    document.head.appendChild(link(`${katexBase()}fonts.css`, 'data-runcell-katex-fonts'));
  if (root instanceof ShadowRoot && !root.querySelector('link[data-runcell-katex]'))
    root.appendChild(link(`${katexBase()}katex.css`, 'data-runcell-katex'));
}

/** Strips the delimiters IPython puts around text/latex ($$…$$, $…$, \[…\], \(…\)). */
export function texOf(latex: string): { tex: string; display: boolean } {
  const s = latex.trim();
  const m =
    /^\$\$([\s\S]*)\$\$$/.exec(s) ??
    /^\\\[([\s\S]*)\\\]$/.exec(s) ??
    /^\\begin\{equation\*?\}([\s\S]*)\\end/.exec(s);
  if (m) return { tex: (m[1] as string).trim(), display: true };
  const i = /^\$([\s\S]*)\$$/.exec(s) ?? /^\\\(([\s\S]*)\\\)$/.exec(s);
  if (i) return { tex: (i[1] as string).trim(), display: false };
  return { tex: s, display: true };
}

/** Shows `tex` raw in `el` now and typeset once KaTeX is there. Resolves when done (either way). */
export async function renderTex(el: HTMLElement, tex: string, display: boolean): Promise<void> {
  el.textContent = tex;
  el.classList.add('rc-tex-raw');
  try {
    const k = await loadKatex();
    ensureStyles(el.getRootNode());
    const target = document.createElement(display ? 'div' : 'span');
    k.render(tex, target, display);
    el.textContent = '';
    el.appendChild(target);
    el.classList.remove('rc-tex-raw');
  } catch (e) {
    el.textContent = tex;
    el.title = e instanceof Error ? e.message : 'KaTeX could not render this';
  }
}

/**
 * Typesets every .rc-tex placeholder under `root` (Markdown maths), as display maths when it also has
 * .rc-tex-display (a class, not a data- attribute: the sanitizer keeps classes and drops data-*).
 */
export async function renderTexIn(root: ParentNode): Promise<void> {
  await Promise.all(
    [...root.querySelectorAll<HTMLElement>('.rc-tex')].map((el) =>
      renderTex(el, el.textContent ?? '', el.classList.contains('rc-tex-display')),
    ),
  );
}
