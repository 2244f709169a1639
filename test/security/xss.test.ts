// Kernel output built for XSS (HTML, SVG, Markdown, LaTeX, JavaScript, file names, tracebacks, ANSI
// sequences, a shared permalink) shown by the embed in a real Chromium on a page author's site: a canary
// in the host page (and in runcell's own pages) must never be called. Also: the security headers and
// Content-Security-Policy on every page runcell serves.
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, startWebServer, type WebServer } from '../e2e/helpers.js';

const SLOT = 56;
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let ctx: BrowserContext;

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([startWebServer(SLOT), launch()]);
  ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
  // Every page and frame gets a canary; only the top-level pages' lists are read.
  await ctx.addInitScript(() => {
    const g = globalThis as unknown as { pwned: string[]; canary: (w: string) => void };
    g.pwned = [];
    g.canary = (w: string) => g.pwned.push(String(w));
  });
});
afterAll(async () => {
  await ctx?.close();
  await closeBrowser?.();
  await server?.stop();
});

const pwned = (p: Page) => p.evaluate(() => (globalThis as unknown as { pwned: string[] }).pwned);

async function setCode(cell: Locator, code: string): Promise<void> {
  await cell.locator('.rc-editor').hover();
  const cm = cell.locator('.cm-content');
  await cm.waitFor({ timeout: 10_000 });
  await cm.click();
  await cell.page().keyboard.press('Control+A');
  await cell.page().keyboard.insertText(code);
}

async function runAndWait(cell: Locator, code: string): Promise<void> {
  const before = Number((await cell.getAttribute('data-runs')) ?? 0);
  await setCode(cell, code);
  await cell.page().keyboard.press('Shift+Enter');
  await expect
    .poll(async () => Number((await cell.getAttribute('data-runs')) ?? 0), { timeout: 30_000 })
    .toBe(before + 1);
}

const PAYLOADS = [
  'from IPython.display import HTML, SVG, Markdown, Latex, Math, Javascript, display',
  `display(HTML('<script>canary("html-script")</script><img src=x onerror="canary(\\'html-img\\')"><iframe srcdoc="<script>parent.canary(\\'srcdoc\\')</script>"></iframe><a href="javascript:canary(\\'href\\')" id=xa>a</a><form action="javascript:canary(\\'form\\')"><button id=xb>b</button></form><meta http-equiv="refresh" content="0;url=javascript:canary(\\'meta\\')"><style>@import "javascript:canary(\\'css\\')"</style>'))`,
  `display({"image/svg+xml": '<svg xmlns="http://www.w3.org/2000/svg" onload="canary(\\'svg-onload\\')"><script>canary("svg-script")</script><a href="javascript:canary(\\'svg-a\\')"><text y="10">t</text></a><foreignObject><img src=x onerror="canary(\\'svg-fo\\')"></foreignObject><animate onbegin="canary(\\'svg-anim\\')" attributeName="x" dur="1s"/></svg>'}, raw=True)`,
  `display(SVG('<svg xmlns="http://www.w3.org/2000/svg" onload="canary(1)"><script>canary("svg-parsed")</script></svg>'))`,
  `display(Markdown('[md](javascript:canary("md-link")) <img src=x onerror="canary(\\'md-img\\')"> <script>canary("md-script")</script> ![i](javascript:canary("md-imgsrc"))'))`,
  `display(Latex(r'$\\href{javascript:canary("tex-href")}{x}$ $\\url{javascript:canary("tex-url")}$ <img src=x onerror="canary(\\'tex-html\\')">'))`,
  `display(Math(r'\\htmlData{onclick=canary("tex-data")}{x} \\includegraphics{javascript:canary("tex-img")}'))`,
  `display(Javascript('canary("javascript"); parent.canary("javascript-parent"); top.canary("javascript-top")'))`,
  `display({"text/html": "<img src=x onerror=\\"canary('bundle')\\">", "text/plain": "p"}, raw=True)`,
  `display({"image/svg+xml": "<svg xmlns='http://www.w3.org/2000/svg' onload='canary(1)'/>", "image/png": "\\"><img src=x onerror=canary('png')>"}, raw=True)`,
  `open('<img src=x onerror=canary("fname")>.html', 'w').write('<script>canary("file-content")</script>')`,
  `print("\\x1b[31m<img src=x onerror=canary('ansi')>\\x1b[0m \\x1b]8;;javascript:canary('osc8')\\x1b\\\\link\\x1b]8;;\\x1b\\\\ \\x1b]0;<script>canary('title')</script>\\x07")`,
  `raise ValueError("<img src=x onerror=canary('traceback')>\\x1b[31m<script>canary('tb-script')</script>")`,
].join('\n');

describe('kernel output designed for XSS', () => {
  it('never runs in the embedding page', async () => {
    const p = await ctx.newPage();
    server.pages.set(
      '/xss',
      `<!doctype html><html><body><script src="${server.base}/static/runcell.js"></script><pre data-runcell>print(1)</pre></body></html>`,
    );
    await p.goto(`${server.site}/xss`);
    const c = p.locator('.runcell');
    await c.locator('.rc-run').waitFor();
    await runAndWait(c, PAYLOADS);
    await expect
      .poll(() => c.locator('.rc-traceback').textContent(), { timeout: 30_000 })
      .toContain('ValueError');
    await p.waitForTimeout(1_500);
    // Click everything clickable in the outputs, as a curious reader would.
    for (const a of await c.locator('.rc-outputs a, .rc-outputs button').all()) {
      await a.click({ force: true, timeout: 1_000 }).catch(() => undefined);
    }
    await p.waitForTimeout(500);
    expect(await pwned(p)).toEqual([]);
    expect(p.url()).toBe(`${server.site}/xss`);
    const text = (await c.locator('.rc-outputs').textContent()) ?? '';
    expect(text).toContain("<img src=x onerror=canary('traceback')>");
    await p.close();
  });

  it("never runs in runcell's own pages: a shared permalink of the same output", async () => {
    const p = await ctx.newPage();
    await p.goto(`${server.base}/`);
    const c = p.locator('#cell');
    await c.locator('.rc-run').waitFor();
    await runAndWait(c, PAYLOADS);
    await c.locator('.rc-share-btn').click();
    const url = await c.locator('.rc-share-url').inputValue({ timeout: 10_000 });
    await p.waitForTimeout(1_000);
    expect(await pwned(p)).toEqual([]);
    const p2 = await ctx.newPage();
    await p2.goto(url);
    await p2.waitForTimeout(2_000);
    expect(await pwned(p2)).toEqual([]);
    // A permalink whose code tries to break out of the page's markup.
    const r = await fetch(`${server.base}/api/permalinks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.base },
      body: JSON.stringify({ code: '</script><script>canary("permalink")</script><!--', kernel: 'python3' }),
    });
    if (r.status === 201 || r.status === 200) {
      const { id } = (await r.json()) as { id: string };
      await p2.goto(`${server.base}/p/${id}`);
      await p2.waitForTimeout(1_000);
      expect(await pwned(p2)).toEqual([]);
    }
    await p.close();
    await p2.close();
  });
});

describe('security headers', () => {
  it('every page has a CSP without unsafe scripts, nosniff, and framing rules', async () => {
    const r0 = await fetch(`${server.base}/api/permalinks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json', origin: server.base },
      body: JSON.stringify({ code: 'print(1)', kernel: 'python3' }),
    });
    const id = ((await r0.json()) as { id: string }).id;
    for (const path of ['/', '/embed', `/p/${id}`, '/p/nonexistent0000000000', '/nonexistent']) {
      const r = await fetch(`${server.base}${path}`);
      const type = r.headers.get('content-type') ?? '';
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
      if (type.includes('html')) {
        const csp = r.headers.get('content-security-policy') ?? '';
        expect(csp, path).toMatch(/script-src 'self'|default-src 'none'|sandbox/);
        expect(csp, path).not.toMatch(/script-src[^;]*'unsafe-inline'/);
        expect(csp, path).toMatch(/frame-ancestors|sandbox/);
      }
    }
    for (const path of ['/static/runcell.js', '/api', '/api/kernelspecs', '/healthz']) {
      const r = await fetch(`${server.base}${path}`);
      expect(r.headers.get('x-content-type-options'), path).toBe('nosniff');
    }
  });
});
