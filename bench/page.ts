// A twenty-cell tutorial page on an author's site, in Chromium, against a real server: each cell run in
// turn as a visitor would (run -> first output, on the page's own clock, kernel start included), then
// every cell at once; the TCP connections the page held to the server at most (counted by the server's
// listener, so any request the browser makes counts); and, after the renderer crashes (no pagehide, no
// beacon), how long its kernels lived on the server. Long-poll is the figure; the websocket page, run in
// the same process on the same machine, is the baseline.
//   npm run bench -- page            CELLS=20 (default)
// Prints JSON, then a summary line per transport.
import type { Browser } from 'playwright-core';
import { launch, startWebServer, type WebServer } from '../test/e2e/helpers.js';

const CELLS = Number(process.env.CELLS ?? 20);

const quantile = (xs: number[], q: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor(q * s.length))] ?? Number.NaN;
};
const r1 = (x: number) => Math.round(x * 10) / 10;

// In the page: runs cells (in turn, or all at once) by their Run buttons and times run -> first output.
const RUN = `async (which) => {
  const hosts = [...document.querySelectorAll('.runcell')];
  const one = (host) => new Promise((resolve) => {
    let first;
    const onOut = () => { first ??= performance.now(); };
    const onDone = (e) => {
      host.removeEventListener('runcell:output', onOut);
      host.removeEventListener('runcell:done', onDone);
      resolve({ ms: (first ?? NaN) - t0, status: e.detail.status });
    };
    host.addEventListener('runcell:output', onOut);
    host.addEventListener('runcell:done', onDone);
    const t0 = performance.now();
    host.shadowRoot.querySelector('.rc-run').click();
  });
  if (which === 'all') return Promise.all(hosts.map(one));
  const out = [];
  for (const h of hosts) out.push(await one(h));
  return out;
}`;

interface Result {
  transport: string;
  inTurn: number[];
  allAtOnce: number[];
  peakConnections: number;
  crashToFreedMs: number;
  failed: number;
}

async function measure(server: WebServer, browser: Browser, transport: string): Promise<Result> {
  // Connections to the server, opened and closed, counted at its listener.
  const http = server.app.app.server;
  let open = 0;
  let peak = 0;
  const onConn = (sock: import('node:net').Socket) => {
    open++;
    peak = Math.max(peak, open);
    sock.once('close', () => open--);
  };
  http.on('connection', onConn);
  const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
  const page = await ctx.newPage();
  await page.goto(`${server.site}/${transport}`);
  await page
    .locator('.runcell')
    .nth(CELLS - 1)
    .locator('.rc-run')
    .waitFor();
  const inTurn = (await page.evaluate(`(${RUN})('turn')`)) as { ms: number; status: string }[];
  const allAtOnce = (await page.evaluate(`(${RUN})('all')`)) as { ms: number; status: string }[];
  const failed = [...inTurn, ...allAtOnce].filter((r) => r.status !== 'ok' || !Number.isFinite(r.ms)).length;
  const live = () => server.app.ctx.kernels.all().filter((h) => h.page !== undefined).length;
  const cdp = await ctx.newCDPSession(page);
  const t0 = performance.now();
  void cdp.send('Page.crash').catch(() => undefined);
  while (live() > 0 && performance.now() - t0 < 120_000) await new Promise((r) => setTimeout(r, 20));
  const crashToFreedMs = performance.now() - t0;
  await ctx.close();
  http.off('connection', onConn);
  return {
    transport,
    inTurn: inTurn.map((r) => r1(r.ms)),
    allAtOnce: allAtOnce.map((r) => r1(r.ms)),
    peakConnections: peak,
    crashToFreedMs: Math.round(crashToFreedMs),
    failed,
  };
}

const server = await startWebServer(62, {
  config: { maxKernels: CELLS + 4, poolSize: 3, ipMaxKernels: 200, ipKernelCreatesPerMinute: 600 },
});
const { browser, close } = await launch();
try {
  for (const transport of ['longpoll', 'websocket']) {
    const cells = Array.from(
      { length: CELLS },
      (_, i) => `<pre data-runcell data-transport="${transport}">print("cell", ${i + 1})</pre>`,
    ).join('\n');
    server.pages.set(
      `/${transport}`,
      `<!doctype html><html><body><script src="${server.base}/static/runcell.js"></script>\n${cells}</body></html>`,
    );
  }
  const results: Result[] = [];
  for (const t of ['longpoll', 'websocket']) results.push(await measure(server, browser, t));
  console.log(JSON.stringify({ cells: CELLS, results }, null, 1));
  const base = results.find((r) => r.transport === 'websocket') as Result;
  for (const r of results) {
    const med = quantile(r.inTurn, 0.5);
    const all = quantile(r.allAtOnce, 0.5);
    console.log(
      `page ${r.transport}: ${CELLS} cells in turn run->first output median ${med} ms max ${Math.max(...r.inTurn)} ms` +
        ` (x${r1(med / quantile(base.inTurn, 0.5))} of websocket); all at once median ${all} ms max ${Math.max(...r.allAtOnce)} ms;` +
        ` peak connections ${r.peakConnections}; kernels freed ${r.crashToFreedMs} ms after a crash; failed ${r.failed}`,
    );
  }
} finally {
  await close();
  await server.stop();
}
