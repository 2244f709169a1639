// The cell's "Packages" control and the kernel picker's environment details: what the chosen kernel's
// environment holds (GET /api/kernelspecs, shared/environments.ts). The core adds the button and
// names each picker entry with its language and version; the list itself is a lazy chunk
// (lazy/packages.ts). One fetch of the specs per server, shared by every cell of the page.
import type { EnvironmentSummary } from '../../shared/environments.js';
import { type Api, loadChunk } from './api.js';
import { fetchJson } from './fetch.js';

export interface SpecModel {
  name: string;
  spec: { display_name: string; language: string };
  resources: Record<string, string>;
  environment?: EnvironmentSummary | null;
}
export interface Specs {
  default: string;
  kernelspecs: Record<string, SpecModel>;
}

const cache = new Map<string, Promise<Specs>>();

/** The server's specs with their environments, once per server and token. */
export function specsOf(api: Api): Promise<Specs> {
  const key = `${api.server}\n${api.token ?? ''}`;
  let p = cache.get(key);
  if (!p) {
    p = fetchJson<Specs>({
      method: 'GET',
      url: api.url('/api/kernelspecs'),
      token: api.token,
      unreachable: 'the server cannot be reached',
    });
    p.catch(() => cache.delete(key));
    cache.set(key, p);
  }
  return p;
}

/** A picker entry: "R · 4.2.2", "Python 3 (ipykernel) · 3.11.2", "Echo · text" (the language only
 * when the display name does not already say it). */
export function entryLabel(s: SpecModel): string {
  const lang = s.spec.language === 'python' ? 'Python' : s.spec.language;
  const version = s.environment?.version ?? '';
  const named = s.spec.display_name.toLowerCase().includes(s.spec.language.toLowerCase());
  const detail = named ? version : `${lang} ${version}`.trim();
  return detail ? `${s.spec.display_name} · ${detail}` : s.spec.display_name;
}

/**
 * Adds the Packages button after `lang` in the cell's bar, and decorates the picker's entries (filled
 * by the cell) with language, version and the spec's logo. `current` names the cell's kernel.
 */
export function packagesControl(
  lang: HTMLSelectElement,
  api: () => Api,
  current: () => string | undefined,
): HTMLButtonElement {
  const btn = document.createElement('button');
  btn.type = 'button';
  btn.className = 'rc-packages';
  btn.textContent = 'Packages';
  btn.title = 'What this kernel’s environment has installed';
  btn.setAttribute('aria-expanded', 'false');
  const logo = document.createElement('img');
  logo.className = 'rc-logo';
  logo.alt = '';
  logo.width = logo.height = 20;
  logo.hidden = true;
  lang.before(logo);
  lang.after(btn);
  const decorate = async () => {
    const specs = await specsOf(api()).catch(() => undefined);
    if (!specs) return;
    for (const o of lang.options) {
      const s = specs.kernelspecs[o.value];
      if (s && !o.dataset.env) {
        o.dataset.env = '1';
        o.textContent = entryLabel(s);
      }
    }
    const s = specs.kernelspecs[lang.value];
    const src = s?.resources['logo-64x64'] ?? s?.resources['logo-svg'];
    logo.hidden = lang.hidden || !src;
    if (src) logo.src = api().url(src);
  };
  new MutationObserver(() => void decorate()).observe(lang, {
    childList: true,
    attributes: true,
    attributeFilter: ['hidden'],
  });
  lang.addEventListener('change', () => void decorate());
  btn.addEventListener('click', async () => {
    const root = btn.getRootNode() as ShadowRoot | Document;
    const chunk = await loadChunk(() => import('./lazy/packages.js'));
    chunk.toggle(btn, root, specsOf(api()), current() ?? lang.value);
  });
  return btn;
}
