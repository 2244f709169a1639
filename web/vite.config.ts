// The one build of the browser side (npm run build:web). It produces, under web/dist/:
//   runcell.js        the core as an IIFE for a plain <script> tag (no globals besides window.RunCell)
//   runcell.mjs       the same core for `import` (a tiny ES wrapper around runcell.js)
//   chunks/*-HASH.js  lazy chunks: CodeMirror (editor), KaTeX (latex), markdown-it, loaded on first use
//   pages/*           the server's pages (/, /p/:id, /embed): HTML, one script each, one stylesheet
//   vendor/katex-V/   KaTeX's stylesheet and fonts (fonts must be declared in the document, not a shadow root)
//   frame.html        the sandboxed frame for outputs that need scripts
// How the IIFE keeps code splitting: the core entry is built as an ES chunk that neither imports nor
// exports anything (checked below), then wrapped in a function. A classic script may use import(), which
// resolves against the script's own URL, so the lazy chunks load from wherever runcell.js was served.
// Each entry (the core, each page) is its own build: a classic script cannot import a chunk that two
// entries would share, so code they both use (web/src/fetch.ts, shared/) is bundled into each.
import { createHash } from 'node:crypto';
import { readdirSync, readFileSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { defineConfig, type Plugin } from 'vite';

const here = dirname(fileURLToPath(import.meta.url));
const src = join(here, 'src');
const katexDir = join(here, '..', 'node_modules', 'katex');
const katexVersion = (JSON.parse(readFileSync(join(katexDir, 'package.json'), 'utf8')) as { version: string })
  .version;
const PAGES = ['home', 'permalink', 'embed', 'jobs', 'account', 'stats'] as const;
/** The code of every chunk built so far, in build order: the pages first, the core last. */
const built: string[] = [];

/** A page's HTML: the shared head (head.html) where the page says <!--head-->, and the build id. */
function pageHtml(page: string, version: string): string {
  const head = readFileSync(join(src, 'pages', 'head.html'), 'utf8').trimEnd();
  const html = readFileSync(join(src, 'pages', `${page}.html`), 'utf8');
  if (!html.includes('<!--head-->')) throw new Error(`web/src/pages/${page}.html has no <!--head-->`);
  return html.replace('<!--head-->', head).replaceAll('%BUILD%', version);
}

/**
 * Wraps each entry in an IIFE and refuses a build where it would not be a valid classic script. The
 * core's build (the last) also writes what depends on every build: the version, the ES wrapper and
 * the pages' HTML.
 */
function classicCore(): Plugin {
  return {
    name: 'runcell:classic-core',
    // After minification, so the wrapper and its "use strict" survive as written.
    generateBundle(_options, bundle) {
      for (const chunk of Object.values(bundle)) {
        if (chunk.type !== 'chunk') continue;
        // shared/ modules that declare TypeBox schemas are for the browser's types only.
        const schema = chunk.moduleIds.find((id) => id.includes('/node_modules/typebox/'));
        if (schema)
          this.error(`${chunk.fileName} bundles TypeBox (${schema}): import schema modules as types`);
        if (!chunk.isEntry) continue;
        if (chunk.imports.length > 0 || chunk.exports.length > 0 || /\bimport\.meta\b/.test(chunk.code)) {
          this.error(
            `entry ${chunk.fileName} must not import, export or use import.meta (imports: ${chunk.imports.join(', ')}; ` +
              `exports: ${chunk.exports.join(', ')}). Code two entries share is bundled into each entry's own build.`,
          );
        }
        // A classic script loaded cross-origin without a crossorigin attribute resolves import() against
        // about:blank, so lazy chunks are imported by absolute URL, from where this script was served.
        const code = chunk.code.replace(/import\((["'`])\.\/chunks\//g, 'import(__rcBase+$1chunks/');
        chunk.code =
          '(function(){"use strict";var __rcBase=globalThis.RUNCELL_STATIC||(document.currentScript&&' +
          'document.currentScript.src?new URL(".",document.currentScript.src).href:new URL("/static/",location.href).href);' +
          `${code}\n})();\n`;
      }
      for (const f of Object.values(bundle)) if (f.type === 'chunk') built.push(f.code);
      if (this.environment.name !== 'client') return;
      if (!bundle['runcell.js']) this.error('runcell.js missing from the bundle');
      const build = createHash('sha256');
      for (const code of built) build.update(code);
      const version = build.digest('hex').slice(0, 12);
      this.emitFile({
        type: 'asset',
        fileName: 'runcell.mjs',
        source:
          '// ES module entry: loads the classic runcell.js next to this file and re-exports its API.\n' +
          'globalThis.RUNCELL_STATIC ??= new URL(".", import.meta.url).href;\n' +
          'await import("./runcell.js");\n' +
          'const R = globalThis.RunCell;\n' +
          'export default R;\n' +
          'export const { makeCell, enhance, version } = R;\n',
      });
      for (const page of PAGES)
        this.emitFile({ type: 'asset', fileName: `pages/${page}.html`, source: pageHtml(page, version) });
      this.emitFile({
        type: 'asset',
        fileName: 'pages/pages.css',
        source: readFileSync(join(src, 'pages', 'pages.css')),
      });
      this.emitFile({ type: 'asset', fileName: 'build.json', source: JSON.stringify({ version }) });
    },
  };
}

/** KaTeX's stylesheet and woff2 fonts, plus a fonts-only stylesheet for the host document. */
function katexAssets(): Plugin {
  return {
    name: 'runcell:katex-assets',
    applyToEnvironment: (environment) => environment.name === 'client',
    generateBundle() {
      const base = `vendor/katex-${katexVersion}`;
      // Only woff2: every browser runcell supports reads it, and it keeps the payload small.
      const css = readFileSync(join(katexDir, 'dist', 'katex.min.css'), 'utf8').replace(
        /src:url\((fonts\/[^)]+\.woff2)\) format\("woff2"\)(,url\([^)]+\) format\("[^"]+"\))*/g,
        'src:url($1) format("woff2")',
      );
      const faces = css.match(/@font-face\{[^}]*\}/g) ?? [];
      this.emitFile({
        type: 'asset',
        fileName: `${base}/katex.css`,
        source: css.replace(/@font-face\{[^}]*\}/g, ''),
      });
      this.emitFile({ type: 'asset', fileName: `${base}/fonts.css`, source: faces.join('\n') });
      for (const f of readdirSync(join(katexDir, 'dist', 'fonts'))) {
        if (!f.endsWith('.woff2')) continue;
        this.emitFile({
          type: 'asset',
          fileName: `${base}/fonts/${f}`,
          source: readFileSync(join(katexDir, 'dist', 'fonts', f)),
        });
      }
    },
  };
}

/**
 * One entry's build, in library mode: no module-preload helper (it would use import.meta, which a
 * classic script cannot).
 */
const libBuild = (name: string, file: string) => ({
  lib: { entry: { [name]: file }, formats: ['es' as const] },
});

export default defineConfig({
  root: here,
  base: '/static/',
  publicDir: join(here, 'public'),
  logLevel: 'warn',
  define: { __KATEX_VERSION__: JSON.stringify(katexVersion) },
  build: {
    outDir: join(here, 'dist'),
    emptyOutDir: false,
    target: 'es2022',
    modulePreload: false,
    reportCompressedSize: false,
    minify: true,
    rollupOptions: {
      output: {
        format: 'es',
        minify: true,
        entryFileNames: '[name].js',
        chunkFileNames: 'chunks/[name]-[hash].js',
        assetFileNames: 'assets/[name]-[hash][extname]',
      },
    },
  },
  environments: {
    client: { build: libBuild('runcell', resolve(src, 'index.ts')) },
    ...Object.fromEntries(
      PAGES.map((p, i) => [
        `page_${p}`,
        {
          consumer: 'client' as const,
          // The first build empties web/dist; public/ is copied once, by the core's.
          build: {
            ...libBuild(`pages/${p}`, resolve(src, 'pages', `${p}.ts`)),
            emptyOutDir: i === 0,
            copyPublicDir: false,
          },
        },
      ]),
    ),
  },
  builder: {
    // The pages first: the core's build, the last, hashes every chunk into the version.
    async buildApp(builder) {
      built.length = 0;
      const env = (name: string) => {
        const e = builder.environments[name];
        if (!e) throw new Error(`no build environment ${name}`);
        return e;
      };
      for (const p of PAGES) await builder.build(env(`page_${p}`));
      await builder.build(env('client'));
    },
  },
  plugins: [classicCore(), katexAssets()],
});
