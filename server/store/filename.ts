// File names a client asks for (an upload placed in a kernel's work dir). One path component,
// nothing that resolves elsewhere or hides: the name is NFC-normalised, then refused if it is
// empty, too long, a dot file ('.', '..' and hidden names included), contains a separator, a
// control or bidi-override character, or an unpaired surrogate. The caller still creates the file
// with O_NOFOLLOW | O_EXCL relative to the work dir's fd: a name cannot make a link, but a kernel
// could have left one under that name.
import { InvalidFileNameError } from '../errors.js';

export const maxFileNameBytes = 255;

// C0, DEL, C1 controls; bidi embeddings/overrides/isolates (U+202A-202E, U+2066-2069), U+200E/F
// marks, U+061C, line/paragraph separators and the BOM: all make a name display as another.
const invisible = new Set([0x061c, 0x200e, 0x200f, 0x2028, 0x2029, 0xfeff]);

function forbiddenChar(s: string): boolean {
  for (const ch of s) {
    const c = ch.codePointAt(0) ?? 0;
    if (c < 0x20 || (c >= 0x7f && c <= 0x9f)) return true;
    if ((c >= 0x202a && c <= 0x202e) || (c >= 0x2066 && c <= 0x2069) || invisible.has(c)) return true;
  }
  return false;
}

/** Returns the normalised name, or throws RUNCELL_ERR_INVALID_FILE_NAME (400). */
export function safeFileName(name: unknown): string {
  if (typeof name !== 'string') throw new InvalidFileNameError('not a string');
  // With the u flag a surrogate class matches only unpaired halves.
  if (/[\ud800-\udfff]/u.test(name)) throw new InvalidFileNameError('not valid Unicode');
  const n = name.normalize('NFC');
  if (n.length === 0) throw new InvalidFileNameError('empty');
  if (Buffer.byteLength(n) > maxFileNameBytes) throw new InvalidFileNameError('too long');
  if (n.includes('/') || n.includes('\\')) throw new InvalidFileNameError('contains a path separator');
  if (n.startsWith('.')) throw new InvalidFileNameError('dot files are not allowed');
  if (forbiddenChar(n)) throw new InvalidFileNameError('contains a control character');
  if (n.trim() !== n) throw new InvalidFileNameError('leading or trailing white space');
  return n;
}
