// The embed in a real browser against a real server and real kernels: run, rich output, input(),
// interrupt, share and permalink, linked and isolated cells, long-poll when the websocket is blocked,
// untrusted output kept out of the host page, and a phone-sized screen.
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, screenshot, startWebServer, type WebServer } from './helpers.js';

const SLOT = 40;
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let ctx: BrowserContext;

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([startWebServer(SLOT), launch()]);
  ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
});

afterAll(async () => {
  await ctx?.close();
  await closeBrowser?.();
  await server?.stop();
});

/** Replaces a cell's code through the editor (CodeMirror once it has loaded). */
async function setCode(cell: Locator, code: string): Promise<void> {
  await cell.locator('.rc-editor').hover();
  const cm = cell.locator('.cm-content');
  await cm.waitFor({ timeout: 10_000 });
  await cm.click();
  await cell.page().keyboard.press('Control+A');
  await cell.page().keyboard.insertText(code);
}

async function runAndWait(cell: Locator, code: string, timeout = 30_000): Promise<Locator> {
  const before = Number((await cell.getAttribute('data-runs')) ?? 0);
  await setCode(cell, code);
  await cell.page().keyboard.press('Shift+Enter');
  await expect
    .poll(async () => Number((await cell.getAttribute('data-runs')) ?? 0), { timeout })
    .toBe(before + 1);
  return cell.locator('.rc-outputs');
}

async function openHome(c: BrowserContext = ctx): Promise<{ page: Page; cell: Locator }> {
  const page = await c.newPage();
  await page.goto(`${server.base}/`);
  const cell = page.locator('#cell');
  await cell.locator('.rc-run').waitFor();
  return { page, cell };
}

describe('the embed in a browser', () => {
  let page: Page;
  let cell: Locator;

  it('runs typed code and shows stream output', async () => {
    ({ page, cell } = await openHome());
    await screenshot(page, 'home-empty');
    const out = await runAndWait(cell, 'for i in range(3):\n    print("hello", i)\n');
    await expect.poll(() => out.locator('.rc-stdout').textContent()).toBe('hello 0\nhello 1\nhello 2\n');
    expect(await cell.getAttribute('data-status')).toMatch(/idle|ready/);
    await screenshot(page, 'home');
  });

  it('shows a matplotlib image, rendered LaTeX and a coloured traceback', async () => {
    const out = await runAndWait(
      cell,
      [
        'import matplotlib',
        "matplotlib.use('module://matplotlib_inline.backend_inline')",
        'import matplotlib.pyplot as plt',
        'from IPython.display import Math, display',
        'plt.plot([1, 3, 2]); plt.title("demo"); plt.show()',
        "display(Math(r'\\int_0^1 x^2\\,dx = \\frac{1}{3}'))",
        '1/0',
      ].join('\n'),
      45_000,
    );
    await expect.poll(() => out.locator('img.rc-image').count()).toBe(1);
    const src = await out.locator('img.rc-image').getAttribute('src');
    expect(src).toMatch(/^data:image\/png;base64,/);
    await expect.poll(() => out.locator('.rc-latex .katex').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    const tb = out.locator('.rc-traceback');
    await expect.poll(() => tb.textContent()).toContain('ZeroDivisionError');
    expect(await tb.locator('[class*="ansi-fg-"]').count()).toBeGreaterThan(0);
    await screenshot(page, 'rich-output');
  });

  it('answers an input() prompt', async () => {
    await setCode(cell, 'name = input("Your name? ")\nprint("Hi", name)');
    await cell.locator('.rc-run').click();
    const field = cell.locator('.rc-input input');
    await field.waitFor({ timeout: 20_000 });
    await field.fill('Ada');
    await field.press('Enter');
    await expect
      .poll(() => cell.locator('.rc-outputs').textContent(), { timeout: 20_000 })
      .toContain('Hi Ada');
  });

  it('interrupts an infinite loop', async () => {
    await setCode(cell, 'import time\nprint("start", flush=True)\nwhile True:\n    time.sleep(0.05)');
    await cell.locator('.rc-run').click();
    await expect.poll(() => cell.locator('.rc-stdout').textContent(), { timeout: 20_000 }).toContain('start');
    await cell.locator('.rc-interrupt').click();
    await expect
      .poll(() => cell.locator('.rc-traceback').textContent(), { timeout: 20_000 })
      .toContain('KeyboardInterrupt');
    await expect.poll(() => cell.locator('.rc-run').isEnabled()).toBe(true);
  });

  it('shares a permalink that opens with code and output and runs again', async () => {
    const out = await runAndWait(cell, 'print("shared", 6 * 7)');
    await expect.poll(() => out.textContent()).toContain('shared 42');
    await cell.locator('.rc-share-btn').click();
    const url = await cell.locator('.rc-share-url').inputValue({ timeout: 10_000 });
    expect(url).toMatch(new RegExp(`^${server.base}/p/[A-Za-z0-9_-]{16}$`));
    expect(await cell.locator('.rc-snippet').inputValue()).toContain(`${server.base}/static/runcell.js`);
    await screenshot(page, 'share');

    const p2 = await ctx.newPage();
    await p2.goto(url);
    const shared = p2.locator('#permalink .runcell');
    await expect
      .poll(() => shared.locator('.rc-outputs').textContent(), { timeout: 10_000 })
      .toContain('shared 42');
    expect(await shared.locator('.rc-textarea, .cm-content').first().textContent()).toBeDefined();
    await screenshot(p2, 'permalink');
    await shared.locator('.rc-run').click();
    await expect
      .poll(() => shared.getAttribute('data-status'), { timeout: 20_000 })
      .toMatch(/busy|idle|ready/);
    await expect.poll(() => shared.locator('.rc-run').isEnabled(), { timeout: 30_000 }).toBe(true);
    expect(await shared.locator('.rc-outputs').textContent()).toContain('shared 42');
    // An unknown id is a clear error state, not a blank page.
    await p2.goto(`${server.base}/p/AAAAAAAAAAAAAAAA`);
    await expect.poll(() => p2.locator('.empty-state h2').textContent()).toContain('does not exist');
    await p2.close();
  });

  it('linked cells share a kernel; isolated cells do not', async () => {
    const p = await ctx.newPage();
    await p.goto(`${server.base}/embed`);
    const linked = p.locator('.runcell[data-link="demo"]');
    await linked.first().locator('.rc-run').waitFor();
    const [a, b] = [linked.nth(0), linked.nth(1)];
    const isolated = p.locator('.runcell:not([data-link])').nth(2);
    await a.locator('.rc-run').click();
    await expect
      .poll(() => a.locator('.rc-outputs').textContent(), { timeout: 30_000 })
      .toContain('x is set');
    await b.locator('.rc-run').click();
    await expect
      .poll(() => b.locator('.rc-outputs').textContent(), { timeout: 30_000 })
      .toContain('x * 2 = 42');
    expect(await a.getAttribute('data-transport')).toBeTruthy();
    await isolated.locator('.rc-run').click();
    await expect
      .poll(() => isolated.locator('.rc-traceback').textContent(), { timeout: 30_000 })
      .toContain('NameError');
    await screenshot(p, 'embed');
    await p.close();
  });

  it('keeps script in kernel output out of the host page', async () => {
    const p = await ctx.newPage();
    // An author's page on another origin, with a canary that anything running in the page would call.
    server.pages.set(
      '/canary',
      `<!doctype html><html><body><script>window.pwned = [];window.canary = (w) => window.pwned.push(w);</script>
<script src="${server.base}/static/runcell.js"></script><pre data-runcell>print(1)</pre></body></html>`,
    );
    await p.goto(`${server.site}/canary`);
    const c = p.locator('.runcell');
    await c.locator('.rc-run').waitFor();
    const code = [
      'from IPython.display import HTML, SVG, display',
      "display(HTML(\"<b>bold</b><script>parent.canary('script'); top.canary('script-top')</script>\"))",
      'display(HTML("<img src=x onerror=\\"canary(\'onerror\')\\"><a href=\\"javascript:canary(\'href\')\\">link</a>"))',
      'display(SVG(\'<svg xmlns="http://www.w3.org/2000/svg" width="20" height="20" onload="canary(\\\'svg-onload\\\')"><script>canary("svg")</script><circle cx="10" cy="10" r="8"/></svg>\'))',
      'print("done")',
    ].join('\n');
    await runAndWait(c, code);
    await expect.poll(() => c.locator('.rc-outputs').textContent()).toContain('done');
    await expect.poll(() => c.locator('iframe.rc-frame').count()).toBe(1);
    expect(await c.locator('iframe.rc-frame').getAttribute('sandbox')).toBe('allow-scripts allow-popups');
    await p.waitForTimeout(1_000);
    // The sanitized link has no javascript: URL; click it anyway.
    await c
      .locator('.rc-html a')
      .first()
      .click({ force: true })
      .catch(() => undefined);
    expect(await p.evaluate(() => (globalThis as unknown as { pwned: string[] }).pwned)).toEqual([]);
    await p.close();
  });

  it('works over long-poll when the websocket is blocked', async () => {
    const c2 = await browser.newContext({ viewport: { width: 1100, height: 900 } });
    const p = await c2.newPage();
    // Blocked the way a host page's Content-Security-Policy (connect-src) blocks it: the constructor throws.
    await p.addInitScript(() => {
      const g = globalThis as unknown as { WebSocket: new (...a: unknown[]) => object };
      const Native = g.WebSocket;
      g.WebSocket = new Proxy(Native, {
        construct(target, args: [string, ...unknown[]]) {
          if (String(args[0]).includes('/channels'))
            throw new DOMException('blocked by policy', 'SecurityError');
          return Reflect.construct(target, args);
        },
      });
    });
    // On an author's site: same-origin GETs carry no Origin header, which the long-poll API refuses.
    server.pages.set(
      '/longpoll',
      `<!doctype html><html><body><script src="${server.base}/static/runcell.js"></script>
<div id="cell" data-runcell>print("hi")</div></body></html>`,
    );
    await p.goto(`${server.site}/longpoll`);
    const c = p.locator('#cell');
    const out = await runAndWait(c, 'print("over", "long-poll")');
    await expect.poll(() => out.textContent(), { timeout: 20_000 }).toContain('over long-poll');
    expect(await c.getAttribute('data-transport')).toBe('longpoll');
    // input() and interrupt over long-poll too.
    await setCode(c, 'v = input("Value? ")\nprint("got", v)');
    await c.locator('.rc-run').click();
    await c.locator('.rc-input input').fill('42');
    await c.locator('.rc-input input').press('Enter');
    await expect.poll(() => c.locator('.rc-outputs').textContent(), { timeout: 20_000 }).toContain('got 42');
    // Interrupted once the code runs (its first output), not when the cell says busy: a SIGINT that
    // lands before the code starts is caught by ipykernel itself and lost.
    await setCode(c, 'print("spinning", flush=True)\nwhile True:\n    pass');
    await c.locator('.rc-run').click();
    await expect.poll(() => c.locator('.rc-stdout').textContent(), { timeout: 20_000 }).toContain('spinning');
    await c.locator('.rc-interrupt').click();
    await expect
      .poll(() => c.locator('.rc-traceback').textContent(), { timeout: 20_000 })
      .toContain('KeyboardInterrupt');
    await screenshot(p, 'longpoll');
    await c2.close();
  });

  it('uploads a file into the kernel and links the files the code writes', async () => {
    const { page: p, cell: c } = await openHome();
    const content = `uploaded from the browser ${Date.now()}\n`;
    await c.locator('input[type=file]').setInputFiles({
      name: 'notes.txt',
      mimeType: 'text/plain',
      buffer: Buffer.from(content),
    });
    await expect
      .poll(() => c.locator('.rc-progress').textContent(), { timeout: 30_000 })
      .toContain('Uploaded');
    const out = await runAndWait(
      c,
      'text = open("notes.txt").read()\nprint(text, end="")\nopen("shout.txt", "w").write(text.upper())',
    );
    await expect.poll(() => out.textContent()).toContain(content.trim());
    const link = out.locator('.rc-files a');
    await expect.poll(() => link.textContent()).toBe('shout.txt');
    const href = (await link.getAttribute('href')) as string;
    expect(href.startsWith(`${server.base}/files/`)).toBe(true);
    const res = await fetch(href);
    expect(await res.text()).toBe(content.toUpperCase());
    expect(res.headers.get('x-content-type-options')).toBe('nosniff');
    await screenshot(p, 'files');
    await p.close();
  });

  it('works on a phone-sized screen', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const p = await phone.newPage();
    await p.goto(`${server.base}/`);
    const c = p.locator('#cell');
    await c.locator('.rc-run').waitFor();
    const width = await p.evaluate(
      () =>
        (globalThis as unknown as { document: { documentElement: { scrollWidth: number } } }).document
          .documentElement.scrollWidth,
    );
    expect(width).toBeLessThanOrEqual(390);
    await c.locator('.rc-run').tap();
    await expect
      .poll(() => c.locator('.rc-outputs').textContent(), { timeout: 30_000 })
      .toContain('Hello, runcell!');
    await screenshot(p, 'phone');
    await phone.close();
  });
});
