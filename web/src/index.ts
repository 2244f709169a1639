// The embed entry (runcell.js). Page authors write
//   <script src="https://HOST/static/runcell.js"></script>
// and then any of: elements with data-runcell (or <pre data-executable>) are enhanced when the page is
// ready; RunCell.makeCell(elementOrSelector, options) from script; a <run-cell> custom element.
// This module exports nothing: the build checks it, so the bundle stays a valid classic script.
import { STATIC_BASE } from './base.js';
import { Cell } from './cell.js';
import { type CellOptions, optionsFromElement } from './options.js';

const VERSION = '0.1.0';
const SELECTOR = '[data-runcell], pre[data-executable]';
const cells = new WeakMap<Element, Cell>();

/** Replaces an element that cannot host a shadow root (e.g. <pre>) with one that can. */
function hostFor(el: HTMLElement): HTMLElement {
  if (el.localName === 'run-cell' || el.localName === 'div' || el.localName === 'section') {
    if (!el.shadowRoot) return el;
  }
  const host = document.createElement('div');
  host.className = 'runcell';
  for (const a of Array.from(el.attributes))
    if (a.name.startsWith('data-') || a.name === 'id') host.setAttribute(a.name, a.value);
  el.replaceWith(host);
  return host;
}

function makeCell(target: Element | string, options: CellOptions = {}): Cell {
  const el = typeof target === 'string' ? document.querySelector(target) : target;
  if (!(el instanceof HTMLElement)) throw new Error(`runcell: no element matches ${String(target)}`);
  const existing = cells.get(el);
  if (existing) return existing;
  const code = el.textContent ?? '';
  // Child elements in code: a "<" the HTML parser took for a tag? (Told in the console.)
  if (el.localName !== 'script' && el.firstElementChild)
    import('./lazy/authoring.js').then((m) => m.warnIfTruncated(el)).catch(() => undefined);
  const opts = { ...optionsFromElement(el), ...options };
  const host = hostFor(el);
  host.classList.add('runcell');
  const cell = new Cell(host, opts, code);
  cells.set(el, cell);
  cells.set(host, cell);
  return cell;
}

/** Enhances every marked element under `root` (again safe: enhanced elements are skipped). */
function enhance(root: ParentNode = document): Cell[] {
  return Array.from(root.querySelectorAll<HTMLElement>(SELECTOR))
    .filter((el) => !cells.has(el))
    .map((el) => makeCell(el));
}

class RunCellElement extends HTMLElement {
  cell: Cell | undefined;
  connectedCallback(): void {
    // Children are parsed after the start tag: wait for them before reading the code.
    if (this.cell) return;
    const init = () => {
      if (!this.cell && this.isConnected) this.cell = makeCell(this);
    };
    if (document.readyState === 'loading')
      document.addEventListener('DOMContentLoaded', init, { once: true });
    else queueMicrotask(init);
  }
}

export interface RunCellApi {
  version: string;
  staticBase: string;
  makeCell: typeof makeCell;
  enhance: typeof enhance;
  Cell: typeof Cell;
}

if (!window.RunCell) {
  const api: RunCellApi = { version: VERSION, staticBase: STATIC_BASE, makeCell, enhance, Cell };
  window.RunCell = api;
  if (!customElements.get('run-cell')) customElements.define('run-cell', RunCellElement);
  if (document.readyState === 'loading')
    document.addEventListener('DOMContentLoaded', () => enhance(), { once: true });
  else enhance();
  document.dispatchEvent(new CustomEvent('runcell:loaded', { detail: { version: VERSION } }));
}
