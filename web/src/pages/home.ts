// The front door (/): one full cell with a language picker, and the server's environments.
import { showEnvironments } from './environments.js';

const R = window.RunCell;
const el = document.getElementById('cell');
if (R && el) {
  const cell = R.makeCell(el, {
    languagePicker: true,
    lineNumbers: true,
    placeholder: 'Output appears here. Press Run or Shift+Enter.',
  });
  cell.focus();
}
for (const o of document.querySelectorAll('.origin')) o.textContent = location.origin;
const envs = document.createElement('section');
envs.id = 'environments';
envs.hidden = true;
document.querySelector('main .features')?.after(envs);
void showEnvironments(envs);
