// The stats page (/stats) in a real browser, against a real server (real kernels, PGlite store,
// the sampler every 250 ms): without a token it shows a sign-in prompt, a wrong token a visible
// error, and with the right token the totals, legends and table of the executions just run (some
// failing), the kernel handed out, the range picker, a live refresh without reload, and a phone
// layout without sideways scrolling. Last, docs/img/stats.png's source: the page over an hour of
// history (written into the store for the picture, after the assertions).
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { StatsReply } from '../../server/stats/schemas.js';
import type { Store } from '../../server/store/db.js';
import { launch, screenshot, startWebServer, type WebServer } from './helpers.js';

const SLOT = 46;
const TOKEN = 'e2e-stats-page-token-0123456789abc';
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let page: Page;
/** Console messages about the Content-Security-Policy: the page must run without inline scripts. */
const cspViolations: string[] = [];

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `token ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

async function statsUntil(ok: (s: StatsReply) => boolean, what: string): Promise<StatsReply> {
  const deadline = Date.now() + 30_000;
  for (;;) {
    const s = await api<StatsReply>('GET', '/api/stats');
    if (ok(s)) return s;
    if (Date.now() > deadline) throw new Error(`timed out waiting for ${what}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** The page's own formatting of a latency (web/src/pages/stats.ts fmtMs). */
function fmtMs(v: number | null): string {
  if (v === null) return '–';
  if (v < 10) return `${v.toFixed(1)} ms`;
  if (v < 1000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(2)} s`;
}

const text = async (id: string) => (await page.locator(`#${id}`).textContent()) ?? '';

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([
    startWebServer(SLOT, { tokens: [TOKEN], config: { statsSampleMs: 250, instanceId: 'e2e-stats' } }),
    launch(),
  ]);
  page = await (await browser.newContext({ viewport: { width: 1200, height: 1000 } })).newPage();
  page.on('console', (m) => {
    if (/Content.Security.Policy/i.test(m.text())) cspViolations.push(m.text());
  });
});

afterAll(async () => {
  await closeBrowser?.();
  await server?.stop();
});

describe('the stats page in a browser', () => {
  let kernel: string;

  it('asks for a token when the tab has none', async () => {
    await page.goto(`${server.base}/stats`);
    await expect.poll(() => page.locator('#login').isVisible()).toBe(true);
    expect(await page.locator('#login h2').textContent()).toBe('Sign in to see the stats');
    expect(await text('status')).toBe('Sign in with an API token to see the stats.');
    expect(await page.locator('#board').isVisible()).toBe(false);
    expect(await page.locator('#error').isVisible()).toBe(false);
  });

  it('shows a visible error for a wrong token, and stays signed out', async () => {
    await page.locator('#token').fill('not-the-token-at-all-0123456789');
    await page.locator('#login button[type=submit]').click();
    await expect.poll(() => page.locator('#error').isVisible()).toBe(true);
    expect(await text('error')).toMatch(/^The token was refused: invalid token\.$/);
    expect(await page.locator('#login').isVisible()).toBe(true);
    expect(await page.locator('#board').isVisible()).toBe(false);
  });

  it('shows the totals, legends and table of real executions and the kernel handed out', async () => {
    const codes = ['1 + 1', '1/0', 'print("hi")', 'undefined_name', 'import time; time.sleep(0.2)'];
    for (const code of codes) await api('POST', '/api/execute', { code });
    kernel = (await api<{ id: string }>('POST', '/api/kernels', {})).id;
    const s = await statsUntil(
      (x) => x.totals.executions === 5 && x.totals.unfinished === 0 && x.current.kernels === 1,
      'five finished executions and a sample with the kernel',
    );
    expect(s.totals.errors).toBe(2);

    await page.locator('#token').fill(TOKEN);
    await page.locator('#login button[type=submit]').click();
    await expect.poll(() => page.locator('#board').isVisible()).toBe(true);
    expect(await page.locator('#error').isVisible()).toBe(false);
    expect(await page.locator('#login').isVisible()).toBe(false);
    expect(await text('status')).toBe('Live: refreshes every 15 s.');
    expect(await text('t-executions')).toBe('5');
    expect(await text('t-errors')).toBe('2');
    expect(await text('t-error-rate')).toBe('40.0% of executions');
    expect(await text('t-p50')).toBe(fmtMs(s.totals.latency_ms.p50));
    expect(await text('t-p90')).toBe(fmtMs(s.totals.latency_ms.p90));
    expect(await text('t-p99')).toBe(fmtMs(s.totals.latency_ms.p99));
    // The sample the page shows may still count a one-shot kernel that was shutting down (the API-side
    // test checks the count exactly); at least the kernel handed out above is there.
    expect(await text('t-kernels')).toMatch(/^[12]$/);
    expect(await text('t-kernels-detail')).toMatch(/^[01] busy · \d+ warm · 1 instance$/);
    expect(await page.locator('#empty').isVisible()).toBe(false);
    expect(await page.locator('#no-samples').isVisible()).toBe(false);

    // Five charts, each with its legend.
    expect(await page.locator('.chart canvas').count()).toBe(5);
    const legend = (id: string) => page.locator(`#${id} .u-legend .u-label`).allInnerTexts();
    expect(await legend('c-executions')).toEqual(['Time', 'executions']);
    expect(await legend('c-errors')).toEqual(['Time', 'error']);
    expect(await legend('c-latency')).toEqual(['Time', 'p50', 'p90', 'p99']);
    expect(await legend('c-kernels')).toEqual(['Time', 'handed out', 'busy', 'warm pool']);
    expect(await legend('c-connections')).toEqual(['Time', 'websockets', 'long-polls']);
    // Away from the cursor the legends show the newest bucket's figures.
    const values = (id: string) => page.locator(`#${id} .u-legend .u-value`).allInnerTexts();
    const [time, executions] = await values('c-executions');
    expect(time).toMatch(/\d{1,2}:\d{2}/);
    expect(executions).toMatch(/^\d+$/);
    expect((await values('c-kernels'))[1]).toMatch(/^\d+(\.\d)?$/);

    // The same figures as a table: the buckets with executions add up to the totals.
    await page.locator('.stats-table summary').click();
    const rows = await page
      .locator('#rows tr')
      .evaluateAll((trs) =>
        trs.map((tr) => [...tr.querySelectorAll('td')].map((td) => td.textContent ?? '')),
      );
    expect(rows.length).toBeGreaterThanOrEqual(1);
    expect(rows.reduce((n, r) => n + Number(r[1]), 0)).toBe(5);
    expect(rows.reduce((n, r) => n + Number(r[2]), 0)).toBe(2);
    expect(await text('updated')).toMatch(/^Last hour in 1 min buckets · updated /);
    await screenshot(page, 'stats-live');
  });

  it('switches ranges with the picker', async () => {
    await page.locator('#ranges button[data-range="24h"]').click();
    await expect.poll(() => text('updated')).toMatch(/^Last 24 hours in 15 min buckets/);
    expect(await page.locator('#ranges button[data-range="24h"]').getAttribute('aria-pressed')).toBe('true');
    expect(await page.locator('#ranges button[data-range="1h"]').getAttribute('aria-pressed')).toBe('false');
    expect(new URL(page.url()).hash).toBe('#24h');
    expect(await text('t-executions')).toBe('5');
    // A reload keeps the range (and the tab keeps the token).
    await page.reload();
    await expect.poll(() => text('updated')).toMatch(/^Last 24 hours in 15 min buckets/);
    await page.locator('#ranges button[data-range="1h"]').click();
    await expect.poll(() => text('updated')).toMatch(/^Last hour in 1 min buckets/);
  });

  it('refreshes live: a new failing execution shows up without a reload', async () => {
    const navigations: string[] = [];
    page.on('framenavigated', (f) => navigations.push(f.url()));
    await api('POST', '/api/execute', { code: 'raise ValueError("late")' });
    await expect.poll(() => text('t-executions'), { timeout: 25_000, interval: 250 }).toBe('6');
    expect(await text('t-errors')).toBe('3');
    expect(await text('t-error-rate')).toBe('50.0% of executions');
    expect(navigations).toEqual([]);
  });

  it('fits a phone screen', async () => {
    const ctx = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const phone = await ctx.newPage();
    await phone.goto(`${server.base}/stats`);
    await phone.locator('#token').fill(TOKEN);
    await phone.locator('#login button[type=submit]').click();
    await expect.poll(() => phone.locator('#board').isVisible()).toBe(true);
    expect(await phone.locator('#t-executions').textContent()).toBe('6');
    expect(await phone.evaluate<number>('document.documentElement.scrollWidth')).toBeLessThanOrEqual(390);
    for (const box of await phone
      .locator('.chart')
      .evaluateAll((els) => els.map((e) => e.getBoundingClientRect())))
      expect(box.right).toBeLessThanOrEqual(390);
    await screenshot(phone, 'stats-phone');
    await ctx.close();
  });

  it('forgetting the token signs out', async () => {
    await page.locator('#forget').click();
    expect(await page.locator('#login').isVisible()).toBe(true);
    expect(await page.locator('#board').isVisible()).toBe(false);
    expect(await page.evaluate<string | null>("sessionStorage.getItem('runcell-token')")).toBeNull();
    expect(cspViolations).toEqual([]);
    await api('DELETE', `/api/kernels/${kernel}`).catch(() => {});
  });

  // Not an assertion about the page: the picture in docs/img/stats.png, with an hour of history
  // (written straight into the store) so the charts have something to show.
  it('renders an hour of history for the docs screenshot', async () => {
    const store = server.app.ctx.store as Store;
    const now = Date.now();
    const minute = 60_000;
    for (let m = 59; m >= 1; m--) {
      const n = 4 + Math.round(6 * (1 + Math.sin(m / 6)));
      for (let i = 0; i < n; i++) {
        const startedAt = new Date(now - m * minute + i * 1000);
        const id = store.records.begin({
          message: {
            header: { msg_id: `demo-${m}-${i}`, msg_type: 'execute_request' },
            content: { code: '' },
          },
          kernelSpec: 'python3',
          transport: 'websocket',
          startedAt,
        });
        const failed = (m * 7 + i) % 13 === 0;
        const duration = 40 + ((m * 37 + i * 53) % 160) + (i === n - 1 ? 900 : 0);
        store.records.finish(id, {
          status: failed ? (m % 2 ? 'error' : 'timeout') : 'ok',
          finishedAt: new Date(startedAt.getTime() + duration),
        });
      }
      const kernels = 2 + Math.round(3 * (1 + Math.sin(m / 8)));
      await store.sql`insert into stats_samples
        (instance, at, interval_ms, kernels, busy, pooled, starting, queued, websockets, longpolls, loop_lag_ms)
        values ('e2e-stats', ${new Date(now - m * minute + 30_000)}, 15000, ${kernels},
                ${Math.max(0, kernels - 3)}, 2, 0, 0, ${kernels}, ${m % 3}, 12)`;
    }
    await store.records.flush();
    await page.locator('#token').fill(TOKEN);
    await page.locator('#login button[type=submit]').click();
    await expect.poll(() => page.locator('#board').isVisible()).toBe(true);
    expect(Number((await text('t-executions')).replace(/\D/g, ''))).toBeGreaterThan(300);
    await screenshot(page, 'stats');
  });
});
