// A real tutorial page in a real browser: twenty isolated cells on an author's site (another origin),
// over long-poll on a desktop screen (on two connections at most, Interrupt and Restart included) and
// over websocket on a phone, every cell run in turn and a few at once, a second tab of the same page, nothing refused; pages that crash have their kernels freed
// by the server within seconds; a file uploaded from the author's site reaches the kernel; a cell left
// alone gives its kernel back, says so, and runs again on a fresh one.
import type { Socket } from 'node:net';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it, onTestFinished } from 'vitest';
import { launch, screenshot, startWebServer, type WebServer } from './helpers.js';

const SLOT = 61;
/** The idle test's server (kernels released after 3 s unused). */
const IDLE_SLOT = 64;
const CELLS = 20;
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([
    // The defaults' per-page and per-address limits; room on the server for two twenty-cell tabs.
    startWebServer(SLOT, {
      config: { maxKernels: 46, poolSize: 3, ipMaxKernels: 200, ipKernelCreatesPerMinute: 600 },
    }),
    launch(),
  ]);
  for (const transport of ['longpoll', 'websocket']) {
    const cells = Array.from(
      { length: CELLS },
      (_, i) =>
        `<h2>Step ${i + 1}</h2>\n<pre data-runcell data-transport="${transport}">print("cell", ${i + 1})</pre>`,
    ).join('\n');
    server.pages.set(
      `/${transport}`,
      `<!doctype html><html><head><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>A tutorial</h1><script src="${server.base}/static/runcell.js"></script>
${cells}</body></html>`,
    );
  }
});

afterAll(async () => {
  await closeBrowser?.();
  await server?.stop();
});

/** Live kernels on the server that belong to a page. */
const pageKernels = () => server.app.ctx.kernels.all().filter((h) => h.page !== undefined);

async function open(ctx: BrowserContext, transport: string): Promise<{ page: Page; cells: Locator }> {
  const page = await ctx.newPage();
  await page.goto(`${server.site}/${transport}`);
  const cells = page.locator('.runcell');
  await expect.poll(() => cells.count()).toBe(CELLS);
  await cells.last().locator('.rc-run').waitFor();
  return { page, cells };
}

async function runAndCheck(cell: Locator, n: number, timeout = 60_000): Promise<void> {
  const before = Number((await cell.getAttribute('data-runs')) ?? 0);
  await cell.locator('.rc-run').click();
  await expect
    .poll(async () => Number((await cell.getAttribute('data-runs')) ?? 0), { timeout })
    .toBe(before + 1);
  expect(await cell.locator('.rc-stdout').textContent()).toBe(`cell ${n}\n`);
  expect(await cell.locator('.rc-banner').isVisible()).toBe(false);
}

/** The cells that have not finished `runs` runs, with what they show (for a failure's message). */
async function unfinished(cells: Locator, runs: number[]): Promise<string> {
  const out: string[] = [];
  for (let i = 0; i < CELLS; i++) {
    const c = cells.nth(i);
    if (Number((await c.getAttribute('data-runs')) ?? 0) < (runs[i] ?? 0))
      out.push(
        `cell ${i + 1}: ${await c.getAttribute('data-status')} ${await c.locator('.rc-outputs').textContent()}`,
      );
  }
  return out.join('; ');
}

/**
 * Runs these cells at once, as an impatient visitor, and waits until each has finished once more with
 * its output. Clicks are DOM clicks: playwright's pointer clicks share one mouse per page, so several
 * at a time interleave their moves and presses and lose some.
 */
async function runAtOnce(cells: Locator, which: number[]): Promise<void> {
  const want: number[] = [];
  for (let i = 0; i < CELLS; i++)
    want.push(Number((await cells.nth(i).getAttribute('data-runs')) ?? 0) + (which.includes(i) ? 1 : 0));
  await Promise.all(which.map((i) => cells.nth(i).locator('.rc-run').dispatchEvent('click')));
  await expect.poll(() => unfinished(cells, want), { timeout: 60_000 }).toBe('');
  for (const i of which)
    expect(await cells.nth(i).locator('.rc-stdout').textContent()).toBe(`cell ${i + 1}\n`);
}

/** Runs every cell in turn, then `few` of them at once. */
async function exercise(cells: Locator, few: number[]): Promise<void> {
  for (let i = 0; i < CELLS; i++) await runAndCheck(cells.nth(i), i + 1);
  await runAtOnce(cells, few);
}

/**
 * The TCP connections open to the server at once, at most, from now until the result is called: counted
 * by the server's listener, as the host sees the page (every request the browser makes counts: the
 * script, its chunks, the poll, kernel starts, sends, the closing beacon).
 */
function countConnections(): () => number {
  const http = server.app.app.server;
  let open = 0;
  let peak = 0;
  const onConn = (sock: Socket) => {
    open++;
    peak = Math.max(peak, open);
    sock.once('close', () => open--);
  };
  http.on('connection', onConn);
  return () => {
    http.off('connection', onConn);
    return peak;
  };
}

describe('a twenty-cell page', () => {
  it('over long-poll on a desktop screen: every cell runs, in turn and a few at once, on two connections at most', async () => {
    const ctx = await browser.newContext({ viewport: { width: 1200, height: 900 } });
    onTestFinished(() => ctx.close());
    const peak = countConnections();
    const { page, cells } = await open(ctx, 'longpoll');
    await exercise(cells, [2, 7, 11, 19]);
    expect(await cells.first().getAttribute('data-transport')).toBe('longpoll');
    expect(pageKernels()).toHaveLength(CELLS);
    // Interrupt and Restart over the page's poll: a sleeping cell stops, then restarts and runs again.
    const cell = cells.nth(5);
    await page.evaluate(`window.RunCell.makeCell(document.querySelectorAll('.runcell')[5]).code =
      'import time\\nprint("sleeping", flush=True)\\ntime.sleep(60)'`);
    const runs = Number(await cell.getAttribute('data-runs'));
    await cell.locator('.rc-run').click();
    await expect.poll(() => cell.locator('.rc-stdout').textContent(), { timeout: 30_000 }).toBe('sleeping\n');
    await cell.locator('.rc-interrupt').click();
    await expect.poll(() => cell.getAttribute('data-runs'), { timeout: 30_000 }).toBe(String(runs + 1));
    expect(await cell.locator('.rc-outputs').textContent()).toContain('KeyboardInterrupt');
    await cell.locator('.rc-restart').click();
    await expect
      .poll(() => cell.locator('.rc-status .label').textContent(), { timeout: 30_000 })
      .toBe('Restarted · idle · long-poll');
    await page.evaluate(
      `window.RunCell.makeCell(document.querySelectorAll('.runcell')[5]).code = 'print("cell", 6)'`,
    );
    await runAndCheck(cell, 6);
    await screenshot(page, 'page-longpoll');
    // Closed normally: the pagehide beacon ends the page's kernels at once.
    await page.close({ runBeforeUnload: true });
    await expect.poll(() => pageKernels().length, { timeout: 15_000 }).toBe(0);
    // A page of twenty cells never needs more than two connections: its poll and one for the rest.
    expect(peak()).toBeLessThanOrEqual(2);
  }, 240_000);

  it('over long-poll, a cell that connects without running (data-eager) joins the held poll at once', async () => {
    server.pages.set(
      '/eager-longpoll',
      `<!doctype html><html><body><script src="${server.base}/static/runcell.js"></script>
<div id="first" data-runcell data-transport="longpoll">print("first")</div>
<div style="height: 3000px"></div>
<div id="later" data-runcell data-eager data-transport="longpoll">print("later")</div></body></html>`,
    );
    const ctx = await browser.newContext();
    onTestFinished(() => ctx.close());
    const page = await ctx.newPage();
    await page.goto(`${server.site}/eager-longpoll`);
    const first = page.locator('#first');
    await first.locator('.rc-run').click();
    await expect.poll(() => first.locator('.rc-stdout').textContent(), { timeout: 30_000 }).toBe('first\n');
    // The page's poll is held for the first cell. The eager cell's kernel starts when scrolled to; it
    // sends nothing, so only its hello ends the held poll: it is connected long before the hold (25 s)
    // would have ended, which the 15 s bound stands for (a kernel start included).
    const later = page.locator('#later');
    await later.scrollIntoViewIfNeeded();
    await expect.poll(() => later.getAttribute('data-status'), { timeout: 15_000 }).toMatch(/^(ready|idle)$/);
    await page.close({ runBeforeUnload: true });
    await expect.poll(() => pageKernels().length, { timeout: 15_000 }).toBe(0);
  });

  it('over websocket on a phone, in two tabs: nothing refused', async () => {
    const ctx = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
      deviceScaleFactor: 2,
    });
    onTestFinished(() => ctx.close());
    const first = await open(ctx, 'websocket');
    await exercise(first.cells, [0, 5, 13]);
    expect(await first.cells.first().getAttribute('data-transport')).toBe('websocket');
    // A second tab of the same page, while the first still holds its twenty kernels.
    const second = await open(ctx, 'websocket');
    await runAtOnce(second.cells, [1, 4, 9, 16]);
    await runAndCheck(first.cells.nth(3), 4);
    expect(pageKernels()).toHaveLength(CELLS + 4);
    await screenshot(first.page, 'page-phone');
    await ctx.close();
    await expect.poll(() => pageKernels().length, { timeout: 15_000 }).toBe(0);
  }, 240_000);

  it('a browser that crashes: the server frees its kernels within 15 s, over websocket and long-poll', async () => {
    const ctx = await browser.newContext();
    onTestFinished(() => ctx.close());
    const pages = await Promise.all(['websocket', 'longpoll'].map((t) => open(ctx, t)));
    for (const { cells } of pages) await runAtOnce(cells, [0, 1]);
    expect(pageKernels()).toHaveLength(4);
    // The renderer dies: no pagehide, no beacon; only the connections going away tell the server.
    const t0 = Date.now();
    for (const { page } of pages) {
      const cdp = await ctx.newCDPSession(page);
      void cdp.send('Page.crash').catch(() => undefined);
    }
    await expect.poll(() => pageKernels().length, { timeout: 15_000, interval: 100 }).toBe(0);
    expect(Date.now() - t0).toBeLessThan(15_000);
  }, 120_000);

  it('uploads a file from the author’s site (CORS preflight) into the kernel', async () => {
    const ctx = await browser.newContext();
    onTestFinished(() => ctx.close());
    const { page, cells } = await open(ctx, 'websocket');
    // The embed's own upload (tus over XHR, with its preflight), called as a page script would.
    const status = await page.evaluate(`(async () => {
      const host = document.querySelector('.runcell');
      const cell = window.RunCell.makeCell(host);
      await cell.upload(new File(['uploaded from the author’s site'], 'notes.txt'));
      cell.code = 'print(open("notes.txt").read())';
      return host.shadowRoot.querySelector('.rc-progress').textContent;
    })()`);
    expect(status).toContain('Uploaded as notes.txt');
    const cell = cells.first();
    await cell.locator('.rc-run').click();
    await expect
      .poll(() => cell.locator('.rc-stdout').textContent(), { timeout: 30_000 })
      .toBe('uploaded from the author’s site\n');
  });
});

describe('a cell left alone', () => {
  // Its own server: kernels unused for 3 s are shut down (RUNCELL_KERNEL_IDLE_TIMEOUT_MS).
  let idle: WebServer;
  beforeAll(async () => {
    idle = await startWebServer(IDLE_SLOT, { config: { poolSize: 1, kernelIdleTimeoutMs: 3_000 } });
    idle.pages.set(
      '/idle',
      `<!doctype html><html><body><script src="${idle.base}/static/runcell.js"></script>
<pre data-runcell data-transport="longpoll">x = 41
print("first")</pre></body></html>`,
    );
  });
  afterAll(async () => {
    await idle?.stop();
  });

  it('gives its kernel back after the idle time, says so plainly, and Run starts a fresh one', async () => {
    const ctx = await browser.newContext();
    onTestFinished(() => ctx.close());
    const page = await ctx.newPage();
    await page.goto(`${idle.site}/idle`);
    const cell = page.locator('.runcell');
    await cell.locator('.rc-run').click();
    await expect.poll(() => cell.locator('.rc-stdout').textContent(), { timeout: 30_000 }).toBe('first\n');
    const [hub] = idle.app.ctx.kernels.all();
    const first = hub?.id as string;
    expect(idle.app.ctx.manager.get(first)).toBeDefined();
    // Left alone: the server shuts the kernel down, and the cell says why and what Run does.
    await expect.poll(() => cell.getAttribute('data-status'), { timeout: 20_000 }).toBe('dead');
    await expect.poll(() => idle.app.ctx.manager.get(first), { timeout: 10_000 }).toBeUndefined();
    expect(idle.app.ctx.kernels.all()).toHaveLength(0);
    expect(await cell.locator('.rc-banner').textContent()).toContain(
      'Kernel stopped after 3 s idle — Run starts a new one.',
    );
    expect(await cell.locator('.rc-run').isEnabled()).toBe(true);
    // Run: a new kernel, transparently (the old one's variables are gone).
    await page.evaluate(
      `window.RunCell.makeCell(document.querySelector('.runcell')).code = 'print("x" in globals())'`,
    );
    await cell.locator('.rc-run').click();
    await expect.poll(() => cell.locator('.rc-stdout').textContent(), { timeout: 30_000 }).toBe('False\n');
    expect(await cell.locator('.rc-banner').isVisible()).toBe(false);
    expect(await cell.locator('.rc-out').getAttribute('class')).not.toContain('rc-stale');
    const live = idle.app.ctx.kernels.all().map((h) => h.id);
    expect(live).toHaveLength(1);
    expect(live[0]).not.toBe(first);
  }, 90_000);
});
