// Markdown output (text/markdown): the source is shown as text at once, then replaced by markdown-it's
// rendering once its chunk has loaded (first use only). That HTML is sanitized like HTML output (raw
// HTML in the Markdown included; scripts never run, nothing outside is loaded), then $…$ and $$…$$ are
// typeset by KaTeX.
import { loadChunk } from '../api.js';
import { renderTexIn } from './latex.js';
import { sanitizeHtml } from './sanitize.js';

type MarkdownChunk = typeof import('../lazy/markdown.js');
let chunk: Promise<MarkdownChunk> | undefined;

function loadMarkdown(): Promise<MarkdownChunk> {
  chunk ??= loadChunk(() => import('../lazy/markdown.js'));
  chunk.catch(() => {
    chunk = undefined;
  });
  return chunk;
}

/** Fills `root` with the Markdown: as text now, rendered when the chunk is there. Resolves when done. */
export async function renderMarkdownIn(root: ParentNode, markdown: string): Promise<void> {
  const raw = document.createElement('pre');
  raw.className = 'rc-md-raw';
  raw.textContent = markdown;
  root.appendChild(raw);
  let html: string;
  try {
    html = (await loadMarkdown()).render(markdown);
  } catch {
    return; // The chunk did not load: the source stays readable.
  }
  const body = document.createElement('div');
  body.className = 'rc-md';
  body.appendChild(sanitizeHtml(html).fragment);
  raw.replaceWith(body);
  await renderTexIn(body);
}
