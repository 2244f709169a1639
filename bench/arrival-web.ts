// The browser view of an audience arriving: visitors open an author's page with one embedded cell at
// Poisson rates (default 1 and 4 per second), each in a fresh Chromium context (its own connections,
// cache and storage), and press Run as soon as the cell is there. Page load → first output and
// press → first output, on the browser's clocks, with runcell's default kernel settings (fork-server
// where the host passes its probe, the prelude, a pool sized from demand). Several pages are open at
// once at the higher rate; the browser shares the 2 cores with the server, as a class's laptops would not.
//   npm run bench -- arrival-web          BENCH_WEB_RATES=1,4  BENCH_WEB_SECONDS=12  BENCH_SEED=16
// Prints JSON, then a summary line per rate.
import type { Browser } from 'playwright-core';
import { defaultConfig } from '../kernel-manager/index.js';
import { ensureBuilt, launch, startWebServer, type WebServer } from '../test/e2e/helpers.js';
import { poissonSchedule } from './lib/schedule.js';
import { quantile, report } from './stats.js';

const RATES = (process.env.BENCH_WEB_RATES ?? '1,4').split(',').map(Number);
const SECONDS = Number(process.env.BENCH_WEB_SECONDS ?? 12);
const SEED = Number(process.env.BENCH_SEED ?? 16);
/** Slot 90: uids 74000-74099, runtime root /run/rc-s90. */
const SLOT = 90;
const KM = defaultConfig();

const PROBE = `
  document.addEventListener('runcell:output', () => { window.__first ??= performance.now(); });
  document.addEventListener('pointerdown', () => { window.__down ??= performance.now(); }, true);
`;
const CODE = "print('hi')";

interface Sample {
  loadToFirstOutput: number;
  pressToFirstOutput: number;
}

async function visitor(browser: Browser, server: WebServer): Promise<Sample> {
  const ctx = await browser.newContext();
  const kernels: string[] = [];
  try {
    const p = await ctx.newPage();
    p.on('response', (r) => {
      if (r.request().method() === 'POST' && /\/api\/kernels(\?|$)/.test(r.url()))
        void r
          .json()
          .then((j: { id?: string }) => j.id && kernels.push(j.id))
          .catch(() => {});
    });
    await p.addInitScript(PROBE);
    await p.goto(`${server.site}/cell`);
    const run = p.locator('#cell .rc-run');
    await run.waitFor();
    await run.click();
    await p.waitForFunction(() => (globalThis as { __first?: number }).__first !== undefined, null, {
      timeout: 30_000,
    });
    const [first, down] = (await p.evaluate('[window.__first, window.__down]')) as [number, number];
    return { loadToFirstOutput: first, pressToFirstOutput: first - down };
  } finally {
    await ctx.close();
    // The visitor left: its kernel goes, off the next visitor's path.
    for (const id of kernels) void server.app.ctx.kernels.shutdown(id).catch(() => {});
  }
}

const r1 = (x: number) => Math.round(x * 10) / 10;
const fig = (xs: number[]) => ({
  n: xs.length,
  p50_ms: r1(quantile(xs, 0.5)),
  p90_ms: r1(quantile(xs, 0.9)),
  p99_ms: r1(quantile(xs, 0.99)),
  max_ms: r1(Math.max(...xs)),
});

async function main(): Promise<void> {
  ensureBuilt();
  const server = await startWebServer(SLOT, {
    // The product's kernel defaults (the test helper's suite budget turned back off), and per-address
    // limits raised: every visitor comes from 127.0.0.1.
    config: {
      forkSpecs: KM.fork.specs === 'auto' ? ['auto'] : KM.fork.specs,
      kernelPrelude: KM.prelude.python,
      poolSize: KM.pool.size,
      poolMax: KM.pool.max,
      maxKernels: KM.maxKernels,
      ipMaxKernels: 1_000,
      ipKernelCreatesPerMinute: 100_000,
      ipExecutionsPerMinute: 1_000_000,
      ipMaxSockets: 1_000,
      ipMaxPollers: 1_000,
    },
  });
  server.pages.set(
    '/cell',
    `<!doctype html><html><head><meta charset="utf-8"><script src="${server.base}/static/runcell.js" defer></script></head>
<body><h1>A lesson</h1><pre id="cell" data-runcell>${CODE}</pre></body></html>`,
  );
  const { browser, close } = await launch();
  const results: Record<string, unknown> = {};
  const lines: string[] = [];
  try {
    // One unmeasured visit: Chromium's own first start (code caches) is not a visitor's.
    await visitor(browser, server);
    for (const [i, rate] of RATES.entries()) {
      const schedule = poissonSchedule(rate, SECONDS, 8, SEED * 1000 + i);
      const samples: Sample[] = [];
      const errors: string[] = [];
      const t0 = performance.now();
      await Promise.all(
        schedule.map(async (at) => {
          const wait = at - (performance.now() - t0);
          if (wait > 0) await new Promise((r) => setTimeout(r, wait));
          try {
            samples.push(await visitor(browser, server));
          } catch (e) {
            errors.push(String(e instanceof Error ? e.message : e).slice(0, 300));
          }
        }),
      );
      const load = fig(samples.map((s) => s.loadToFirstOutput));
      const press = fig(samples.map((s) => s.pressToFirstOutput));
      results[`${rate}/s`] = { load_to_first_output: load, press_to_first_output: press, errors };
      lines.push(
        `${rate}/s: page load -> first output p50 ${load.p50_ms} ms, p99 ${load.p99_ms} ms; press -> output p50 ${press.p50_ms} ms, p99 ${press.p99_ms} ms; errors ${errors.length}/${schedule.length}`,
      );
      // Let the pool and the previous visitors' shutdowns settle before the next rate.
      const deadline = Date.now() + 60_000;
      const busy = () => {
        const st = server.app.ctx.manager.stats();
        return st.starting > 0 || st.refillPending;
      };
      while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 100));
    }
  } finally {
    await close();
    await server.stop();
  }
  report('arrival-web', { rates: RATES, seconds: SECONDS, seed: SEED, results }, lines.join('\n  '));
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
