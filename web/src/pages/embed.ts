// The embed documentation page (/embed): live cells are enhanced by runcell.js itself; this script
// fills in the server's address in snippets and shows the cells' DOM events as they happen.
export {};

const origin = location.origin;
for (const el of document.querySelectorAll<HTMLElement>('[data-origin]')) {
  el.textContent = (el.textContent ?? '').replaceAll('https://runcell.example', origin);
}
const log = document.getElementById('events');
if (log) {
  for (const type of ['runcell:status', 'runcell:output', 'runcell:error', 'runcell:done']) {
    document.addEventListener(type, (e) => {
      const d = (e as CustomEvent).detail as Record<string, unknown>;
      const line = document.createElement('div');
      const t = document.createElement('b');
      t.textContent = type;
      const summary =
        type === 'runcell:status'
          ? String(d.status) + (d.transport ? ` (${String(d.transport)})` : '')
          : type === 'runcell:output'
            ? String((d.output as { output_type?: string })?.output_type)
            : type === 'runcell:done'
              ? String(d.status)
              : String(d.ename ?? d.message ?? '');
      line.append(t, document.createTextNode(` ${summary}`));
      log.prepend(line);
      while (log.childElementCount > 12) log.lastElementChild?.remove();
    });
  }
}
