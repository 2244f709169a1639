// The front door (/): one full cell with a language picker.
export {};

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
