// The permalink page (/p/:id): the stored code and output, Run to execute again, Edit to change it.
import type { PermalinkModel } from '../api.js';

const R = window.RunCell;
const main = document.getElementById('permalink') as HTMLElement;
const meta = document.getElementById('meta') as HTMLElement;
const id = decodeURIComponent(location.pathname.split('/').filter(Boolean)[1] ?? '');

function showError(title: string, text: string): void {
  main.replaceChildren();
  const box = document.createElement('div');
  box.className = 'empty-state';
  const h = document.createElement('h2');
  h.textContent = title;
  const p = document.createElement('p');
  p.textContent = text;
  const a = document.createElement('a');
  a.href = '/';
  a.className = 'button';
  a.textContent = 'Open a new cell';
  box.append(h, p, a);
  main.appendChild(box);
  meta.textContent = '';
}

async function load(): Promise<void> {
  if (!R)
    return showError(
      'runcell did not load',
      'The script that runs cells could not be loaded. Reload the page.',
    );
  let p: PermalinkModel;
  try {
    const res = await fetch(`/api/permalinks/${encodeURIComponent(id)}`, {
      headers: { accept: 'application/json' },
    });
    if (res.status === 404)
      return showError('This permalink does not exist', 'Check the address: the link may be mistyped.');
    if (!res.ok)
      return showError(
        'Could not load this permalink',
        `The server answered ${res.status}. Try again in a moment.`,
      );
    p = (await res.json()) as PermalinkModel;
  } catch {
    return showError('Could not reach the server', 'Check your connection and reload the page.');
  }
  const host = document.createElement('div');
  main.replaceChildren(host);
  const cell = R.makeCell(host, {
    code: p.code,
    kernel: p.kernel,
    outputs: p.outputs ?? [],
    readOnly: true,
    lineNumbers: true,
    placeholder: 'No stored output. Press Run to execute this code.',
  });
  const when = p.created ? new Date(p.created) : undefined;
  meta.textContent = `${p.kernel}${when && !Number.isNaN(when.getTime()) ? ` · saved ${when.toLocaleString()}` : ''}`;
  const edit = document.getElementById('edit') as HTMLButtonElement;
  edit.hidden = false;
  edit.addEventListener('click', () => {
    const editing = edit.getAttribute('aria-pressed') === 'true';
    cell.setReadOnly(editing);
    edit.setAttribute('aria-pressed', String(!editing));
    edit.textContent = editing ? 'Edit' : 'Editing';
    if (!editing) cell.focus();
  });
}

void load();
