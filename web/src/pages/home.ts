// The front door (/): one full cell with a language picker, and the server's environments.
import { showEnvironments } from './environments.js';

const R = window.RunCell;
/** A touch screen without a keyboard to speak of (the same test as the hint in pages.css). */
const touch = matchMedia('(hover: none) and (pointer: coarse)').matches;
const el = document.getElementById('cell');
if (R && el) {
  const cell = R.makeCell(el, {
    languagePicker: true,
    lineNumbers: true,
    placeholder: touch ? 'Output appears here. Tap Run.' : 'Output appears here. Press Run or Shift+Enter.',
  });
  cell.focus();
}
for (const o of document.querySelectorAll('.origin')) o.textContent = location.origin;
const envs = document.createElement('section');
envs.id = 'environments';
envs.hidden = true;
document.querySelector('main .features')?.after(envs);
void showEnvironments(envs);
