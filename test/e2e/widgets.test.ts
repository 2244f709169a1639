// ipywidgets in a real browser against real kernels (Debian's ipywidgets 6.0, protocol 1): interact
// with a printed value and a matplotlib plot, a Button callback, Output capture, two views of one
// model, jslink, long-poll, a dropped websocket in the middle, a restart and a permalink's snapshot.
// Hostile widgets are widgets-flood.test.ts's (run alone). Protocol 2 is covered by recorded sequences
// in test/web/widgets/.
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, screenshot, startWebServer, type WebServer } from './helpers.js';

const SLOT = 80;
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let ctx: BrowserContext;
let page: Page;

const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;');

/** A page of cells on the author's site; `cells` are [id, code, extra attributes]. */
function pageHtml(cells: [string, string, string?][]): string {
  return `<!doctype html><html><head><meta name="viewport" content="width=device-width"></head><body>
<script>
  // Every websocket the page opens, so a test can drop one.
  const N = WebSocket; window.__ws = [];
  window.WebSocket = new Proxy(N, { construct(t, a) { const w = Reflect.construct(t, a); window.__ws.push(w); return w; } });
</script>
<script src="${server.base}/static/runcell.js"></script>
${cells.map(([id, code, attrs]) => `<div id="${id}" data-runcell ${attrs ?? ''}>${esc(code)}</div>`).join('\n')}
</body></html>`;
}

async function run(cell: Locator, timeout = 60_000): Promise<Locator> {
  const before = Number((await cell.getAttribute('data-runs')) ?? 0);
  await cell.locator('.rc-run').click();
  await expect
    .poll(async () => Number((await cell.getAttribute('data-runs')) ?? 0), { timeout })
    .toBe(before + 1);
  return cell.locator('.rc-outputs');
}

/**
 * Moves a range input by `steps` arrow keys (the way a keyboard or a drag sends input events), with
 * `pauseMs` between steps for a drag that takes a while, as a hand's does.
 */
async function nudge(slider: Locator, steps: number, pauseMs = 0): Promise<void> {
  await slider.focus();
  for (let i = 0; i < Math.abs(steps); i++) {
    if (i > 0 && pauseMs) await new Promise((r) => setTimeout(r, pauseMs));
    await slider.press(steps > 0 ? 'ArrowRight' : 'ArrowLeft');
  }
}

const INTERACT = `import matplotlib
matplotlib.use('module://matplotlib_inline.backend_inline')
import matplotlib.pyplot as plt
from ipywidgets import interact
def wave(freq=3):
    print("freq is", freq)
    plt.figure(figsize=(3, 2)); plt.plot([i * freq for i in range(5)]); plt.title(f"f={freq}"); plt.show()
interact(wave, freq=(1, 10))`;

const BUTTON = `from ipywidgets import Button, Output
from IPython.display import display
clicks = []
out = Output()
b = Button(description="Click me", button_style="success")
def on_click(_):
    clicks.append(1)
    with out:
        print("clicked", len(clicks))
b.on_click(on_click)
display(b, out)`;

const VIEWS = `from ipywidgets import IntSlider, jslink
s = IntSlider(value=5, description="shared")
a, c = IntSlider(value=1, description="a"), IntSlider(value=1, description="c")
jslink((a, "value"), (c, "value"))
display(s, s, a, c)`;

const SLIDER = `from ipywidgets import IntSlider, Output
from IPython.display import display
s = IntSlider(value=0, max=50, description="n")
out = Output()
def show(change):
    out.clear_output(wait=True)
    with out:
        print("n =", change["new"])
s.observe(show, names="value")
display(s, out)`;

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([startWebServer(SLOT), launch()]);
  ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
  server.pages.set(
    '/widgets',
    pageHtml([
      ['interact', INTERACT, 'data-link="w"'],
      ['button', BUTTON, 'data-link="w"'],
      ['views', VIEWS, 'data-link="w"'],
      ['probe', 'print(len(clicks), s.value, c.value)', 'data-link="w"'],
      ['setter', 's.value = 9', 'data-link="w"'],
    ]),
  );
  server.pages.set('/longpoll', pageHtml([['lp', SLIDER, 'data-transport="longpoll"']]));
  server.pages.set('/ws', pageHtml([['ws', SLIDER]]));
  page = await ctx.newPage();
  await page.goto(`${server.site}/widgets`);
  await page.locator('#interact .rc-run').waitFor();
});

afterAll(async () => {
  await ctx?.close();
  await closeBrowser?.();
  await server?.stop();
});

describe('widgets in the embed', () => {
  it('interact: moving the slider changes the printed value and the plot, in place', async () => {
    const cell = page.locator('#interact');
    const out = await run(cell);
    const slider = out.locator('input[type=range]');
    await slider.waitFor({ timeout: 20_000 });
    const widgetOut = out.locator('.rc-w-output');
    await expect.poll(() => widgetOut.textContent(), { timeout: 20_000 }).toContain('freq is 3');
    const img = widgetOut.locator('img');
    await expect.poll(() => img.count(), { timeout: 20_000 }).toBe(1);
    const before = await img.getAttribute('src');
    // ipywidgets 6 warns on stderr when the frontend did not validate itself: none shown.
    expect(await out.textContent()).not.toContain('Widget Javascript');
    await nudge(slider, 2);
    await expect.poll(() => widgetOut.textContent(), { timeout: 20_000 }).toContain('freq is 5');
    expect(await widgetOut.textContent()).not.toContain('freq is 3');
    await expect.poll(() => img.getAttribute('src'), { timeout: 20_000 }).not.toBe(before);
    expect(await img.count()).toBe(1);
    expect(await out.locator('.rc-w-readout').textContent()).toBe('5');
    await screenshot(page, 'widgets-interact');
  });

  it('a Button click reaches its Python callback; an Output widget captures its prints', async () => {
    const cell = page.locator('#button');
    const out = await run(cell);
    const b = out.locator('button.rc-w-button');
    await b.waitFor({ timeout: 20_000 });
    expect(await b.textContent()).toBe('Click me');
    expect(await b.getAttribute('class')).toContain('rc-w-success');
    await b.click();
    await b.click();
    await expect
      .poll(() => out.locator('.rc-w-output').textContent(), { timeout: 20_000 })
      .toBe('clicked 1\nclicked 2\n');
    // Captured: nothing leaked into the cell's own output stream.
    expect(await out.locator(':scope > .rc-stream').count()).toBe(0);
  });

  it('two views of one model stay in step both ways; jslink links in the browser', async () => {
    const cell = page.locator('#views');
    const out = await run(cell);
    const rows = out.locator('.rc-w-slider-row');
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBe(4);
    await nudge(rows.nth(0).locator('input'), 1);
    await expect.poll(() => rows.nth(1).locator('.rc-w-readout').textContent()).toBe('6');
    await nudge(rows.nth(2).locator('input'), 3);
    await expect.poll(() => rows.nth(3).locator('.rc-w-readout').textContent()).toBe('4');
    const probe = page.locator('#probe');
    await expect.poll(async () => (await run(probe)).textContent(), { timeout: 30_000 }).toBe('2 6 4\n');
    // Kernel -> every view.
    await run(page.locator('#setter'));
    await expect.poll(() => rows.nth(0).locator('.rc-w-readout').textContent()).toBe('9');
    expect(await rows.nth(1).locator('.rc-w-readout').textContent()).toBe('9');
  });

  it('a permalink shows the stored widget as a disabled snapshot, live again after Run', async () => {
    const cell = page.locator('#interact');
    await cell.locator('.rc-share-btn').click();
    const url = await cell.locator('.rc-share-url').inputValue({ timeout: 10_000 });
    const p = await ctx.newPage();
    await p.goto(url);
    const pc = p.locator('#permalink .runcell, #permalink > div').first();
    const slider = pc.locator('input[type=range]');
    await slider.waitFor({ timeout: 20_000 });
    expect(await slider.isDisabled()).toBe(true);
    expect(await pc.locator('.rc-w-readout').textContent()).toBe('5');
    expect(await pc.locator('.rc-w-output').textContent()).toContain('freq is 5');
    expect(await pc.locator('.rc-widget').getAttribute('data-mounted')).toBe('snapshot');
    await screenshot(p, 'widgets-permalink');
    await run(pc);
    await expect
      .poll(() => pc.locator('.rc-widget').getAttribute('data-mounted'), { timeout: 20_000 })
      .toBe('live');
    expect(await pc.locator('input[type=range]').isDisabled()).toBe(false);
    await p.close();
  });

  it('works over long-poll', async () => {
    const p = await ctx.newPage();
    await p.goto(`${server.site}/longpoll`);
    const cell = p.locator('#lp');
    const out = await run(cell);
    expect(await cell.getAttribute('data-transport')).toBe('longpoll');
    await nudge(out.locator('input[type=range]'), 3);
    await expect.poll(() => out.locator('.rc-w-output').textContent(), { timeout: 20_000 }).toBe('n = 3\n');
    await p.close();
  });

  it('a dropped websocket in the middle of a drag: the last value still arrives after the reconnect', async () => {
    const p = await ctx.newPage();
    await p.goto(`${server.site}/ws`);
    const cell = p.locator('#ws');
    const out = await run(cell);
    const slider = out.locator('input[type=range]');
    await nudge(slider, 2);
    await expect.poll(() => out.locator('.rc-w-output').textContent(), { timeout: 20_000 }).toBe('n = 2\n');
    await p.evaluate(() => {
      for (const w of (globalThis as unknown as { __ws: WebSocket[] }).__ws) w.close(4000, 'test drop');
    });
    // A drag that goes on while the page reconnects (20 steps over a second or more: the reconnect lands
    // in the middle), so the kernel's answer to the resync's request_state arrives while the page is
    // ahead of it.
    await nudge(slider, 20, 50);
    await expect.poll(() => out.locator('.rc-w-output').textContent(), { timeout: 30_000 }).toBe('n = 22\n');
    expect(await out.locator('.rc-w-readout').textContent()).toBe('22');
    // A restart leaves the widget disabled with the reason.
    await cell.locator('.rc-restart').click();
    await expect.poll(() => slider.isDisabled(), { timeout: 20_000 }).toBe(true);
    expect(await out.locator('.rc-w').first().getAttribute('title')).toContain('restarted');
    await p.close();
  });
});
