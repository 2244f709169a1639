// What the embed promises about trouble, in a real browser against a real server and real kernels
// (docs/embed.md, "Connection", "Events" and `eager`): the DOM events fire as documented, no kernel
// starts before Run unless the author asks for `eager` (then on sight); a dropped network
// connection is survived, with the output printed meanwhile replayed exactly once; a killed kernel is
// explained with a Restart button that gives a working kernel. The page reaches runcell through a TCP
// proxy in this file, which can cut every connection and refuse new ones, as a network outage does.
import { connect, createServer, type Socket } from 'node:net';
import type { Browser, BrowserContext, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, screenshot, startWebServer, type WebServer } from './helpers.js';

const SLOT = 42;
let server: WebServer;
let proxy: Proxy;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let ctx: BrowserContext;
let page: Page;
let cell: Locator;

interface Proxy {
  origin: string;
  /** Cuts every open connection and refuses new ones until restore(). */
  drop(): void;
  restore(): void;
  close(): Promise<void>;
}

async function startProxy(target: string): Promise<Proxy> {
  const { hostname, port } = new URL(target);
  const open = new Set<Socket>();
  let down = false;
  const srv = createServer((client) => {
    if (down) {
      client.destroy();
      return;
    }
    const upstream = connect(Number(port), hostname);
    open.add(client).add(upstream);
    const end = () => {
      client.destroy();
      upstream.destroy();
      open.delete(client);
      open.delete(upstream);
    };
    client.on('error', end).on('close', end);
    upstream.on('error', end).on('close', end);
    client.pipe(upstream).pipe(client);
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const addr = srv.address() as { port: number };
  return {
    origin: `http://127.0.0.1:${addr.port}`,
    drop() {
      down = true;
      for (const s of open) s.destroy();
    },
    restore() {
      down = false;
    },
    close: () =>
      new Promise<void>((r) => {
        for (const s of open) s.destroy();
        srv.close(() => r());
      }),
  };
}

interface Recorded {
  type: string;
  target: string;
  detail: {
    status?: string;
    reason?: string;
    kernelId?: string;
    output?: { output_type: string; name?: string; text?: string };
    ename?: string;
    evalue?: string;
    traceback?: string[];
    message?: string;
  } | null;
}

// Every runcell:* event that reaches the document, in order, before runcell.js runs.
const RECORD_EVENTS = `
  window.__events = [];
  for (const t of ['runcell:loaded', 'runcell:status', 'runcell:output', 'runcell:error', 'runcell:done'])
    document.addEventListener(t, (e) => window.__events.push({
      type: t,
      target: e.target === document ? 'document' : e.target.id,
      detail: JSON.parse(JSON.stringify(e.detail ?? null)),
    }));
`;

type Win = {
  __events: Recorded[];
  RunCell: { makeCell(s: string): { code: string; kernel: { id?: string } } };
};
const events = (): Promise<Recorded[]> => page.evaluate(() => (globalThis as unknown as Win).__events);
const statuses = async (from = 0) =>
  (await events())
    .slice(from)
    .filter((e) => e.type === 'runcell:status')
    .map((e) => e.detail?.status);
const setCode = (code: string) =>
  page.evaluate((c) => {
    (globalThis as unknown as Win).RunCell.makeCell('#cell').code = c;
  }, code);
const kernelId = () =>
  page.evaluate(() => (globalThis as unknown as Win).RunCell.makeCell('#cell').kernel.id);
const stdout = () =>
  cell
    .locator('.rc-stdout')
    .allTextContents()
    .then((t) => t.join(''));
const runs = async () => Number((await cell.getAttribute('data-runs')) ?? 0);

/** Index of each wanted status, in order, each after the previous one (-1 when missing). */
function inOrder(list: (string | undefined)[], wanted: string[]): number[] {
  let at = -1;
  return wanted.map((w) => {
    at = list.indexOf(w, at + 1);
    return at;
  });
}

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([startWebServer(SLOT), launch()]);
  proxy = await startProxy(server.base);
  server.pages.set(
    '/cell',
    `<!doctype html><html><body><script src="${proxy.origin}/static/runcell.js"></script>
<div id="cell" data-runcell data-transport="websocket">print("hello", flush=True)</div></body></html>`,
  );
  ctx = await browser.newContext({ viewport: { width: 1000, height: 700 } });
  await ctx.addInitScript(RECORD_EVENTS);
  page = await ctx.newPage();
});

afterAll(async () => {
  await ctx?.close();
  await closeBrowser?.();
  await proxy?.close();
  await server?.stop();
});

describe('the embed under trouble', () => {
  it('fires the documented DOM events, and starts no kernel before Run', async () => {
    const kernelStarts: string[] = [];
    page.on('request', (r) => {
      if (r.method() === 'POST' && /\/api\/kernels(\?|$)/.test(r.url())) kernelStarts.push(r.url());
    });
    await page.goto(`${server.site}/cell`);
    cell = page.locator('#cell');
    await cell.locator('.rc-run').waitFor();
    expect((await events()).filter((e) => e.type === 'runcell:loaded')).toHaveLength(1);
    expect(await cell.getAttribute('data-status')).toBe('new');
    expect(kernelStarts).toEqual([]);

    await cell.locator('.rc-run').click();
    await expect.poll(runs, { timeout: 30_000 }).toBe(1);
    expect(kernelStarts).toHaveLength(1);
    const list = await statuses();
    // connecting (kernel requested), ready (socket open), busy, idle: in this order.
    expect(inOrder(list, ['connecting', 'ready', 'busy', 'idle']).every((i) => i >= 0)).toBe(true);
    const all = await events();
    const status = all.find((e) => e.type === 'runcell:status' && e.detail?.status === 'ready');
    expect(status?.target).toBe('cell');
    expect(status?.detail?.kernelId).toMatch(/^[0-9a-f-]{36}$/);
    expect(all.filter((e) => e.type === 'runcell:output').map((e) => e.detail?.output)).toEqual([
      { output_type: 'stream', name: 'stdout', text: 'hello\n' },
    ]);
    expect(
      all.filter((e) => e.type === 'runcell:done').map((e) => (e.detail as { status: string }).status),
    ).toEqual(['ok']);
    expect(all.filter((e) => e.type === 'runcell:error')).toEqual([]);

    const n = all.length;
    await setCode('1/0');
    await cell.locator('.rc-run').click();
    await expect.poll(runs, { timeout: 30_000 }).toBe(2);
    const later = (await events()).slice(n);
    const err = later.find((e) => e.type === 'runcell:error');
    expect(err?.detail?.ename).toBe('ZeroDivisionError');
    expect(err?.detail?.evalue).toBe('division by zero');
    expect(err?.detail?.traceback?.join('\n')).toContain('ZeroDivisionError');
    expect(
      later.filter((e) => e.type === 'runcell:output').map((e) => e.detail?.output?.output_type),
    ).toEqual(['error']);
    expect(later.find((e) => e.type === 'runcell:done')?.detail).toMatchObject({ status: 'error' });
  });

  it('with data-eager, starts and connects a kernel when the cell comes into view', async () => {
    server.pages.set(
      '/eager',
      `<!doctype html><html><body><script src="${proxy.origin}/static/runcell.js"></script>
<div id="top" data-runcell data-eager>print("eager top")</div>
<div style="height: 3000px"></div>
<div id="below" data-runcell data-eager>print("eager below")</div></body></html>`,
    );
    const p = await ctx.newPage();
    const starts: string[] = [];
    p.on('request', (r) => {
      if (r.method() === 'POST' && /\/api\/kernels(\?|$)/.test(r.url())) starts.push(r.url());
    });
    await p.goto(`${server.site}/eager`);
    const top = p.locator('#top');
    const below = p.locator('#below');
    // No click: the visible cell's kernel starts and its socket opens; the one below waits.
    await expect.poll(() => top.getAttribute('data-status'), { timeout: 30_000 }).toMatch(/^(ready|idle)$/);
    expect(starts).toHaveLength(1);
    expect(await below.getAttribute('data-status')).toBe('new');
    await below.scrollIntoViewIfNeeded();
    await expect.poll(() => below.getAttribute('data-status'), { timeout: 30_000 }).toMatch(/^(ready|idle)$/);
    expect(starts).toHaveLength(2);
    await below.locator('.rc-run').click();
    await expect
      .poll(() => below.locator('.rc-stdout').textContent(), { timeout: 30_000 })
      .toBe('eager below\n');
    await p.close({ runBeforeUnload: true });
  });

  it('survives a dropped connection: output printed meanwhile is replayed once', async () => {
    const id = (await kernelId()) as string;
    const kernel = server.app.ctx.manager.get(id);
    expect(kernel).toBeDefined();
    await setCode('import time\nfor i in range(6):\n    print(i, flush=True)\n    time.sleep(0.5)');
    const from = (await events()).length;
    await cell.locator('.rc-run').click();
    await expect.poll(stdout, { timeout: 30_000 }).toBe('0\n');

    proxy.drop();
    await expect.poll(() => cell.getAttribute('data-status'), { timeout: 10_000 }).toBe('reconnecting');
    expect(await cell.locator('.rc-status .label').textContent()).toBe('Reconnecting…');
    expect(await cell.locator('.rc-banner').textContent()).toContain('Reconnecting');
    await screenshot(page, 'resilience-reconnecting');
    const cut = await stdout();
    expect(['0\n', '0\n1\n']).toContain(cut);
    // The rest of the run happens while the page cannot reach the server: nothing more arrives.
    await expect.poll(() => kernel?.state, { timeout: 20_000 }).toBe('idle');
    expect(await stdout()).toBe(cut);
    proxy.restore();

    await expect.poll(stdout, { timeout: 30_000 }).toBe('0\n1\n2\n3\n4\n5\n');
    await expect.poll(runs, { timeout: 10_000 }).toBe(3);
    expect(await cell.locator('.rc-banner').isHidden()).toBe(true);
    expect(await cell.getAttribute('data-status')).toBe('idle');
    const list = await statuses(from);
    const [reconnecting, connected] = inOrder(list, [
      'reconnecting',
      list.includes('ready') ? 'ready' : 'busy',
    ]);
    expect(reconnecting).toBeGreaterThanOrEqual(0);
    expect(connected).toBeGreaterThan(reconnecting as number);
    // Every line exactly once, also as events.
    const texts = (await events())
      .slice(from)
      .filter((e) => e.type === 'runcell:output')
      .map((e) => e.detail?.output?.text)
      .join('');
    expect(texts).toBe('0\n1\n2\n3\n4\n5\n');
    await screenshot(page, 'resilience-replayed');
  });

  it('explains a killed kernel and restarts it with the Restart button', async () => {
    const id = (await kernelId()) as string;
    // The local kernel's host pid (not part of the Kernel interface).
    const pid = (server.app.ctx.manager.get(id) as unknown as { pid?: number } | undefined)?.pid;
    expect(pid).toBeGreaterThan(0);
    const from = (await events()).length;
    process.kill(pid as number, 'SIGKILL');

    await expect.poll(() => cell.getAttribute('data-status'), { timeout: 20_000 }).toBe('dead');
    const banner = cell.locator('.rc-banner');
    expect(await banner.textContent()).toContain('The kernel stopped');
    expect(await banner.textContent()).toContain('Restart to run again');
    expect(await cell.locator('.rc-banner-restart').isVisible()).toBe(true);
    expect(await cell.locator('.rc-run').isDisabled()).toBe(true);
    const dead = (await events()).slice(from).find((e) => e.detail?.status === 'dead');
    expect(dead?.detail?.reason).toBeTruthy();
    await screenshot(page, 'resilience-dead');

    await cell.locator('.rc-banner-restart').click();
    await expect.poll(() => cell.getAttribute('data-status'), { timeout: 30_000 }).toMatch(/ready|idle/);
    const fresh = await kernelId();
    expect(fresh).toBeTruthy();
    expect(fresh).not.toBe(id);
    expect(await banner.isHidden()).toBe(true);
    const before = await runs();
    await setCode('print("alive again", 6 * 7)');
    await cell.locator('.rc-run').click();
    await expect.poll(runs, { timeout: 30_000 }).toBe(before + 1);
    expect(await stdout()).toBe('alive again 42\n');
    expect(inOrder(await statuses(from), ['dead', 'connecting', 'ready']).every((i) => i >= 0)).toBe(true);
  });
});
