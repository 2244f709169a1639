// JSON for jsonb columns. Postgres text and jsonb cannot hold U+0000, which clients and kernels
// can send; it becomes U+FFFD (in keys and values) rather than failing the write.
export function toDbJson(value: unknown): string {
  const text = JSON.stringify(value, (_key, v) =>
    typeof v === 'string' && v.includes('\0') ? v.replaceAll('\0', '\uFFFD') : v,
  );
  // Keys are not passed through the replacer; an escaped NUL left in the text can only be one.
  return text.includes('\\u0000') ? text.replace(/(?<!\\)((?:\\\\)*)\\u0000/g, '$1\\ufffd') : text;
}

/** Text columns cannot hold NUL either. */
export function toDbText(s: string): string {
  return s.includes('\0') ? s.replaceAll('\0', '\uFFFD') : s;
}
