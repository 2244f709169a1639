// The browser side, built into web/dist by `npm run build:web`:
//   GET /static/*   the embed (runcell.js, runcell.mjs), its lazy chunks, KaTeX assets, page scripts
//   GET /           the front door;  GET /p/:id  a permalink;  GET /embed  the embed guide
// Files are read once into memory (with a gzip copy of text files): the whole build is a few MB.
// Hashed names (chunks/, vendor/katex-VERSION/) are cached for a year; runcell.js and pages briefly,
// with ETags. Static files carry CORS and CORP headers because runcell.js and its chunks are loaded by
// other sites' pages; the pages carry a strict Content-Security-Policy; the sandboxed output frame gets
// its own (scripts allowed, but always in a sandbox with an opaque origin).
// Register as: app.register(webRoutes, { root? }) — without a prefix.
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import { dirname, extname, join, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import { gzipSync } from 'node:zlib';
import type { FastifyPluginAsync, FastifyReply, FastifyRequest } from 'fastify';

export interface WebRoutesOptions {
  /** The built files (default: web/dist next to this repository's package.json). */
  root?: string;
  /** Serve the permalink page at /p/:id (turn off if another plugin owns that route). */
  permalinkPage?: boolean;
}

interface Entry {
  body: Buffer;
  gzip: Buffer | undefined;
  type: string;
  etag: string;
  cache: string;
}

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.json': 'application/json; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.txt': 'text/plain; charset=utf-8',
};

const YEAR = 'public, max-age=31536000, immutable';
const SHORT = 'public, max-age=300, must-revalidate';

/** The pages' policy: only our own scripts; inline styles (cells' shadow roots, KaTeX) allowed. */
export const PAGE_CSP = [
  "default-src 'self'",
  "script-src 'self'",
  "style-src 'self' 'unsafe-inline'",
  "img-src 'self' data: blob:",
  "font-src 'self'",
  "connect-src 'self'",
  "frame-src 'self'",
  "object-src 'none'",
  "base-uri 'none'",
  "form-action 'self'",
  "frame-ancestors 'self'",
].join('; ');

/** The output frame: kernel HTML with its scripts, always sandboxed (opaque origin), never same-origin. */
export const FRAME_CSP = [
  'sandbox allow-scripts allow-popups',
  "default-src * data: blob: 'unsafe-inline' 'unsafe-eval'",
  "connect-src 'none'",
  "form-action 'none'",
  "base-uri 'none'",
].join('; ');

/** web/dist of the checkout this file belongs to (run from source or from dist/). */
function defaultRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (let i = 0; i < 5; i++) {
    if (existsSync(join(dir, 'package.json'))) return join(dir, 'web', 'dist');
    dir = dirname(dir);
  }
  return resolve('web', 'dist');
}

function cacheFor(rel: string): string {
  if (rel.startsWith('chunks/') || rel.startsWith('vendor/') || rel.startsWith('assets/')) return YEAR;
  if (rel.endsWith('.html')) return 'no-cache';
  return SHORT;
}

function load(root: string): Map<string, Entry> {
  const files = new Map<string, Entry>();
  const walk = (dir: string) => {
    for (const name of readdirSync(dir)) {
      const full = join(dir, name);
      const st = statSync(full);
      if (st.isDirectory()) walk(full);
      else if (st.isFile()) {
        const rel = relative(root, full).split(sep).join('/');
        const type = TYPES[extname(name)] ?? 'application/octet-stream';
        const body = readFileSync(full);
        const compressible = /^(text\/|application\/json|image\/svg)/.test(type) && body.length > 512;
        files.set(rel, {
          body,
          gzip: compressible ? gzipSync(body, { level: 9 }) : undefined,
          type,
          etag: `"${createHash('sha256').update(body).digest('base64url').slice(0, 22)}"`,
          cache: cacheFor(rel),
        });
      }
    }
  };
  walk(root);
  return files;
}

export const webRoutes: FastifyPluginAsync<WebRoutesOptions> = async (app, opts) => {
  const root = resolve(opts.root ?? defaultRoot());
  let files: Map<string, Entry> | undefined;
  const getFiles = (): Map<string, Entry> | undefined => {
    if (files) return files;
    try {
      if (statSync(join(root, 'runcell.js')).isFile()) files = load(root);
    } catch {
      // Not built yet: answered with 503 below; loaded on the first request after the build.
    }
    return files;
  };
  getFiles();

  const send = (req: FastifyRequest, reply: FastifyReply, rel: string, extra: Record<string, string>) => {
    const all = getFiles();
    if (!all) {
      return reply
        .code(503)
        .type('text/plain; charset=utf-8')
        .header('cache-control', 'no-store')
        .send('The web front end is not built. Run: npm run build\n');
    }
    const f = all.get(rel);
    if (!f) {
      return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
    }
    reply
      .header('content-type', f.type)
      .header('cache-control', f.cache)
      .header('etag', f.etag)
      .header('x-content-type-options', 'nosniff')
      .header('vary', 'Accept-Encoding')
      .headers(extra);
    if (req.headers['if-none-match'] === f.etag) return reply.code(304).send();
    const gz = f.gzip && /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''));
    if (gz) reply.header('content-encoding', 'gzip');
    return reply.send(gz ? f.gzip : f.body);
  };

  const access = { access: { auth: 'public' as const } };
  const staticHeaders = {
    'access-control-allow-origin': '*',
    'cross-origin-resource-policy': 'cross-origin',
  };
  const pageHeaders = {
    'content-security-policy': PAGE_CSP,
    'referrer-policy': 'strict-origin-when-cross-origin',
    'x-frame-options': 'SAMEORIGIN',
  };

  app.get<{ Params: { '*': string } }>('/static/*', { config: access }, async (req, reply) => {
    const rel = req.params['*'];
    // Only names the build can produce: no dot segments, no backslashes, no NUL.
    if (
      !/^[A-Za-z0-9][A-Za-z0-9._\-/]*$/.test(rel) ||
      rel.split('/').some((s) => s === '' || s.startsWith('.'))
    ) {
      return reply.code(404).type('text/plain; charset=utf-8').send('Not found\n');
    }
    if (rel === 'frame.html') {
      return send(req, reply, rel, {
        ...staticHeaders,
        'content-security-policy': FRAME_CSP,
        'referrer-policy': 'no-referrer',
      });
    }
    // runcell.js from another site's <script> tag comes through the browser's credentialed connections,
    // which the embed's own requests (CORS, without credentials) never share: kept alive, that
    // connection would only sit idle on the server, one more per page. It closes after the script.
    const h = req.headers;
    if (
      rel === 'runcell.js' &&
      h['sec-fetch-mode'] === 'no-cors' &&
      h['sec-fetch-site'] !== undefined &&
      h['sec-fetch-site'] !== 'same-origin'
    )
      reply.header('connection', 'close');
    return send(req, reply, rel, staticHeaders);
  });

  app.get('/', { config: access }, async (req, reply) => send(req, reply, 'pages/home.html', pageHeaders));
  app.get('/embed', { config: access }, async (req, reply) =>
    send(req, reply, 'pages/embed.html', pageHeaders),
  );
  // The jobs dashboard: the page itself is public; it asks for a token and reads the jobs API with it.
  app.get('/jobs', { config: access }, async (req, reply) =>
    send(req, reply, 'pages/jobs.html', pageHeaders),
  );
  // The stats page (docs/api.md "Stats"): public like /jobs; it asks for a token and reads /api/stats.
  app.get('/stats', { config: access }, async (req, reply) =>
    send(req, reply, 'pages/stats.html', pageHeaders),
  );
  // The account page: the account's API tokens, and the CLI's browser sign-in (docs/jobs.md "Login").
  // Public; it asks for a token. The sign-in URL carries the CLI's state and challenge: never sent on.
  app.get('/tokens', { config: access }, async (req, reply) =>
    send(req, reply, 'pages/account.html', pageHeaders),
  );
  app.get('/login', { config: access }, async (req, reply) =>
    send(req, reply, 'pages/account.html', { ...pageHeaders, 'referrer-policy': 'no-referrer' }),
  );
  if (opts.permalinkPage !== false) {
    app.get<{ Params: { id: string } }>(
      '/p/:id',
      {
        config: access,
        schema: {
          params: { type: 'object', properties: { id: { type: 'string', maxLength: 64 } }, required: ['id'] },
        },
      },
      async (req, reply) =>
        send(req, reply, 'pages/permalink.html', { ...pageHeaders, 'referrer-policy': 'no-referrer' }),
    );
  }
};
