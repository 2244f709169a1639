// Lazy chunk: authoring pitfalls, told in the console. Code in <pre data-runcell> is HTML: "a<b" starts
// a tag, and the HTML parser then swallows code (and often the rest of the page) into an element the
// author never wrote. The core loads this chunk only for a cell whose element has child elements;
// highlighted code (spans, <code>, links) is normal and not reported. Imports nothing from the core.

/** Elements a syntax highlighter or an author puts in code; anything else came from a stray "<". */
const MARKUP = new Set([
  'span',
  'code',
  'b',
  'i',
  'em',
  'strong',
  'mark',
  'a',
  'br',
  'kbd',
  'samp',
  'var',
  'sub',
  'sup',
  'u',
  's',
  'small',
  'del',
  'ins',
  'wbr',
]);
const ATTRIBUTES = /^(class|style|id|title|lang|dir|role|href|target|rel|tabindex|(data|aria)-[\w.-]+)$/;

/** The first element inside `el` that looks made by the parser from code, or undefined. */
export function strayElement(el: Element): Element | undefined {
  for (const child of el.querySelectorAll('*')) {
    if (!MARKUP.has(child.localName)) return child;
    for (const a of child.getAttributeNames()) if (!ATTRIBUTES.test(a)) return child;
  }
  return undefined;
}

/** Warns (console) when a cell's code looks cut short by HTML parsing. */
export function warnIfTruncated(el: Element): boolean {
  const stray = strayElement(el);
  if (!stray) return false;
  console.warn(
    `runcell: the code of this cell looks cut short by the HTML parser: "<${stray.localName}" in the code was read as a tag. ` +
      'Write "<" as "&lt;" in HTML, or put the code in <script type="text/x-python" data-runcell>…</script>, ' +
      'which the parser leaves alone (docs/embed.md, "Code with <").',
    el,
  );
  return true;
}
