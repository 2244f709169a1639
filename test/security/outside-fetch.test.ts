// Kernel output that tries to make the visitor's browser fetch an outside URL without a click (images,
// srcset, poster, background, SVG <image href>, CSS url() and @import, a Markdown image), printed into a
// cell on a page author's site in a real Chromium: the browser's request log, over every page and frame,
// holds no request to any host but the runcell server and the page's own, and an outside host standing
// by receives nothing. Scripted output (a leading <script>, application/javascript) shows in the
// sandboxed frame, and Markdown display maths is typeset as display maths.
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Browser, BrowserContext, Frame } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, startWebServer, type WebServer } from '../e2e/helpers.js';

const SLOT = 30;
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let ctx: BrowserContext;
/** The outside host: answers everything with a 1x1 GIF and remembers what it was asked for. */
let outside: Server;
let OUT: string;
const received: string[] = [];
const GIF = Buffer.from('R0lGODlhAQABAIAAAAAAAP///ywAAAAAAQABAAACAUwAOw==', 'base64');

beforeAll(async () => {
  outside = createServer((req, res) => {
    received.push(req.url ?? '');
    res.writeHead(200, { 'content-type': 'image/gif', 'access-control-allow-origin': '*' });
    res.end(GIF);
  });
  await new Promise<void>((r) => outside.listen(0, '127.0.0.1', r));
  OUT = `http://127.0.0.1:${(outside.address() as AddressInfo).port}`;
  [server, { browser, close: closeBrowser }] = await Promise.all([startWebServer(SLOT), launch()]);
  ctx = await browser.newContext({ viewport: { width: 1100, height: 900 } });
});
afterAll(async () => {
  await ctx?.close();
  await closeBrowser?.();
  await server?.stop();
  await new Promise<void>((r) => (outside ? outside.close(() => r()) : r()));
});

/** Python that displays every vector, each pointing at the outside host under its own path. */
function payloads(out: string): string {
  const html = [
    `<img src="${out}/img" alt="a">`,
    `<img srcset="${out}/srcset 1x, ${out}/srcset2 2x">`,
    `<picture><source srcset="${out}/picture"><img src="${out}/picture-img"></picture>`,
    `<video src="${out}/video" poster="${out}/poster" preload="auto"><source src="${out}/source"></video>`,
    `<audio src="${out}/audio" preload="auto"></audio>`,
    `<input type="image" src="${out}/input">`,
    `<table background="${out}/table"><tr><td background="${out}/td">t</td></tr></table>`,
    `<div style="width:20px;height:20px;background:url(${out}/style-url)">s</div>`,
    `<div style="width:20px;height:20px;background-image:image-set('${out}/image-set' 1x)">s</div>`,
    `<p class="f">font</p><style>@import url(${out}/import.css);@import "${out}/import2.css";` +
      `@font-face{font-family:rcf;src:url(${out}/font.woff2)}.f{font-family:rcf;background:url(${out}/style-el)}</style>`,
    `<svg width="40" height="40"><image href="${out}/svg-image" width="20" height="20"/>` +
      `<image xlink:href="${out}/svg-xlink" width="20" height="20"/>` +
      `<filter id="fi"><feImage href="${out}/feimage"/></filter><rect width="9" height="9" filter="url(#fi)"/>` +
      `<rect width="9" height="9" fill="url(${out}/fill.svg#g)"/></svg>`,
    `<link rel="stylesheet" href="${out}/link.css"><link rel="prefetch" href="${out}/prefetch">`,
  ].join('');
  const svg =
    '<svg xmlns="http://www.w3.org/2000/svg" xmlns:xlink="http://www.w3.org/1999/xlink" width="40" height="40">' +
    `<style>rect{fill:url(${out}/svg-style.svg#x)}</style><image href="${out}/svgout-image" width="9" height="9"/>` +
    `<image xlink:href="${out}/svgout-xlink" width="9" height="9"/><rect width="9" height="9"/></svg>`;
  const md =
    `Markdown ![remote](${out}/md-image) and <img src="${out}/md-html">, inline $x^2$.\n\n` +
    '$$\n\\int_0^1 x\\,dx\n$$\n';
  return [
    'from IPython.display import HTML, Markdown, Javascript, display',
    `display(HTML(${JSON.stringify(`<style>.lead{background:url(${out}/leading-style)}</style><p class="lead">lead</p>`)}))`,
    `display(HTML(${JSON.stringify(html)}))`,
    `display({"image/svg+xml": ${JSON.stringify(svg)}}, raw=True)`,
    `display(Markdown(${JSON.stringify(md)}))`,
    // Split so that the host page's <script type="text/x-python"> holding this code does not end early.
    `display(HTML('<script>document.body.append("scripted-ok")</scr' + 'ipt>'))`,
    `display(Javascript('element.textContent = "javascript-ok"'))`,
    'print("done")',
  ].join('\n');
}

/** The frame whose body says `text` (the sandboxed output frames are opaque-origin; playwright sees in). */
async function frameSaying(frames: Frame[], text: string): Promise<boolean> {
  for (const f of frames) {
    const body = await f
      .evaluate(
        () =>
          (globalThis as unknown as { document: { body: { textContent: string | null } | null } }).document
            .body?.textContent ?? '',
      )
      .catch(() => '');
    if (body.includes(text)) return true;
  }
  return false;
}

describe('hostile output on a host page', () => {
  it('loads nothing from outside, in any page or frame', async () => {
    const requests: string[] = [];
    ctx.on('request', (r) => requests.push(r.url()));
    const p = await ctx.newPage();
    server.pages.set(
      '/tracked',
      '<!doctype html><html><body>' +
        `<script src="${server.base}/static/runcell.js"></script>` +
        `<script type="text/x-python" data-runcell>${payloads(OUT)}</script></body></html>`,
    );
    await p.goto(`${server.site}/tracked`);
    const c = p.locator('.runcell');
    await c.locator('.rc-run').click();
    await expect.poll(() => c.getAttribute('data-runs'), { timeout: 30_000 }).toBe('1');
    // Everything shown: Markdown (its chunk) with KaTeX, both frames' scripts ran.
    await expect.poll(() => c.locator('.rc-markdown .katex').count(), { timeout: 20_000 }).toBe(2);
    expect(await c.locator('.rc-markdown .katex-display').count()).toBe(1);
    expect(await c.locator('.rc-markdown img[alt="remote"]').count()).toBe(1);
    expect(await c.locator('iframe.rc-frame').count()).toBe(2);
    await expect.poll(() => frameSaying(p.frames(), 'scripted-ok'), { timeout: 20_000 }).toBe(true);
    await expect.poll(() => frameSaying(p.frames(), 'javascript-ok'), { timeout: 20_000 }).toBe(true);
    expect(await c.locator('.rc-html p.lead').count()).toBe(1);
    await p.waitForLoadState('networkidle');

    const mine = new Set([new URL(server.base).origin, new URL(server.site).origin]);
    const elsewhere = requests.filter((u) => /^https?:/.test(u) && !mine.has(new URL(u).origin));
    expect(elsewhere).toEqual([]);
    expect(received).toEqual([]);

    // The log and the outside host do see a request when one is made (the check can fail).
    await p.evaluate((u) => {
      const g = globalThis as unknown as { Image: new () => { src: string } };
      new g.Image().src = u;
    }, `${OUT}/control`);
    await expect.poll(() => received, { timeout: 10_000 }).toEqual(['/control']);
    expect(requests).toContain(`${OUT}/control`);
    await p.close();
  });
});
