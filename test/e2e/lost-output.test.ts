// A long-poll page that falls behind the server's replay log (a phone on a slow network, a tab the
// browser throttled): the cell says how many of the kernel's messages it missed, shows what came
// after, and finishes, rather than showing an incomplete output as if it were whole.
import type { Browser, BrowserContext, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, startWebServer, type WebServer } from './helpers.js';

const SLOT = 82;
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let ctx: BrowserContext;
let page: Page;
/** While set, each poll waits this long before it reaches the server. */
let holdMs = 0;

const BURST = `from IPython.display import display
for i in range(300):
    display({"text/plain": f"line {i}"}, raw=True)
import time; time.sleep(0.5)
print("end")`;

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([
    // A replay log of 20 messages: the burst below is 15 times that.
    startWebServer(SLOT, { config: { replayMessages: 20 } }),
    launch(),
  ]);
  server.pages.set(
    '/slow',
    `<!doctype html><html><body><script src="${server.base}/static/runcell.js"></script>
<pre id="warm" data-runcell data-link="k" data-transport="longpoll">print("warm")</pre>
<pre id="burst" data-runcell data-link="k" data-transport="longpoll">${BURST}</pre>
</body></html>`,
  );
  ctx = await browser.newContext();
  page = await ctx.newPage();
  // The poll itself (POST /api/poll/K), not the sends (POST /api/poll/K/messages).
  await page.route(/\/api\/poll\/[^/]+$/, async (route) => {
    if (holdMs > 0) await new Promise((r) => setTimeout(r, holdMs));
    await route.continue().catch(() => undefined);
  });
  await page.goto(`${server.site}/slow`);
});

afterAll(async () => {
  await ctx?.close();
  await closeBrowser?.();
  await server?.stop();
});

async function run(id: string): Promise<string> {
  const cell = page.locator(`#${id}`).locator('xpath=ancestor-or-self::*[contains(@class,"runcell")][1]');
  const before = Number((await cell.getAttribute('data-runs')) ?? 0);
  await cell.locator('.rc-run').click();
  await expect
    .poll(async () => Number((await cell.getAttribute('data-runs')) ?? 0), { timeout: 60_000 })
    .toBe(before + 1);
  return (await cell.locator('.rc-outputs').textContent()) ?? '';
}

describe('a long-poll page behind the replay log', () => {
  it('shows how many messages it missed, then the rest, and the cell finishes', async () => {
    expect(await run('warm')).toBe('warm\n');
    holdMs = 1_500;
    const out = await run('burst');
    const lost = Number(/^(\d+) message\(s\) from the kernel were lost/.exec(out)?.[1]);
    // At least the burst less the log's 20 and the first poll's share; never more than was sent (the
    // burst and the few status and input messages around it).
    expect(lost).toBeGreaterThan(200);
    expect(lost).toBeLessThan(310);
    expect(out).toMatch(/Output shown may be incomplete\./);
    expect(out.endsWith('end\n')).toBe(true);
    // The lines shown are the burst's last ones: none repeated, none out of order.
    const shown = [...out.matchAll(/line (\d+)/g)].map((m) => Number(m[1]));
    expect(shown).toEqual([...shown].sort((a, b) => a - b));
    expect(new Set(shown).size).toBe(shown.length);
    expect(shown.length + lost).toBeLessThan(310);
    holdMs = 0;
    // The page goes on working.
    expect(await run('warm')).toBe('warm\n');
  });
});
