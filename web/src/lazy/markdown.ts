// Lazy chunk: markdown-it (CommonMark with GFM tables and strikethrough) and a small maths rule. Imports
// nothing from the core (the core must stay a classic script). Its HTML is untrusted: the caller
// sanitizes it like HTML output. Raw HTML in the Markdown is passed through to that sanitizer (as
// Jupyter shows it), never into the page as it is.

import type { StateBlock, StateInline } from 'markdown-it';
import MarkdownIt from 'markdown-it';

const DOLLAR = 0x24;
const BACKSLASH = 0x5c;

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

/** Where the maths opened at `from` closes (the index of its delimiter), or -1. */
function closing(src: string, from: number, max: number, delim: string): number {
  for (let i = from; i < max; i++) {
    const c = src.charCodeAt(i);
    if (c === BACKSLASH) i++;
    else if (src.startsWith(delim, i) && i + delim.length <= max) return i;
  }
  return -1;
}

/**
 * $…$ and $$…$$ inside a paragraph, by the rules Jupyter's Markdown follows (pandoc's): an inline $
 * is not followed by a space, its closing $ is not preceded by one nor followed by a digit ("$5 and
 * $6" stays text). \$ is a literal dollar (markdown-it's escape rule sees it first).
 */
function mathInline(state: StateInline, silent: boolean): boolean {
  const { src, pos, posMax } = state;
  if (src.charCodeAt(pos) !== DOLLAR) return false;
  const display = src.charCodeAt(pos + 1) === DOLLAR;
  const open = display ? 2 : 1;
  const start = pos + open;
  if (!display && (start >= posMax || /\s/.test(src.charAt(start)))) return false;
  const end = closing(src, start, posMax, display ? '$$' : '$');
  if (end <= start) return false;
  if (!display && (/\s/.test(src.charAt(end - 1)) || /\d/.test(src.charAt(end + 1)))) return false;
  if (!silent) {
    const token = state.push('math_inline', 'span', 0);
    token.content = src.slice(start, end);
    token.markup = display ? '$$' : '$';
    token.meta = { display };
  }
  state.pos = end + open;
  return true;
}

/** A $$ block: from a line starting with $$ to the next line ending with $$. */
function mathBlock(state: StateBlock, startLine: number, endLine: number, silent: boolean): boolean {
  const lineText = (line: number) =>
    state.src.slice((state.bMarks[line] ?? 0) + (state.tShift[line] ?? 0), state.eMarks[line]);
  if ((state.sCount[startLine] ?? 0) - state.blkIndent >= 4) return false;
  const first = lineText(startLine);
  if (!first.startsWith('$$')) return false;
  let body: string;
  let next = startLine + 1;
  const rest = first.slice(2).trimEnd();
  const close = rest.indexOf('$$');
  if (close >= 0) {
    // "$$ x $$" alone on its line is a block; "$$a$$ is big" is a paragraph, left to the inline rule.
    if (close !== rest.length - 2) return false;
    body = rest.slice(0, close);
  } else {
    const lines = [rest];
    let closed = false;
    for (; next < endLine && !closed; next++) {
      if ((state.sCount[next] ?? 0) < state.blkIndent && !state.isEmpty(next)) break;
      const text = lineText(next).trimEnd();
      closed = text.endsWith('$$');
      lines.push(closed ? text.slice(0, -2) : text);
    }
    // An unclosed $$ is text: a stray dollar pair must not swallow the rest of the output.
    if (!closed) return false;
    body = lines.join('\n');
  }
  if (silent) return true;
  const token = state.push('math_block', 'div', 0);
  token.block = true;
  token.content = body.trim();
  token.markup = '$$';
  token.map = [startLine, next];
  state.line = next;
  return true;
}

const md = new MarkdownIt({ html: true, linkify: false, typographer: false });
md.inline.ruler.after('escape', 'math_inline', mathInline);
md.block.ruler.before('fence', 'math_block', mathBlock, {
  alt: ['paragraph', 'reference', 'blockquote', 'list'],
});
// Placeholders for KaTeX (render/latex.ts typesets them once its chunk is there); the TeX stays text.
md.renderer.rules.math_inline = (tokens, idx) => {
  const t = tokens[idx];
  const display = (t?.meta as { display?: boolean } | null)?.display === true;
  return `<span class="rc-tex${display ? ' rc-tex-display' : ''}">${esc(t?.content ?? '')}</span>`;
};
md.renderer.rules.math_block = (tokens, idx) =>
  `<div class="rc-tex rc-tex-display">${esc(tokens[idx]?.content ?? '')}</div>\n`;

/** Markdown to (unsanitized) HTML. */
export function render(markdown: string): string {
  return md.render(markdown);
}
