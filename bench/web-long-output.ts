// A 10,000-line print in a cell, as a visitor's browser shows it: from the press of Run to the end of
// the run (runcell:done, the page's clock), the main thread's long tasks meanwhile, the cell's height and
// the DOM lines left in the page. Two ways in alternation in the same Chromium against the same server,
// so both see the same machine load: the default (a stream beyond 400 lines elided in the middle) and
// the baseline data-max-output-lines="0" (every line painted, as before elision; the box is bounded
// either way). Fresh page per run, cell on another origin's page, warm kernel pool.
//   node --import tsx bench/web-long-output.ts        RUNS=7 (default) per way, LINES=10000
// Prints JSON, then a summary line per way and the ratios.
import type { Browser, Page } from 'playwright-core';
import { launch, startWebServer, type WebServer } from '../test/e2e/helpers.js';

const RUNS = Number(process.env.RUNS ?? 7);
const LINES = Number(process.env.LINES ?? 10_000);

function quantile(xs: number[], q: number): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
}

const PROBE = `
  document.addEventListener('pointerdown', () => { window.__down ??= performance.now(); }, true);
  document.addEventListener('runcell:done', () => { window.__done ??= performance.now(); });
  window.__long = [];
  new PerformanceObserver((l) => {
    for (const e of l.getEntries()) window.__long.push([e.startTime, e.duration]);
  }).observe({ type: 'longtask', buffered: true });
`;

const MEASURE = `(() => {
  const host = document.querySelector('.runcell');
  const pre = host.shadowRoot.querySelector('.rc-outputs');
  const lines = [...host.shadowRoot.querySelectorAll('pre.rc-stream')]
    .reduce((n, p) => n + p.textContent.split('\\n').length - 1, 0);
  const during = window.__long.filter(([t]) => t >= window.__down && t <= window.__done);
  return {
    pressToDone: window.__done - window.__down,
    longTaskMs: during.reduce((s, [, d]) => s + d, 0),
    longestTaskMs: during.reduce((m, [, d]) => Math.max(m, d), 0),
    cellHeight: host.getBoundingClientRect().height,
    outputScrollHeight: pre.scrollHeight,
    linesInPage: lines,
  };
})()`;

type Sample = {
  pressToDone: number;
  longTaskMs: number;
  longestTaskMs: number;
  cellHeight: number;
  outputScrollHeight: number;
  linesInPage: number;
};

async function once(browser: Browser, server: WebServer, path: string): Promise<Sample> {
  const ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const page: Page = await ctx.newPage();
  await page.addInitScript(PROBE);
  await page.goto(`${server.site}${path}`);
  const run = page.locator('.runcell .rc-run');
  await run.waitFor();
  await run.click();
  await page.waitForFunction('window.__done !== undefined', undefined, { timeout: 120_000 });
  // Let the last paint land before measuring the page.
  await page.evaluate('new Promise((r) => requestAnimationFrame(() => setTimeout(r, 50)))');
  const s = (await page.evaluate(MEASURE)) as Sample;
  await ctx.close();
  return s;
}

async function main(): Promise<void> {
  const [server, { browser, close }] = await Promise.all([
    startWebServer(78, { config: { maxKernels: 24, ipMaxKernels: 24 } }),
    launch(),
  ]);
  const code = `for i in range(${LINES}):\n    print("line", i)`;
  const page = (attrs: string) =>
    `<!doctype html><html><body><pre data-runcell ${attrs}>${code}</pre>` +
    `<script src="${server.base}/static/runcell.js"></script></body></html>`;
  server.pages.set('/elided', page(''));
  server.pages.set('/full', page('data-max-output-lines="0"'));
  const ways = { elided: [] as Sample[], full: [] as Sample[] };
  try {
    // One unmeasured run each: the CodeMirror-free core and the kernel pool are warm for both.
    await once(browser, server, '/elided');
    await once(browser, server, '/full');
    for (let i = 0; i < RUNS; i++) {
      ways.elided.push(await once(browser, server, '/elided'));
      ways.full.push(await once(browser, server, '/full'));
    }
  } finally {
    await close();
    await server.stop();
  }
  const q = (xs: Sample[], k: keyof Sample, p = 0.5) =>
    quantile(
      xs.map((x) => x[k]),
      p,
    );
  const summary = Object.fromEntries(
    Object.entries(ways).map(([k, xs]) => [
      k,
      {
        pressToDoneMedian: q(xs, 'pressToDone'),
        pressToDoneP99: q(xs, 'pressToDone', 0.99),
        longTaskMsMedian: q(xs, 'longTaskMs'),
        longestTaskMsMedian: q(xs, 'longestTaskMs'),
        cellHeight: q(xs, 'cellHeight'),
        outputScrollHeight: q(xs, 'outputScrollHeight'),
        linesInPage: q(xs, 'linesInPage'),
      },
    ]),
  ) as unknown as Record<'elided' | 'full', Record<string, number>>;
  console.log(JSON.stringify({ lines: LINES, runs: RUNS, samples: ways, summary }, null, 2));
  const r = (k: string) => {
    const [a, b] = [summary.full[k] ?? 0, summary.elided[k] ?? 0];
    return b ? `×${(a / b).toFixed(2)}` : `${a.toFixed(0)} vs ${b.toFixed(0)}`;
  };
  for (const [k, v] of Object.entries(summary)) {
    console.log(
      `${k}: press→done median ${v.pressToDoneMedian?.toFixed(0)} ms, p99 ${v.pressToDoneP99?.toFixed(0)} ms; ` +
        `long tasks ${v.longTaskMsMedian?.toFixed(0)} ms (longest ${v.longestTaskMsMedian?.toFixed(0)} ms); ` +
        `cell ${v.cellHeight?.toFixed(0)} px high, output content ${v.outputScrollHeight?.toFixed(0)} px, ${v.linesInPage} lines in the page`,
    );
  }
  console.log(
    `full / elided: press→done ${r('pressToDoneMedian')}, long tasks ${r('longTaskMsMedian')}, ` +
      `output content ${r('outputScrollHeight')}, lines in the page ${r('linesInPage')}`,
  );
}

await main();
