// Permalink routes:
//   POST /api/permalinks {code, kernel, outputs?, files?}  -> 201 Permalink (+ url)
//   GET  /api/permalinks/:id                              -> Permalink JSON
//   GET  /p/:id                                           -> a minimal, escaped HTML page (strict CSP)
//   GET  /p/:id/code                                      -> the code as text/plain (nosniff)
//   GET  /p/z/:data, /p/z/:data/code                      -> the same for code carried in the URL
// Lookups of unknown ids are rate-limited per client, so ids cannot be probed in bulk.
// Register as: app.register(permalinkRoutes, { store }).
import { createHash } from 'node:crypto';
import type { FastifyPluginAsyncTypebox } from '@fastify/type-provider-typebox';
import type { FastifyReply, FastifyRequest } from 'fastify';
import { Type } from 'typebox';
import { PermalinkNotFoundError, RateLimited, withRetryAfter } from '../errors.js';
import type { Store } from '../store/db.js';
import {
  decodeInline,
  limits,
  Permalink,
  PermalinkCreate,
  type Permalink as PermalinkT,
} from '../store/permalinks.js';

export interface PermalinkRoutesOptions {
  store: Store;
  /** Unknown-id lookups allowed per client per window before 429 (default 30 per minute). */
  missLimit?: { max: number; windowMs: number };
  /** Serve the minimal HTML page at /p/:id (off when the web UI's permalink page owns that route). */
  page?: boolean;
}

const ErrorBody = Type.Object({ code: Type.String(), message: Type.String() });
const IdParams = Type.Object({ id: Type.String({ maxLength: 64 }) });
const Created = Type.Intersect([Permalink, Type.Object({ url: Type.String() })]);

/**
 * Counts misses (unknown ids) per client in a fixed window. Once a client is over the limit every
 * lookup it makes is refused until the window ends, so valid-looking probes learn nothing either.
 * In memory only, bounded: the oldest clients are forgotten first.
 */
export class MissLimiter {
  readonly #max: number;
  readonly #windowMs: number;
  readonly #clients = new Map<string, { misses: number; resetAt: number }>();
  static readonly maxClients = 100_000;

  constructor({ max, windowMs }: { max: number; windowMs: number }) {
    this.#max = max;
    this.#windowMs = windowMs;
  }

  /** Throws RUNCELL_ERR_RATE_LIMITED (with retryAfter seconds) when the client is over its budget. */
  check(client: string, now = Date.now()): void {
    const c = this.#clients.get(client);
    if (!c) return;
    if (now >= c.resetAt) {
      this.#clients.delete(client);
      return;
    }
    if (c.misses >= this.#max) {
      const retryAfter = Math.max(1, Math.ceil((c.resetAt - now) / 1000));
      throw withRetryAfter(
        new RateLimited(`too many lookups of unknown ids; retry in ${retryAfter} s`),
        retryAfter,
      );
    }
  }

  miss(client: string, now = Date.now()): void {
    let c = this.#clients.get(client);
    if (!c || now >= c.resetAt) {
      this.#clients.delete(client);
      c = { misses: 0, resetAt: now + this.#windowMs };
      this.#clients.set(client, c);
      if (this.#clients.size > MissLimiter.maxClients) {
        const oldest = this.#clients.keys().next();
        if (!oldest.done) this.#clients.delete(oldest.value);
      }
    }
    c.misses++;
  }
}

const escapeHtml = (s: string) =>
  s.replace(
    /[&<>"']/g,
    (ch) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;', "'": '&#39;' })[ch] as string,
  );

const style =
  'body{font:15px/1.5 system-ui,sans-serif;margin:2rem auto;max-width:60rem;padding:0 1rem;color:#222}' +
  'pre{background:#f6f8fa;border:1px solid #ddd;border-radius:4px;padding:1rem;overflow:auto}' +
  'code,pre{font:13px/1.45 ui-monospace,monospace}header,footer{color:#666}';
const styleHash = createHash('sha256').update(style).digest('base64');
/** Nothing may load or run: one known stylesheet, no scripts, no framing, no forms. */
const pageCsp = `default-src 'none'; style-src 'sha256-${styleHash}'; base-uri 'none'; form-action 'none'; frame-ancestors 'none'`;

/** The text of stored outputs (streams, text/plain, errors), for the page; bounded. */
function outputText(outputs: readonly unknown[] | null): string {
  let text = '';
  for (const o of outputs ?? []) {
    const out = o as {
      output_type?: string;
      text?: unknown;
      data?: Record<string, unknown>;
      ename?: unknown;
      evalue?: unknown;
    };
    if (out.output_type === 'stream')
      text += Array.isArray(out.text) ? out.text.join('') : String(out.text ?? '');
    else if (out.data && 'text/plain' in out.data) {
      const t = out.data['text/plain'];
      text += `${Array.isArray(t) ? t.join('') : String(t)}\n`;
    } else if (out.output_type === 'error') text += `${String(out.ename)}: ${String(out.evalue)}\n`;
    if (text.length > 64 * 1024) return `${text.slice(0, 64 * 1024)}\n…`;
  }
  return text;
}

function page(p: {
  kernel: string;
  code: string;
  created?: string;
  outputs?: readonly unknown[] | null;
  raw: string;
}): string {
  const out = outputText(p.outputs ?? null);
  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="viewport" content="width=device-width, initial-scale=1">
<meta name="referrer" content="no-referrer"><title>runcell · ${escapeHtml(p.kernel)}</title><style>${style}</style></head>
<body><header>Kernel <code>${escapeHtml(p.kernel)}</code>${p.created ? ` · saved ${escapeHtml(p.created)}` : ''}</header>
<pre><code>${escapeHtml(p.code)}</code></pre>
${out ? `<h2>Output</h2>\n<pre>${escapeHtml(out)}</pre>\n` : ''}<footer><a href="${escapeHtml(p.raw)}">Raw code</a></footer>
</body></html>
`;
}

function sendPage(reply: FastifyReply, html: string): FastifyReply {
  return reply
    .header('content-security-policy', pageCsp)
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer')
    .header('cache-control', 'public, max-age=3600')
    .type('text/html; charset=utf-8')
    .send(html);
}

function sendCode(reply: FastifyReply, code: string): FastifyReply {
  return reply
    .header('x-content-type-options', 'nosniff')
    .header('content-security-policy', "default-src 'none'; sandbox")
    .header('cache-control', 'public, max-age=3600')
    .type('text/plain; charset=utf-8')
    .send(code);
}

export const permalinkRoutes: FastifyPluginAsyncTypebox<PermalinkRoutesOptions> = async (app, opts) => {
  const { store } = opts;
  const limiter = new MissLimiter(opts.missLimit ?? { max: 30, windowMs: 60_000 });

  async function lookup(request: FastifyRequest, id: string): Promise<PermalinkT> {
    limiter.check(request.ip);
    const p = await store.permalinks.get(id);
    if (!p) {
      limiter.miss(request.ip);
      throw new PermalinkNotFoundError();
    }
    return p;
  }

  app.post(
    '/api/permalinks',
    {
      // Room for the largest code and outputs the store accepts (the app default is 1 MiB).
      bodyLimit: limits.maxCodeBytes + limits.maxOutputsBytes + 64 * 1024,
      schema: { body: PermalinkCreate, response: { 201: Created, '4xx': ErrorBody, '5xx': ErrorBody } },
    },
    async (request, reply) => {
      const p = await store.permalinks.create(request.body);
      return reply
        .code(201)
        .header('cache-control', 'no-store')
        .send({ ...p, url: `/p/${p.id}` });
    },
  );

  app.get(
    '/api/permalinks/:id',
    { schema: { params: IdParams, response: { 200: Permalink, '4xx': ErrorBody, '5xx': ErrorBody } } },
    async (request, reply) => {
      const p = await lookup(request, request.params.id);
      return reply.header('cache-control', 'public, max-age=3600').send(p);
    },
  );

  if (opts.page !== false) {
    app.get('/p/:id', { schema: { params: IdParams } }, async (request, reply) => {
      const p = await lookup(request, request.params.id);
      return sendPage(reply, page({ ...p, raw: `/p/${p.id}/code` }));
    });
  }

  app.get('/p/:id/code', { schema: { params: IdParams } }, async (request, reply) => {
    const p = await lookup(request, request.params.id);
    return sendCode(reply, p.code);
  });

  // The code-in-URL form needs no database, so it works even while the store is down. A wildcard
  // route: Fastify's maxParamLength (100 by default) would refuse longer :params with 414.
  app.get('/p/z/*', async (request, reply) => {
    const rest = (request.params as { '*': string })['*'];
    const raw = rest.endsWith('/code');
    const data = raw ? rest.slice(0, -'/code'.length) : rest;
    const p = decodeInline(data);
    return raw ? sendCode(reply, p.code) : sendPage(reply, page({ ...p, raw: `/p/z/${data}/code` }));
  });
};
