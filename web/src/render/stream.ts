// Stream text as a terminal shows it: a carriage return moves back to the start of the line and later
// characters overwrite earlier ones (progress bars), CRLF is a newline.

export function fixCarriageReturns(text: string): string {
  if (!text.includes('\r')) return text;
  return text
    .replace(/\r+\n/g, '\n')
    .split('\n')
    .map((line) => {
      if (!line.includes('\r')) return line;
      let cur = '';
      for (const part of line.split('\r')) cur = part + cur.slice(part.length);
      return cur;
    })
    .join('\n');
}

/** A stream notice from the runcell server (limits, lost messages), shown apart from program output. */
export function isServerNotice(text: string): boolean {
  return text.startsWith('[runcell] ');
}
