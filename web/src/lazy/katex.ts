// Lazy chunk: KaTeX itself. Imports nothing from the core (the core must stay a classic script).
import katex from 'katex';

/** Renders TeX into `el`; throws on TeX KaTeX cannot parse (the caller keeps the raw TeX). */
export function render(tex: string, el: HTMLElement, display: boolean): void {
  katex.render(tex, el, {
    displayMode: display,
    throwOnError: true,
    output: 'htmlAndMathml',
    trust: false,
    strict: 'ignore',
    maxExpand: 500,
  });
}
