// The front door's list of environments: each kernel the server offers, with its language, version,
// logo, package count and the name a page or an API call uses for it (GET /api/environments and the
// specs' logos). Everything from the server goes in as text.
import type { EnvironmentInfo } from '../../../shared/environments.js';
import { fetchJson } from '../fetch.js';

interface Specs {
  kernelspecs: Record<string, { resources: Record<string, string> }>;
}

const el = <K extends keyof HTMLElementTagNameMap>(tag: K, text = '') => {
  const e = document.createElement(tag);
  e.textContent = text;
  return e;
};

/** Fills `into` with one card per environment; leaves it hidden when the server cannot say. */
export async function showEnvironments(into: HTMLElement): Promise<void> {
  const get = <T>(url: string) =>
    fetchJson<T>({ method: 'GET', url, unreachable: 'the server cannot be reached' });
  let envs: EnvironmentInfo[];
  let specs: Specs;
  try {
    [{ environments: envs }, specs] = await Promise.all([
      get<{ environments: EnvironmentInfo[] }>('/api/environments'),
      get<Specs>('/api/kernelspecs'),
    ]);
  } catch {
    return;
  }
  const grid = el('div');
  grid.className = 'features envs';
  for (const e of envs) {
    const card = el('div');
    card.dataset.kernel = e.name;
    const h = el('h3');
    const logo = specs.kernelspecs[e.name]?.resources['logo-64x64'];
    if (logo) {
      const img = el('img');
      img.src = logo;
      img.alt = '';
      img.width = img.height = 24;
      h.append(img, ' ');
    }
    h.append(e.display_name);
    const env = e.environment;
    const lang = `${e.language === 'python' ? 'Python' : e.language}${env?.version ? ` ${env.version}` : ''}`;
    const count = env?.packages ? ` · ${env.packages.length}${env.truncated ? '+' : ''} packages` : '';
    const use = el('p');
    use.append(`${lang}${count} · `, el('code', `data-kernel="${e.name}"`));
    card.append(h, use);
    if (env?.packages?.length) {
      const more = el('details');
      more.append(
        el('summary', 'Packages'),
        el('p', env.packages.map((p) => `${p.name} ${p.version}`).join(', ')),
      );
      card.append(more);
    }
    grid.append(card);
  }
  into.replaceChildren(el('h2', 'Environments'), grid);
  into.hidden = false;
}
