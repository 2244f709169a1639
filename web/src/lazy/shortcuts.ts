// Lazy chunk: the keyboard shortcuts the cell's "?" button lists (the core only loads it on a click).
// Imports nothing from the core (the core must stay a classic script).

/** Keys and what they do, in the cell's editor. */
export const SHORTCUTS: [string[], string][] = [
  [['Shift+Enter', 'Ctrl+Enter'], 'Run the cell'],
  [['Enter'], 'Start editing (in an editor reached with Tab; typing starts it too)'],
  [['Esc'], 'Stop editing: Tab moves on again'],
  [['Tab'], 'Complete the name at the cursor, or indent (while editing)'],
  [['Shift+Tab'], 'Help for the name at the cursor (while editing)'],
  [['name?', 'Run'], 'Full help in the output; name?? shows the source'],
  [['Ctrl+/'], 'Comment or uncomment the lines'],
  [['Ctrl+Z', 'Ctrl+Shift+Z'], 'Undo, redo'],
];

const CSS = `.rc-keys{padding:10px 14px;border-bottom:1px solid var(--rc-border);background:var(--rc-surface-2);font-size:13px}
.rc-keys dl{display:grid;grid-template-columns:auto 1fr;gap:5px 14px;margin:0}.rc-keys dd{margin:0;color:var(--rc-muted)}
.rc-keys kbd{font:11px/1.6 var(--rc-mono);border:1px solid var(--rc-border);border-bottom-width:2px;border-radius:4px;padding:0 4px;
background:var(--rc-bg);margin-right:4px}`;

/** Fills the cell's shortcuts panel (and gives its shadow root the panel's style, once). */
export function fillShortcuts(panel: HTMLElement): void {
  const root = panel.getRootNode();
  if (root instanceof ShadowRoot && !root.querySelector('style.rc-keys-css')) {
    const style = document.createElement('style');
    style.className = 'rc-keys-css';
    style.textContent = CSS;
    root.appendChild(style);
  }
  const dl = document.createElement('dl');
  for (const [keys, what] of SHORTCUTS) {
    const dt = document.createElement('dt');
    for (const k of keys) {
      const kbd = document.createElement('kbd');
      kbd.textContent = k;
      dt.append(kbd);
    }
    const dd = document.createElement('dd');
    dd.textContent = what;
    dl.append(dt, dd);
  }
  panel.replaceChildren(dl);
}
