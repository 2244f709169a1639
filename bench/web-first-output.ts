// Time from page load to the first output for a visitor who clicks Run as soon as the cell is there,
// measured in Chromium against a real server with a warm kernel pool. Both clocks are the browser's:
// from navigation start, and from the click. Also the gzip sizes of the core and the lazy chunks.
// Prints JSON, then a one-line summary.
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { ensureBuilt, launch, ROOT, startWebServer } from '../test/e2e/helpers.js';

const RUNS = Number(process.env.RUNS ?? 7);

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] ?? Number.NaN;
}

function sizes(): Record<string, { bytes: number; gzip: number }> {
  const dist = join(ROOT, 'web', 'dist');
  const files = ['runcell.js', ...readdirSync(join(dist, 'chunks')).map((f) => `chunks/${f}`)];
  return Object.fromEntries(
    files.map((f) => {
      const b = readFileSync(join(dist, f));
      return [f, { bytes: b.length, gzip: gzipSync(b, { level: 9 }).length }];
    }),
  );
}

async function main(): Promise<void> {
  ensureBuilt();
  const server = await startWebServer(43);
  const { browser, close } = await launch();
  const loadToOutput: number[] = [];
  const clickToOutput: number[] = [];
  const loadToClick: number[] = [];
  try {
    for (let i = 0; i < RUNS; i++) {
      // The pool refills in the background; give it a moment so every run sees a warm kernel.
      await new Promise((r) => setTimeout(r, 1_500));
      const ctx = await browser.newContext();
      const page = await ctx.newPage();
      await page.addInitScript(() => {
        const g = globalThis as unknown as {
          __first?: number;
          document: { addEventListener(t: string, f: () => void): void };
        };
        g.document.addEventListener('runcell:output', () => {
          g.__first ??= performance.now();
        });
      });
      await page.goto(`${server.base}/`);
      const run = page.locator('#cell .rc-run');
      await run.waitFor();
      const clickAt = await page.evaluate(() => performance.now());
      await run.click();
      await page.waitForFunction(
        () => (globalThis as unknown as { __first?: number }).__first !== undefined,
        null,
        {
          timeout: 30_000,
        },
      );
      const first = await page.evaluate(() => (globalThis as unknown as { __first: number }).__first);
      loadToOutput.push(Math.round(first));
      clickToOutput.push(Math.round(first - clickAt));
      loadToClick.push(Math.round(clickAt));
      await ctx.close();
    }
  } finally {
    await close();
    await server.stop();
  }
  const sz = sizes();
  const result = {
    runs: RUNS,
    loadToFirstOutputMs: { median: median(loadToOutput), min: Math.min(...loadToOutput), all: loadToOutput },
    loadToClickMs: { median: median(loadToClick), all: loadToClick },
    clickToFirstOutputMs: {
      median: median(clickToOutput),
      min: Math.min(...clickToOutput),
      all: clickToOutput,
    },
    sizes: sz,
  };
  console.log(JSON.stringify(result, null, 2));
  const chunks = Object.entries(sz)
    .filter(([f]) => f.startsWith('chunks/'))
    .map(([f, s]) => `${f.replace(/^chunks\/|-[\w-]+\.js$/g, '')} ${(s.gzip / 1024).toFixed(1)} KB`)
    .join(', ');
  console.log(
    `web-first-output: page load -> first output median ${result.loadToFirstOutputMs.median} ms ` +
      `(click -> output ${result.clickToFirstOutputMs.median} ms) over ${RUNS} runs; core ${((sz['runcell.js']?.gzip ?? 0) / 1024).toFixed(1)} KB gzip; lazy: ${chunks}`,
  );
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
