// Long text output: beyond a number of lines, the middle is left out of the page (the output keeps all
// of it: "show all" paints the rest, a permalink stores it). A 10,000-line print stays a few hundred
// DOM lines, and both its start and its latest lines are in view.

export interface Elided {
  /** The first lines, each with its newline. */
  head: string;
  /** How many lines are left out. */
  hidden: number;
  /** The last lines (the final one keeps whatever ending it had). */
  tail: string;
}

/** Where the line after the one ending at `from` starts (the index after its newline), or -1. */
function nextLine(text: string, from: number): number {
  const i = text.indexOf('\n', from);
  return i < 0 ? -1 : i + 1;
}

/**
 * The text cut to `max` lines (half from the start, half from the end) when it has more, else
 * undefined. A trailing newline does not count as a line of its own. max <= 0 never cuts; a max of 1
 * keeps 2 lines (one of each end).
 */
export function elide(text: string, max: number): Elided | undefined {
  if (!(max > 0)) return undefined;
  const keepHead = Math.max(1, Math.ceil(max / 2));
  const keepTail = Math.max(1, max - keepHead);
  // Count from each end without splitting the whole text (it may be megabytes).
  let headEnd = 0;
  for (let n = 0; n < keepHead; n++) {
    headEnd = nextLine(text, headEnd);
    if (headEnd < 0 || headEnd >= text.length) return undefined;
  }
  const body = text.endsWith('\n') ? text.length - 1 : text.length;
  let tailStart = body;
  for (let n = 0; n < keepTail; n++) {
    tailStart = text.lastIndexOf('\n', tailStart - 1);
    if (tailStart < headEnd) return undefined;
  }
  tailStart += 1;
  let hidden = 0;
  for (let i = headEnd; i < tailStart; i = nextLine(text, i)) {
    if (i < 0) break;
    hidden++;
  }
  if (hidden === 0) return undefined;
  return { head: text.slice(0, headEnd), hidden, tail: text.slice(tailStart) };
}
