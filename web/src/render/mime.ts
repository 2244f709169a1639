// Rich outputs (execute_result, display_data): one representation is shown per bundle, the first
// present in MIME_ORDER (documented in docs/embed.md). HTML, SVG and Markdown are sanitized and shown in
// their own shadow root, so their styles cannot restyle the cell or the page; HTML that carried scripts
// goes to the sandboxed frame, and so does application/javascript (IPython's Javascript); text is always
// inserted as text.
import type { MimeBundle } from '../messages.js';
import { WIDGET_MIME, widgetPlaceholder } from '../widgets/hook.js';
import { ansiToDom } from './ansi.js';
import { renderInFrame, runInFrame } from './frame.js';
import { renderTex, renderTexIn, texOf } from './latex.js';
import { renderMarkdownIn } from './markdown.js';
import { sanitizeHtml, sanitizeSvg } from './sanitize.js';

/** Files the code wrote, announced by the server (links to /files/:id/:name on the runcell server). */
export const FILES_MIME = 'application/vnd.runcell.files+json';

export const MIME_ORDER = [
  FILES_MIME,
  'text/html',
  'application/javascript',
  'image/svg+xml',
  'image/png',
  'image/jpeg',
  'image/gif',
  'text/latex',
  'text/markdown',
  'application/json',
  'text/plain',
] as const;

export type Mime = (typeof MIME_ORDER)[number];

/** The representation to show, or undefined when none is supported. */
export function pickMime(data: MimeBundle): Mime | undefined {
  return MIME_ORDER.find((m) => data[m] !== undefined && data[m] !== null);
}

/** nbformat allows multi-line strings as arrays of lines. */
export function textOf(v: unknown): string {
  if (typeof v === 'string') return v;
  if (Array.isArray(v) && v.every((x) => typeof x === 'string')) return v.join('');
  return JSON.stringify(v, null, 2) ?? '';
}

const OUTPUT_CSS = `:host{display:block;overflow-x:auto;color:var(--rc-fg);font:var(--rc-output-font)}
table{border-collapse:collapse;font-size:13px;margin:4px 0}th,td{border:1px solid var(--rc-border);padding:4px 8px;text-align:right}
thead th{background:var(--rc-surface)}tbody tr:nth-child(odd){background:var(--rc-surface-2)}
img,svg{max-width:100%;height:auto}a{color:var(--rc-accent)}pre,code{font-family:var(--rc-mono);font-size:13px}
pre{background:var(--rc-surface);padding:8px;border-radius:6px;overflow:auto}p{margin:.4em 0}h1,h2,h3{line-height:1.25;margin:.6em 0 .3em}
blockquote{margin:.4em 0;padding-left:12px;border-left:3px solid var(--rc-border);color:var(--rc-muted)}
.rc-tex-raw{font-family:var(--rc-mono);white-space:pre-wrap}.rc-md-raw{background:none;padding:0;white-space:pre-wrap}.katex-display{margin:.5em 0}`;

/** A container whose content lives in its own shadow root. */
function isolated(kind: string, fill: (root: ShadowRoot) => void): HTMLElement {
  const host = document.createElement('div');
  host.className = `rc-rich rc-${kind}`;
  const root = host.attachShadow({ mode: 'open' });
  const style = document.createElement('style');
  style.textContent = OUTPUT_CSS;
  root.appendChild(style);
  fill(root);
  return host;
}

const B64 = /^[A-Za-z0-9+/=\s]*$/;

function image(mime: string, data: unknown, meta: Record<string, unknown>): HTMLElement {
  const b64 = textOf(data);
  const img = document.createElement('img');
  img.className = 'rc-image';
  img.alt = 'image output';
  if (B64.test(b64)) img.src = `data:${mime};base64,${b64.replace(/\s+/g, '')}`;
  const size = (meta[mime] ?? meta) as { width?: unknown; height?: unknown };
  if (typeof size.width === 'number') img.width = size.width;
  if (typeof size.height === 'number') img.height = size.height;
  return img;
}

function pre(className: string, text: string, ansi = false): HTMLElement {
  const el = document.createElement('pre');
  el.className = className;
  if (ansi) ansiToDom(text, el);
  else el.textContent = text;
  return el;
}

type Renderer = (data: unknown, meta: Record<string, unknown>, server?: string) => HTMLElement;

interface FileLink {
  name: string;
  size: number;
  url: string;
}

/** A list of download links; names are text, URLs must be the server's own /files/ paths. */
function fileLinks(data: unknown, server: string): HTMLElement {
  const list = document.createElement('ul');
  list.className = 'rc-files';
  const d = (data ?? {}) as { files?: unknown; skipped?: unknown };
  const files = Array.isArray(d.files) ? (d.files as FileLink[]) : [];
  for (const f of files) {
    if (typeof f?.url !== 'string' || !f.url.startsWith('/files/') || typeof f.name !== 'string') continue;
    const li = document.createElement('li');
    const a = document.createElement('a');
    a.href = new URL(f.url, server).href;
    a.textContent = f.name;
    a.setAttribute('download', f.name);
    a.rel = 'noopener';
    li.append(a, document.createTextNode(` (${Number(f.size) || 0} bytes)`));
    list.appendChild(li);
  }
  const skipped = Array.isArray(d.skipped) ? (d.skipped as { name?: unknown; reason?: unknown }[]) : [];
  for (const s of skipped) {
    const li = document.createElement('li');
    li.className = 'rc-muted';
    li.textContent = `${String(s?.name)}: not kept (${String(s?.reason)})`;
    list.appendChild(li);
  }
  return list;
}

const RENDERERS: Record<Mime, Renderer> = {
  [FILES_MIME]: (data, _meta, server) => fileLinks(data, server ?? location.origin),
  'text/html': (data) => {
    const html = textOf(data);
    const { fragment, hadScript } = sanitizeHtml(html);
    if (hadScript) return renderInFrame(html);
    return isolated('html', (root) => {
      root.appendChild(fragment);
      void renderTexIn(root);
    });
  },
  'application/javascript': (data) => runInFrame(textOf(data)),
  'image/svg+xml': (data) => isolated('svg', (root) => root.appendChild(sanitizeSvg(textOf(data)))),
  'image/png': (data, meta) => image('image/png', data, meta),
  'image/jpeg': (data, meta) => image('image/jpeg', data, meta),
  'image/gif': (data, meta) => image('image/gif', data, meta),
  'text/latex': (data) =>
    isolated('latex', (root) => {
      const { tex, display } = texOf(textOf(data));
      const el = document.createElement('div');
      root.appendChild(el);
      void renderTex(el, tex, display);
    }),
  'text/markdown': (data) =>
    isolated('markdown', (root) => {
      void renderMarkdownIn(root, textOf(data));
    }),
  'application/json': (data) =>
    pre('rc-json', typeof data === 'string' ? data : (JSON.stringify(data, null, 2) ?? '')),
  'text/plain': (data) => pre('rc-text', textOf(data), true),
};

/** Renders the preferred representation of a bundle (a notice when none is supported). */
export function renderBundle(
  data: MimeBundle,
  metadata: Record<string, unknown> = {},
  server?: string,
): HTMLElement {
  // A widget view: a placeholder the cell's kernel mounts a live view (or a stored snapshot) into.
  if (data[WIDGET_MIME]) return widgetPlaceholder(data);
  const mime = pickMime(data);
  if (!mime) {
    return pre('rc-text rc-muted', `[output of type ${Object.keys(data).join(', ') || 'unknown'} not shown]`);
  }
  return RENDERERS[mime](data[mime], metadata, server);
}
