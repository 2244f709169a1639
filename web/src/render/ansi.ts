// ANSI escape sequences in kernel text (tracebacks, coloured logs): SGR colours and attributes become
// styled segments (ECMA-48 §8.3.117); every other control sequence (cursor moves, OSC titles and
// hyperlinks) is dropped. Text is never interpreted as markup: segments are inserted as text nodes.

/** 0-15: the theme's palette (CSS classes); otherwise an rgb() string. */
export type Colour = number | string;

export interface Style {
  fg?: Colour;
  bg?: Colour;
  bold?: boolean;
  dim?: boolean;
  italic?: boolean;
  underline?: boolean;
  inverse?: boolean;
}

export interface Segment {
  text: string;
  style: Style;
}

// CSI (ESC [ params final), OSC (ESC ] … BEL or ST), and two-byte escapes.
// biome-ignore lint/suspicious/noControlCharactersInRegex: matching terminal escapes is the point
const ESCAPES = /\x1b\[([0-9;:?]*)([@-~])|\x1b\][^\x07\x1b]*(?:\x07|\x1b\\)?|\x1b[@-Z\\-_]?/g;

function colour256(n: number): Colour | undefined {
  if (!Number.isInteger(n) || n < 0 || n > 255) return undefined;
  if (n < 16) return n;
  if (n < 232) {
    const c = n - 16;
    const v = (x: number) => (x === 0 ? 0 : 55 + x * 40);
    return `rgb(${v(Math.floor(c / 36))},${v(Math.floor(c / 6) % 6)},${v(c % 6)})`;
  }
  const g = 8 + (n - 232) * 10;
  return `rgb(${g},${g},${g})`;
}

/** Applies one SGR parameter list to a style (returns a new style). */
export function applySgr(style: Style, params: number[]): Style {
  const s: Style = { ...style };
  if (params.length === 0) params = [0];
  for (let i = 0; i < params.length; i++) {
    const p = params[i] as number;
    if (p === 0) {
      for (const k of Object.keys(s)) delete s[k as keyof Style];
    } else if (p === 1) s.bold = true;
    else if (p === 2) s.dim = true;
    else if (p === 3) s.italic = true;
    else if (p === 4) s.underline = true;
    else if (p === 7) s.inverse = true;
    else if (p === 22) {
      delete s.bold;
      delete s.dim;
    } else if (p === 23) delete s.italic;
    else if (p === 24) delete s.underline;
    else if (p === 27) delete s.inverse;
    else if (p >= 30 && p <= 37) s.fg = p - 30;
    else if (p >= 90 && p <= 97) s.fg = p - 90 + 8;
    else if (p === 39) delete s.fg;
    else if (p >= 40 && p <= 47) s.bg = p - 40;
    else if (p >= 100 && p <= 107) s.bg = p - 100 + 8;
    else if (p === 49) delete s.bg;
    else if (p === 38 || p === 48) {
      const key = p === 38 ? 'fg' : 'bg';
      let c: Colour | undefined;
      if (params[i + 1] === 5) {
        c = colour256(params[i + 2] ?? -1);
        i += 2;
      } else if (params[i + 1] === 2) {
        const [r, g, b] = [params[i + 2], params[i + 3], params[i + 4]].map((x) =>
          Math.min(255, Math.max(0, x ?? 0)),
        );
        c = `rgb(${r},${g},${b})`;
        i += 4;
      }
      if (c !== undefined) s[key] = c;
    }
  }
  return s;
}

/** Splits text into styled segments; escapes are removed. Adjacent text with one style is merged. */
export function parseAnsi(text: string, start: Style = {}): Segment[] {
  const out: Segment[] = [];
  let style = start;
  let last = 0;
  const push = (t: string) => {
    if (!t) return;
    const prev = out[out.length - 1];
    if (prev && prev.style === style) prev.text += t;
    else out.push({ text: t, style });
  };
  for (const m of text.matchAll(ESCAPES)) {
    push(text.slice(last, m.index));
    last = m.index + m[0].length;
    if (m[2] === 'm' && !m[1]?.includes('?')) {
      const params = (m[1] ?? '')
        .split(/[;:]/)
        .filter((x, _i, a) => x !== '' || a.length === 1)
        .map((x) => (x === '' ? 0 : Number(x)));
      style = applySgr(style, params);
    }
  }
  push(text.slice(last));
  return out;
}

/** The text with every escape removed. */
export function stripAnsi(text: string): string {
  return text.replace(ESCAPES, '');
}

/** Appends segments to `parent` as text nodes, in spans where styled. */
export function ansiToDom(text: string, parent: Node): void {
  const doc = parent.ownerDocument ?? document;
  for (const seg of parseAnsi(text)) {
    const s = seg.style;
    let fg = s.inverse ? s.bg : s.fg;
    let bg = s.inverse ? s.fg : s.bg;
    if (s.inverse && fg === undefined) fg = 'var(--rc-bg)';
    if (s.inverse && bg === undefined) bg = 'var(--rc-fg)';
    const plain = fg === undefined && bg === undefined && !s.bold && !s.dim && !s.italic && !s.underline;
    if (plain) {
      parent.appendChild(doc.createTextNode(seg.text));
      continue;
    }
    const span = doc.createElement('span');
    const classes: string[] = [];
    if (typeof fg === 'number') classes.push(`ansi-fg-${fg}`);
    else if (fg) span.style.color = fg;
    if (typeof bg === 'number') classes.push(`ansi-bg-${bg}`);
    else if (bg) span.style.backgroundColor = bg;
    if (s.bold) classes.push('ansi-bold');
    if (s.dim) classes.push('ansi-dim');
    if (s.italic) classes.push('ansi-italic');
    if (s.underline) classes.push('ansi-underline');
    if (classes.length) span.className = classes.join(' ');
    span.textContent = seg.text;
    parent.appendChild(span);
  }
}
