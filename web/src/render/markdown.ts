// A small Markdown renderer for kernel output (text/markdown): headings, paragraphs, emphasis, code,
// fenced blocks, lists, quotes, rules, links, images and $…$ / $$…$$ maths. Everything is escaped first
// and the result is sanitized by the caller; raw HTML in Markdown is shown as text.

const esc = (s: string) =>
  s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');

function safeUrl(u: string): string {
  const url = u.trim();
  return /^(https?:|mailto:|#|\/|\.\.?\/|data:image\/(png|jpeg|gif|webp);)/i.test(url) ? url : '#';
}

function inline(src: string): string {
  const codes: string[] = [];
  // Code spans first: nothing inside them is Markdown.
  let s = src.replace(/`([^`]+)`/g, (_m, c: string) => {
    codes.push(`<code>${esc(c)}</code>`);
    return `\uE000${codes.length - 1}\uE000`;
  });
  const maths: string[] = [];
  s = s.replace(/\$\$([^$]+)\$\$|\$([^$\s][^$]*?)\$/g, (_m, d: string | undefined, i: string | undefined) => {
    maths.push(`<span class="rc-tex" data-display="${d ? '1' : '0'}">${esc(d ?? i ?? '')}</span>`);
    return `\uE001${maths.length - 1}\uE001`;
  });
  s = esc(s)
    .replace(
      /!\[([^\]]*)\]\(([^)\s]+)\)/g,
      (_m, alt: string, u: string) => `<img alt="${alt}" src="${safeUrl(u)}">`,
    )
    .replace(/\[([^\]]+)\]\(([^)\s]+)\)/g, (_m, t: string, u: string) => `<a href="${safeUrl(u)}">${t}</a>`)
    .replace(/\*\*([^*]+)\*\*|__([^_]+)__/g, (_m, a?: string, b?: string) => `<strong>${a ?? b}</strong>`)
    .replace(/\*([^*]+)\*|\b_([^_]+)_\b/g, (_m, a?: string, b?: string) => `<em>${a ?? b}</em>`);
  return s
    .replace(/\uE000(\d+)\uE000/g, (_m, i: string) => codes[Number(i)] ?? '')
    .replace(/\uE001(\d+)\uE001/g, (_m, i: string) => maths[Number(i)] ?? '');
}

export function renderMarkdown(md: string): string {
  const lines = md.replace(/\r\n?/g, '\n').split('\n');
  const out: string[] = [];
  let para: string[] = [];
  let list: { tag: 'ul' | 'ol'; items: string[] } | undefined;
  const flush = () => {
    if (para.length) out.push(`<p>${inline(para.join(' '))}</p>`);
    para = [];
    if (list)
      out.push(`<${list.tag}>${list.items.map((i) => `<li>${inline(i)}</li>`).join('')}</${list.tag}>`);
    list = undefined;
  };
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i] as string;
    const fence = /^\s*(```|~~~)\s*([\w+-]*)\s*$/.exec(line);
    if (fence) {
      flush();
      const body: string[] = [];
      for (i++; i < lines.length && !(lines[i] as string).trim().startsWith(fence[1] as string); i++)
        body.push(lines[i] as string);
      out.push(`<pre><code>${esc(body.join('\n'))}</code></pre>`);
      continue;
    }
    if (/^\s*\$\$\s*$/.test(line)) {
      flush();
      const body: string[] = [];
      for (i++; i < lines.length && !/^\s*\$\$\s*$/.test(lines[i] as string); i++)
        body.push(lines[i] as string);
      out.push(`<div class="rc-tex" data-display="1">${esc(body.join('\n'))}</div>`);
      continue;
    }
    const h = /^(#{1,6})\s+(.*?)\s*#*\s*$/.exec(line);
    if (h) {
      flush();
      const n = (h[1] as string).length;
      out.push(`<h${n}>${inline(h[2] as string)}</h${n}>`);
      continue;
    }
    if (/^\s*([-*_])(\s*\1){2,}\s*$/.test(line)) {
      flush();
      out.push('<hr>');
      continue;
    }
    const q = /^\s*>\s?(.*)$/.exec(line);
    if (q) {
      flush();
      out.push(`<blockquote>${inline(q[1] as string)}</blockquote>`);
      continue;
    }
    const li = /^\s*(?:([-*+])|(\d+)[.)])\s+(.*)$/.exec(line);
    if (li) {
      const tag = li[1] ? 'ul' : 'ol';
      if (para.length || (list && list.tag !== tag)) flush();
      list ??= { tag, items: [] };
      list.items.push(li[3] as string);
      continue;
    }
    if (line.trim() === '') {
      flush();
      continue;
    }
    if (list) flush();
    para.push(line.trim());
  }
  flush();
  return out.join('\n');
}
