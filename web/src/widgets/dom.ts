// Shared pieces of widget views: the root element with layout, classes and the disabled state, the
// description label, binding a view to its model's changes, and the stylesheet.
import type { WidgetModel } from './model.js';
import { WIDGET_CSS } from './styles.js';

/** Layout traits (ipywidgets' Layout) -> CSS properties; values that would load anything are refused. */
const LAYOUT: Record<string, string> = {
  width: 'width',
  height: 'height',
  min_width: 'min-width',
  max_width: 'max-width',
  min_height: 'min-height',
  max_height: 'max-height',
  margin: 'margin',
  padding: 'padding',
  border: 'border',
  display: 'display',
  visibility: 'visibility',
  flex: 'flex',
  flex_flow: 'flex-flow',
  align_items: 'align-items',
  align_content: 'align-content',
  align_self: 'align-self',
  justify_content: 'justify-content',
  overflow: 'overflow',
  overflow_x: 'overflow-x',
  overflow_y: 'overflow-y',
  order: 'order',
  grid_gap: 'gap',
  grid_template_columns: 'grid-template-columns',
  grid_template_rows: 'grid-template-rows',
  grid_area: 'grid-area',
};

/** A CSS value from a kernel: text without url(), escapes or anything that ends a declaration. */
export function cssValue(v: unknown): string | undefined {
  if (typeof v !== 'string' && typeof v !== 'number') return undefined;
  const s = String(v);
  if (s.length > 200 || /url\(|image|\\|[;{}<>@]|expression/i.test(s)) return undefined;
  return s;
}

const styled = new WeakSet<Node>();
/** The widget stylesheet, once per shadow root (or document) a widget is shown in. */
export function ensureStyles(el: HTMLElement): void {
  const root = el.getRootNode();
  const target = root instanceof ShadowRoot ? root : root instanceof Document ? root.head : el;
  if (styled.has(target)) return;
  styled.add(target);
  const style = document.createElement('style');
  style.textContent = WIDGET_CSS;
  target.appendChild(style);
}

/** Runs `update` now with every key and again on each change, until the view is removed. */
export function bind(model: WidgetModel, el: HTMLElement, update: (keys: string[]) => void): void {
  let shown = false;
  update(Object.keys(model.state).concat('disabled'));
  const off = model.on((keys) => {
    if (el.isConnected) shown = true;
    else if (shown) {
      off();
      return;
    }
    update(keys);
  });
}

export function h<K extends keyof HTMLElementTagNameMap>(
  tag: K,
  cls?: string,
  text?: string,
): HTMLElementTagNameMap[K] {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  if (text !== undefined) e.textContent = text;
  return e;
}

/** The view's root: layout traits, _dom_classes, and the disabled/inactive look with its reason. */
export function root(model: WidgetModel, cls: string): HTMLElement {
  const el = h('div', `rc-w ${cls}`);
  el.dataset.model = model.name;
  const layout = model.ref('layout');
  const applyLayout = () => {
    if (!layout) return;
    for (const [trait, prop] of Object.entries(LAYOUT)) {
      const v = cssValue(layout.get(trait));
      if (v !== undefined) el.style.setProperty(prop, v);
      else el.style.removeProperty(prop);
    }
  };
  applyLayout();
  if (layout) bind(layout, el, applyLayout);
  bind(model, el, (keys) => {
    if (keys.includes('_dom_classes')) {
      const extra = model.get('_dom_classes');
      el.className = `rc-w ${cls}`;
      if (Array.isArray(extra))
        for (const c of extra) if (typeof c === 'string' && /^[\w-]{1,64}$/.test(c)) el.classList.add(c);
    }
    const why = model.inactive;
    el.classList.toggle('rc-w-inactive', why !== undefined);
    if (why) el.title = `Not live: ${why}`;
    else el.removeAttribute('title');
  });
  return el;
}

/** The description label, sized by style.description_width. */
export function description(model: WidgetModel, forId?: string): HTMLElement {
  const label = h('label', 'rc-w-desc');
  if (forId) label.htmlFor = forId;
  const style = model.ref('style');
  bind(model, label, () => {
    const d = model.get('description');
    label.textContent = typeof d === 'string' ? d : '';
    label.hidden = !label.textContent;
    const tip = model.get('description_tooltip') ?? model.get('tooltip');
    if (typeof tip === 'string' && tip) label.title = tip;
  });
  if (style)
    bind(style, label, () => {
      const w = cssValue(style.get('description_width'));
      if (w) label.style.width = w;
      else label.style.removeProperty('width');
    });
  return label;
}

let counter = 0;
export const uid = (): string => `rc-w-${++counter}`;

/** Number formatting for readouts: Python format specs d, .Nf, .N%, .Ne; anything else as is. */
export function format(v: unknown, spec: unknown): string {
  const n = typeof v === 'number' ? v : Number(v);
  if (!Number.isFinite(n)) return String(v ?? '');
  const s = typeof spec === 'string' ? spec : '';
  const m = /^[^.\d]*\.?(\d+)?([dfe%g])$/.exec(s);
  if (!m) return String(Math.round(n * 1e6) / 1e6);
  const p = m[1] === undefined ? undefined : Number(m[1]);
  switch (m[2]) {
    case 'd':
      return String(Math.round(n));
    case 'f':
      return n.toFixed(p ?? 6);
    case 'e':
      return n.toExponential(p ?? 6);
    case '%':
      return `${(n * 100).toFixed(p ?? 6)}%`;
    default:
      return p === undefined ? String(n) : String(Number(n.toPrecision(Math.max(1, p))));
  }
}
