// Lazy chunk: the "Packages" panel of a cell: the kernel's language and version, and its installed
// packages with a filter. Everything shown comes from the server's JSON and goes in as text.
import type { EnvironmentSummary } from '../../../shared/environments.js';

interface Specs {
  default: string;
  kernelspecs: Record<
    string,
    { spec: { display_name: string; language: string }; environment?: EnvironmentSummary | null }
  >;
}

const CSS = `.rc-pk{border-bottom:1px solid var(--rc-border);padding:8px 12px;font-size:13px;background:var(--rc-surface-2)}
.rc-pk input{width:100%;max-width:22em;font:inherit;padding:4px 8px;border:1px solid var(--rc-border);border-radius:6px;background:var(--rc-bg);color:var(--rc-fg);margin:6px 0}
.rc-pk ul{list-style:none;margin:0;padding:0;max-height:14em;overflow:auto;columns:14em;column-gap:1.5em}
.rc-pk li{display:flex;justify-content:space-between;gap:1em;break-inside:avoid;padding:1px 0}
.rc-pk li span+span,.rc-pk .note{color:var(--rc-muted)}`;

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, cls: string, text = '') => {
  const e = document.createElement(tag);
  if (cls) e.className = cls;
  e.textContent = text;
  return e;
};

function panel(name: string, specs: Specs | undefined, failed: string | undefined): HTMLElement {
  const box = el('div', 'rc-pk');
  box.setAttribute('role', 'region');
  box.setAttribute('aria-label', 'Installed packages');
  const s = specs?.kernelspecs[name];
  const env = s?.environment;
  if (!s || !env) {
    box.append(
      el(
        'div',
        'note',
        failed ??
          (s
            ? 'The server is still looking at this environment; try again in a moment.'
            : `No kernel named ${name}.`),
      ),
    );
    return box;
  }
  const lang = s.spec.language === 'python' ? 'Python' : s.spec.language;
  box.append(el('strong', '', `${s.spec.display_name}: ${lang}${env.version ? ` ${env.version}` : ''}`));
  const pk = env.packages;
  if (!pk) {
    box.append(
      el(
        'div',
        'note',
        env.error ? 'The package list is not available.' : 'This kernel does not list its packages.',
      ),
    );
    return box;
  }
  box.append(
    el(
      'span',
      'note',
      ` · ${pk.length}${env.truncated ? '+' : ''} packages; kernels cannot install more (no network).`,
    ),
  );
  const filter = el('input', '');
  filter.type = 'search';
  filter.placeholder = 'Filter packages';
  filter.setAttribute('aria-label', 'Filter packages');
  const list = el('ul', '');
  const render = () => {
    const q = filter.value.trim().toLowerCase();
    list.replaceChildren(
      ...pk
        .filter((p) => p.name.toLowerCase().includes(q))
        .map((p) => {
          const li = el('li', '');
          li.append(el('span', '', p.name), el('span', '', p.version));
          return li;
        }),
    );
  };
  filter.addEventListener('input', render);
  render();
  box.append(filter, list);
  return box;
}

/** Opens the panel below the cell's bar, or closes it. */
export async function toggle(
  btn: HTMLButtonElement,
  root: ShadowRoot | Document,
  specs: Promise<Specs>,
  name: string,
): Promise<void> {
  const bar = btn.closest('.rc-bar');
  const open = bar?.parentElement?.querySelector(':scope > .rc-pk');
  if (open) {
    open.remove();
    btn.setAttribute('aria-expanded', 'false');
    return;
  }
  if (root instanceof ShadowRoot && !root.querySelector('style[data-rc-pk]')) {
    const style = el('style', '', CSS);
    style.dataset.rcPk = '';
    root.appendChild(style);
  }
  let data: Specs | undefined;
  let failed: string | undefined;
  try {
    data = await specs;
  } catch (e) {
    failed = (e as Error).message;
  }
  bar?.after(panel(name || data?.default || '', data, failed));
  btn.setAttribute('aria-expanded', 'true');
}
