// Views that hold other things: boxes, Tab, Accordion, Output (captured outputs), and the text
// widgets whose value is markup (Label, HTML, HTMLMath) or an image.
import { bind, h, root } from './dom.js';
import type { ViewContext, WidgetModel } from './model.js';
import { base64, refId, toBytes } from './protocol.js';

type El = HTMLElement;

/** Children by reference; missing ones (dropped by the model cap, or closed) say so. */
function children(model: WidgetModel, mgr: ViewContext): El[] {
  const list = model.get('children');
  if (!Array.isArray(list)) return [];
  let missing = 0;
  const out: El[] = [];
  for (const c of list) {
    const id = refId(c);
    const child = id ? model.owner.get(id) : undefined;
    if (child) out.push(mgr.view(child));
    else missing++;
  }
  if (missing)
    out.push(
      h(
        'div',
        'rc-w-notice',
        mgr.dropped
          ? `${missing} widget${missing === 1 ? '' : 's'} not shown: this kernel opened more widgets than a page shows`
          : `${missing} widget${missing === 1 ? '' : 's'} not available`,
      ),
    );
  return out;
}

export function box(model: WidgetModel, mgr: ViewContext, kind: string): El {
  const el = root(model, `rc-w-box rc-w-${kind}`);
  bind(model, el, (keys) => {
    if (keys.includes('children')) el.replaceChildren(...children(model, mgr));
    const s = model.get('box_style');
    el.dataset.style = typeof s === 'string' ? s : '';
  });
  return el;
}

/** Titles: `titles` (8.x, a list) or `_titles` (6.x/7.x, {index: title}). */
function titleOf(model: WidgetModel, i: number): string {
  const t8 = model.get('titles');
  if (Array.isArray(t8) && typeof t8[i] === 'string') return t8[i];
  const t = model.get('_titles') as Record<string, unknown> | undefined;
  const v = t && typeof t === 'object' ? t[String(i)] : undefined;
  return typeof v === 'string' ? v : `Page ${i + 1}`;
}

export function tabs(model: WidgetModel, mgr: ViewContext, accordion: boolean): El {
  const el = root(model, accordion ? 'rc-w-accordion' : 'rc-w-tab');
  const current = () => {
    const s = model.get('selected_index');
    return typeof s === 'number' ? s : null;
  };
  bind(model, el, (keys) => {
    if (!keys.some((k) => ['children', 'titles', '_titles', 'selected_index', 'disabled'].includes(k)))
      return;
    const kids = children(model, mgr);
    const sel = current();
    const heads = kids.map((_, i) => {
      const b = h('button', 'rc-w-tabhead', titleOf(model, i));
      b.type = 'button';
      b.setAttribute(accordion ? 'aria-expanded' : 'aria-selected', String(sel === i));
      if (!accordion) b.setAttribute('role', 'tab');
      b.disabled = model.disabled;
      // An accordion's open section closes on a second click (selected_index None).
      b.addEventListener('click', () =>
        model.set({ selected_index: accordion && current() === i ? null : i }),
      );
      return b;
    });
    if (accordion) {
      el.replaceChildren(
        ...kids.flatMap((k, i) => {
          const panel = h('div', 'rc-w-panel');
          panel.hidden = sel !== i;
          panel.append(k);
          return [heads[i] as El, panel];
        }),
      );
    } else {
      const bar = h('div', 'rc-w-tabbar');
      bar.setAttribute('role', 'tablist');
      bar.append(...heads);
      const panels = kids.map((k, i) => {
        const p = h('div', 'rc-w-panel');
        p.setAttribute('role', 'tabpanel');
        p.hidden = (sel ?? 0) !== i;
        p.append(k);
        return p;
      });
      el.replaceChildren(bar, ...panels);
    }
  });
  return el;
}

export function label(model: WidgetModel): El {
  const el = root(model, 'rc-w-label');
  bind(model, el, () => {
    el.textContent = String(model.get('value') ?? '');
  });
  return el;
}

const TEX = /\$\$([^$]+)\$\$|\\\[([\s\S]+?)\\\]|\$([^$\n]+)\$|\\\(([\s\S]+?)\\\)/g;

/** Replaces $…$ / $$…$$ in the text nodes under `node` with KaTeX (HTMLMath). */
function typeset(node: Node, mgr: ViewContext): void {
  const walker = document.createTreeWalker(node, NodeFilter.SHOW_TEXT);
  const texts: Text[] = [];
  for (let t = walker.nextNode(); t; t = walker.nextNode()) texts.push(t as Text);
  for (const t of texts) {
    const s = t.data;
    TEX.lastIndex = 0;
    if (!TEX.test(s)) continue;
    TEX.lastIndex = 0;
    const frag = document.createDocumentFragment();
    let at = 0;
    for (const m of s.matchAll(TEX)) {
      frag.append(s.slice(at, m.index));
      const display = m[1] !== undefined || m[2] !== undefined;
      const span = h(display ? 'div' : 'span');
      void mgr.services.renderTex(span, (m[1] ?? m[2] ?? m[3] ?? m[4] ?? '').trim(), display);
      frag.append(span);
      at = (m.index ?? 0) + m[0].length;
    }
    frag.append(s.slice(at));
    t.replaceWith(frag);
  }
}

/** HTML and HTMLMath: sanitized like text/html output (no script, nothing loaded from outside). */
export function html(model: WidgetModel, mgr: ViewContext, math: boolean): El {
  const el = root(model, 'rc-w-row rc-w-html-row');
  const desc = h('label', 'rc-w-desc');
  const content = h('div', 'rc-w-html');
  el.append(desc, content);
  bind(model, el, () => {
    const d = model.get('description');
    desc.textContent = typeof d === 'string' ? d : '';
    desc.hidden = !desc.textContent;
    const { fragment } = mgr.services.sanitizeHtml(String(model.get('value') ?? ''));
    content.replaceChildren(fragment);
    if (math) typeset(content, mgr);
  });
  return el;
}

const IMAGE_FORMATS = /^(png|jpe?g|gif|webp|bmp|svg\+xml)$/;

/** Image: bytes (7/8: `value`, a buffer; 6: `_b64value`) as a data: URL; format 'url' is refused. */
export function image(model: WidgetModel): El {
  const el = root(model, 'rc-w-image');
  const img = h('img');
  img.alt = 'image widget';
  el.append(img);
  bind(model, el, () => {
    const fmt = String(model.get('format') ?? 'png').toLowerCase();
    const w = model.get('width');
    const ht = model.get('height');
    if (w) img.style.width = /^\d+$/.test(String(w)) ? `${w}px` : String(w).replace(/[^\w%.]/g, '');
    if (ht) img.style.height = /^\d+$/.test(String(ht)) ? `${ht}px` : String(ht).replace(/[^\w%.]/g, '');
    img.removeAttribute('src');
    if (!IMAGE_FORMATS.test(fmt)) {
      img.alt = `image widget (format ${fmt} is not shown here)`;
      return;
    }
    const mime = `image/${fmt === 'jpg' ? 'jpeg' : fmt}`;
    // A data: URL, like image output: nothing is fetched, and no blob: URL needs the page's CSP.
    const b64 = model.get('_b64value');
    const bytes = toBytes(model.get('value'));
    const data = typeof b64 === 'string' ? b64.replace(/\s+/g, '') : bytes ? base64(bytes) : '';
    if (data && /^[A-Za-z0-9+/=]*$/.test(data)) img.src = `data:${mime};base64,${data}`;
  });
  return el;
}

/** Output: the outputs it captured, rendered like a cell's (nested widgets included). */
export function output(model: WidgetModel, mgr: ViewContext): El {
  const el = root(model, 'rc-w-output');
  let first = true;
  bind(model, el, (keys) => {
    if (!first && !keys.includes('outputs')) return;
    first = false;
    // Rebuilt in one step (replaceChildren), so an interact output changes in place without a blank.
    const items = model.outputs.map((o) => mgr.services.renderOutput(o));
    el.replaceChildren(...items);
    for (const i of items) mgr.services.mount(i);
  });
  return el;
}
