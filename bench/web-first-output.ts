// Time from page load to the first output for a visitor who clicks Run as soon as the cell is there,
// measured in Chromium against a real server with a warm kernel pool. Clocks are the browser's: from
// navigation start, and from the real press (pointerdown; playwright's own checks before it are not
// counted). Three pages: the front door (/), a cell embedded in another origin's page, and the same
// with data-eager. Each run also records where the time went: kernel start (POST /api/kernels), the
// first execute's HTTP POST, websocket created and open, first output, and main-thread long tasks.
//   node --import tsx bench/web-first-output.ts            RUNS=7 (default) per page
//   BENCH_PAGES=home,embed                                 only these pages (home, embed, embed-eager)
//   BENCH_BASELINE_DIST=/tmp/base/web/dist ...             A/B: every run is made twice, once with the
//     embed served from that build, once from web/dist (both through the same playwright route), in
//     alternation, so both see the same machine load.
// Prints JSON, then a summary line per page and build. Also the gzip sizes of the core and lazy chunks.
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import { extname, join } from 'node:path';
import { gzipSync } from 'node:zlib';
import type { Browser, BrowserContext } from 'playwright-core';
import { ensureBuilt, launch, ROOT, startWebServer, type WebServer } from '../test/e2e/helpers.js';

const RUNS = Number(process.env.RUNS ?? 7);
const BASELINE = process.env.BENCH_BASELINE_DIST;
const CURRENT = join(ROOT, 'web', 'dist');

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

// In the page before any script: the first output, the real press and click, websockets created and
// opened, long tasks.
const PROBE = `
  document.addEventListener('runcell:output', () => { window.__first ??= performance.now(); });
  document.addEventListener('pointerdown', () => { window.__down ??= performance.now(); }, true);
  window.__ws = [];
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...a) {
      super(...a);
      const w = { created: performance.now() };
      window.__ws.push(w);
      this.addEventListener('open', () => { w.open = performance.now(); });
    }
  };
  window.__long = [];
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
`;

// Milestones from Resource Timing and the probe, on the page's clock.
const PHASES = `(() => {
  const res = performance.getEntriesByType('resource');
  const find = (re) => res.find((r) => re.test(r.name));
  const kernel = find(/\\/api\\/kernels(\\?|$)/);
  const post = find(/\\/api\\/kernels\\/[^/]+\\/messages/);
  const core = find(/\\/static\\/runcell\\.js/);
  const nav = performance.getEntriesByType('navigation')[0];
  const ws = window.__ws[0] ?? {};
  return {
    coreScriptLoaded: core?.responseEnd,
    domContentLoaded: nav?.domContentLoadedEventEnd,
    kernelRequest: kernel?.startTime,
    kernelResponse: kernel?.responseEnd,
    executePost: post?.startTime,
    executePostSent: post?.requestStart || undefined,
    executePostAnswered: post?.responseEnd,
    wsCreated: ws.created,
    wsOpen: ws.open,
    firstOutput: window.__first,
  };
})()`;

const CODE = `import math

def greet(name):
    return f"Hello, {name}!"

print(greet("runcell"))
print("π ≈", round(math.pi, 6))
[n * n for n in range(10)]`;

interface Page {
  name: string;
  url(server: WebServer): string;
}

const embed = (server: WebServer, eager: boolean) =>
  `<!doctype html><html><head><meta charset="utf-8"><script src="${server.base}/static/runcell.js" defer></script></head>
<body><h1>An author's page</h1><pre id="cell" data-runcell${eager ? ' data-eager' : ''}>${CODE}</pre></body></html>`;

const ALL_PAGES: Page[] = [
  { name: 'home', url: (s) => `${s.base}/` },
  {
    name: 'embed',
    url: (s) => {
      s.pages.set('/embed', embed(s, false));
      return `${s.site}/embed`;
    },
  },
  {
    name: 'embed-eager',
    url: (s) => {
      s.pages.set('/eager', embed(s, true));
      return `${s.site}/eager`;
    },
  },
];

const only = process.env.BENCH_PAGES?.split(',');
const PAGES = ALL_PAGES.filter((p) => !only || only.includes(p.name));

const TYPES: Record<string, string> = {
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.html': 'text/html; charset=utf-8',
  '.woff2': 'font/woff2',
};

const cache = new Map<string, Buffer>();

/** Serves /static/* from a build directory (the A/B mode), as the server would. */
async function serveBuild(ctx: BrowserContext, server: WebServer, dir: string): Promise<void> {
  await ctx.route(`${server.base}/static/**`, async (route) => {
    const rel = new URL(route.request().url()).pathname.replace(/^\/static\//, '');
    const file = join(dir, rel);
    if (rel.includes('..') || !existsSync(file)) return route.continue();
    const body = cache.get(file) ?? readFileSync(file);
    cache.set(file, body);
    await route.fulfill({
      status: 200,
      body,
      headers: {
        'content-type': TYPES[extname(file)] ?? 'application/octet-stream',
        'access-control-allow-origin': '*',
        'cross-origin-resource-policy': 'cross-origin',
      },
    });
  });
}

interface Sample {
  loadToFirstOutput: number;
  loadToPress: number;
  pressToFirstOutput: number;
  /** Milestones after the press (negative: before it). */
  phases: Record<string, number>;
  /** Long tasks: start after the press + duration. */
  longTasks: string;
}

async function once(browser: Browser, server: WebServer, page: Page, dist?: string): Promise<Sample> {
  const ctx = await browser.newContext();
  try {
    if (dist) await serveBuild(ctx, server, dist);
    const p = await ctx.newPage();
    const problems: string[] = [];
    p.on('console', (m) => m.type() === 'error' && problems.push(m.text()));
    p.on('pageerror', (e) => problems.push(e.message));
    await p.addInitScript(PROBE);
    await p.goto(page.url(server));
    const run = p.locator('#cell .rc-run');
    await run.waitFor();
    await run.click();
    // A function, not a string: the pages' CSP forbids eval.
    await p
      .waitForFunction(() => (globalThis as { __first?: number }).__first !== undefined, null, {
        timeout: 30_000,
      })
      .catch((e: unknown) => {
        throw new Error(`${page.name} ${dist ?? ''}: no output (${problems.join('; ')})`, { cause: e });
      });
    const [first, down] = (await p.evaluate('[window.__first, window.__down]')) as [number, number];
    const phases = (await p.evaluate(PHASES)) as Record<string, number | undefined>;
    const long = (await p.evaluate('window.__long')) as [number, number][];
    const rel: Record<string, number> = {};
    for (const [k, v] of Object.entries(phases)) if (v !== undefined) rel[k] = Math.round(v - down);
    return {
      loadToFirstOutput: Math.round(first),
      loadToPress: Math.round(down),
      pressToFirstOutput: Math.round(first - down),
      phases: rel,
      longTasks: long.map(([t, d]) => `${Math.round(t - down)}+${Math.round(d)}`).join(' '),
    };
  } finally {
    await ctx.close();
    // A closed context need not fire pagehide: end its kernels here (the per-address kernel cap).
    const kernels = server.app.ctx.kernels;
    await Promise.all(server.app.ctx.manager.list().map((k) => kernels.shutdown(k.id)));
  }
}

function summarize(samples: Sample[]) {
  const pick = (f: (s: Sample) => number) => {
    const all = samples.map(f);
    return { median: median(all), min: Math.min(...all), all };
  };
  const keys = [...new Set(samples.flatMap((s) => Object.keys(s.phases)))];
  return {
    loadToFirstOutputMs: pick((s) => s.loadToFirstOutput),
    loadToPressMs: pick((s) => s.loadToPress),
    pressToFirstOutputMs: pick((s) => s.pressToFirstOutput),
    phasesAfterPressMs: Object.fromEntries(
      keys.map((k) => {
        const all = samples.map((s) => s.phases[k]).filter((v): v is number => v !== undefined);
        return [k, { median: median(all), all }];
      }),
    ),
    longTasks: samples.map((s) => s.longTasks),
  };
}

function sizes(): Record<string, { bytes: number; gzip: number }> {
  const files = ['runcell.js', ...readdirSync(join(CURRENT, 'chunks')).map((f) => `chunks/${f}`)];
  return Object.fromEntries(
    files.map((f) => {
      const b = readFileSync(join(CURRENT, f));
      return [f, { bytes: b.length, gzip: gzipSync(b, { level: 9 }).length }];
    }),
  );
}

async function main(): Promise<void> {
  ensureBuilt();
  const server = await startWebServer(43);
  const { browser, close } = await launch();
  const builds: [string, string | undefined][] = BASELINE
    ? [
        ['before', BASELINE],
        ['after', CURRENT],
      ]
    : [['current', undefined]];
  const samples = new Map<string, Sample[]>();
  try {
    for (let i = 0; i < RUNS; i++) {
      for (const page of PAGES) {
        for (const [build, dist] of i % 2 ? [...builds].reverse() : builds) {
          // The pool refills in the background; give it a moment so every run sees a warm kernel.
          await new Promise((r) => setTimeout(r, 1_500));
          const key = `${page.name} ${build}`;
          samples.set(key, [...(samples.get(key) ?? []), await once(browser, server, page, dist)]);
        }
      }
    }
  } finally {
    await close();
    await server.stop();
  }
  const sz = sizes();
  const result = {
    runs: RUNS,
    results: Object.fromEntries([...samples].map(([k, v]) => [k, summarize(v)])),
    sizes: sz,
  };
  console.log(JSON.stringify(result, null, 2));
  const chunks = Object.entries(sz)
    .filter(([f]) => f.startsWith('chunks/'))
    .map(([f, s]) => `${f.replace(/^chunks\/|-[\w-]+\.js$/g, '')} ${(s.gzip / 1024).toFixed(1)} KB`)
    .join(', ');
  for (const [k, r] of Object.entries(result.results)) {
    console.log(
      `web-first-output ${k}: page load -> first output median ${r.loadToFirstOutputMs.median} ms ` +
        `(load -> press ${r.loadToPressMs.median} ms, press -> output ${r.pressToFirstOutputMs.median} ms) over ${RUNS} runs`,
    );
  }
  console.log(
    `core ${((sz['runcell.js']?.gzip ?? 0) / 1024).toFixed(1)} KB gzip; lazy: ${chunks}${BASELINE ? '; A/B through a playwright route' : ''}`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
