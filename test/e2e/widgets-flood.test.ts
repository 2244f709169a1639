// Hostile widgets in a real browser against a real kernel: script in an HTML widget value never runs,
// and 10,000 widgets opened in one cell (past the cap of 2,000) end in a notice, with the tab and the
// kernel still working. A flood: it runs in the isolated tier, alone (vitest.config.ts), like the
// hostile-code tests.
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, startWebServer, type WebServer } from './helpers.js';

const SLOT = 81;
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let ctx: BrowserContext;
let page: Page;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

async function run(cell: Locator, timeout = 60_000): Promise<Locator> {
  const before = Number((await cell.getAttribute('data-runs')) ?? 0);
  await cell.locator('.rc-run').click();
  await expect
    .poll(async () => Number((await cell.getAttribute('data-runs')) ?? 0), { timeout })
    .toBe(before + 1);
  return cell.locator('.rc-outputs');
}

const HOSTILE = `from ipywidgets import HTML, HTMLMath
from IPython.display import display
display(HTML('<b id="bold">bold</b><script>window.__pwned = 1</script><img src="x" onerror="window.__pwned = 2">'))
display(HTMLMath('Area: $\\pi r^2$ <img src=y onerror="window.__pwned = 3">'))`;

// 10,000 widgets opened as a hostile kernel opens them: straight comm_opens (ipywidgets' own Python
// classes need about 2.5 ms a widget in traitlets, 25 s for 10,000 here: the kernel's time, not ours),
// then a VBox of all of them, displayed.
const MANY = `from ipykernel.comm import Comm
from IPython.display import display
M = dict(_model_module="jupyter-js-widgets", _view_module="jupyter-js-widgets")
ids = [Comm(target_name="jupyter.widget", data=dict(M, _model_name="LabelModel", _view_name="LabelView", value=str(i))).comm_id for i in range(10000)]
box = Comm(target_name="jupyter.widget", data=dict(M, _model_name="VBoxModel", _view_name="VBoxView", children=["IPY_MODEL_" + i for i in ids]))
display({"application/vnd.jupyter.widget-view+json": {"model_id": box.comm_id}, "text/plain": "VBox"}, raw=True)`;

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([startWebServer(SLOT), launch()]);
  ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  const cells: [string, string][] = [
    ['hostile', HOSTILE],
    ['many', MANY],
    ['after', 'print(len(ids))'],
  ];
  server.pages.set(
    '/hostile',
    `<!doctype html><html><head><meta name="viewport" content="width=device-width"></head><body>
<script src="${server.base}/static/runcell.js"></script>
${cells.map(([id, code]) => `<div id="${id}" data-runcell data-link="h">${esc(code)}</div>`).join('\n')}
</body></html>`,
  );
  page = await ctx.newPage();
  await page.goto(`${server.site}/hostile`);
  await page.locator('#hostile .rc-run').waitFor();
});

afterAll(async () => {
  await ctx?.close();
  await closeBrowser?.();
  await server?.stop();
});

describe('hostile widgets', () => {
  it('hostile widgets are contained: no script from an HTML value, 10,000 widgets capped', async () => {
    const out = await run(page.locator('#hostile'));
    await expect.poll(() => out.locator('.rc-w-html b').textContent(), { timeout: 20_000 }).toBe('bold');
    await expect.poll(() => out.locator('.katex').count(), { timeout: 10_000 }).toBeGreaterThan(0);
    expect(
      await page.evaluate(() => (globalThis as unknown as { __pwned?: number }).__pwned),
    ).toBeUndefined();
    expect(await out.locator('script').count()).toBe(0);
    const many = await run(page.locator('#many'));
    // The box is opened after the cap: where it would be, a notice says how many were not shown. (When
    // the kernel's own output queue dropped the box's display in the flood, the cell says it instead.)
    const capped = /more than 2000 widgets \((\d+)(?: from this run)? not shown\)/;
    await expect.poll(async () => (await many.textContent()) ?? '', { timeout: 30_000 }).toMatch(capped);
    const shown = capped.exec((await many.textContent()) ?? '')?.[1];
    // 8,001 past the cap, or fewer: the kernel's own PUB socket drops what overflows its queue (1,000
    // messages), which under a CPU hog was more than half of the flood.
    expect(Number(shown)).toBeGreaterThan(0);
    expect(Number(shown)).toBeLessThanOrEqual(8010);
    expect(await many.locator('.rc-w-label').count()).toBe(0);
    // The tab still answers, and its cells still run.
    expect(await page.evaluate(() => 6 * 7)).toBe(42);
    expect(await (await run(page.locator('#after'))).textContent()).toBe('10000\n');
  });
});
