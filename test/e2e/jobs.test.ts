// The jobs dashboard (/jobs) in a real browser, against a real server with the jobs service, real
// kernels and a PGlite store: a batch submitted through the API shows up and changes state live
// (no reload), a job's history and output open on a click, Cancel ends a running job cancelled and
// Rerun makes a new attempt that replaces the old row.
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, screenshot, startWebServer, type WebServer } from './helpers.js';

const SLOT = 41;
const TOKEN = 'e2e-jobs-dashboard-token-0123456789';
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let page: Page;

interface Summary {
  id: string;
  name: string | null;
  attempt: number;
  state: string;
  superseded_by: string | null;
}

async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(`${server.base}${path}`, {
    method,
    headers: { authorization: `token ${TOKEN}`, ...(body ? { 'content-type': 'application/json' } : {}) },
    ...(body ? { body: JSON.stringify(body) } : {}),
  });
  if (!res.ok) throw new Error(`${method} ${path}: ${res.status} ${await res.text()}`);
  return (await res.json()) as T;
}

// Records, in the page, every state each row shows, in order: proof the table changed live.
const RECORD_STATES = `(() => {
  const seen = (window.__seen = {});
  const rows = document.getElementById('rows');
  const record = () => {
    for (const tr of rows.querySelectorAll('tr')) {
      const m = /state-(\\w+)/.exec(tr.querySelector('td.state')?.className ?? '');
      const list = (seen[tr.id.slice(4)] ??= []);
      if (m && list[list.length - 1] !== m[1]) list.push(m[1]);
    }
  };
  new MutationObserver(record).observe(rows, { childList: true, subtree: true, characterData: true });
  window.__loaded = performance.timeOrigin;
})()`;

const seen = (): Promise<Record<string, string[]>> =>
  page.evaluate(() => (globalThis as unknown as { __seen: Record<string, string[]> }).__seen);
const row = (id: string) => page.locator(`#job-${id}`);
const rowState = async (id: string) =>
  /state-(\w+)/.exec((await row(id).locator('td.state').getAttribute('class')) ?? '')?.[1];

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([
    // Room for the whole batch at once, so states change while the test watches.
    startWebServer(SLOT, { tokens: [TOKEN], jobs: { concurrency: 4, perOwner: 4 } }),
    launch(),
  ]);
  page = await (await browser.newContext({ viewport: { width: 1200, height: 1000 } })).newPage();
});

afterAll(async () => {
  await closeBrowser?.();
  await server?.stop();
});

describe('the jobs dashboard in a browser', () => {
  const ids: Record<string, string> = {};

  it('shows a submitted batch and updates its rows live', async () => {
    await page.goto(`${server.base}/jobs`);
    await page.evaluate(RECORD_STATES);
    const loadedAt = await page.evaluate(() => (globalThis as unknown as { __loaded: number }).__loaded);
    // The dashboard is live once its long-poll (timeout=25) is out.
    const polling = page.waitForRequest((r) => /\/api\/jobs\/events\?after=\d+&timeout=25/.test(r.url()));
    await page.locator('#token').fill(TOKEN);
    await page.locator('#login button[type=submit]').click();
    await polling;
    expect(await page.locator('#board').isVisible()).toBe(true);
    expect(await page.locator('#rows tr').count()).toBe(0);

    const batch = await api<{ jobs: Summary[] }>('POST', '/api/jobs', {
      jobs: [
        { name: 'sleep-4', code: 'import time\ntime.sleep(4)\nprint("slept 4")', timeout: 60 },
        { name: 'sleep-5', code: 'import time\ntime.sleep(5)\nprint("slept 5")', timeout: 60 },
        { name: 'boom', code: 'print("about to fail")\n1/0', timeout: 60 },
        {
          name: 'long',
          code: 'import time\nprint("long started", flush=True)\ntime.sleep(120)',
          timeout: 300,
        },
      ],
    });
    for (const j of batch.jobs) ids[j.name as string] = j.id;

    // Every job appears without a reload; the short ones reach their final state.
    await expect.poll(() => page.locator('#rows tr').count(), { timeout: 20_000 }).toBe(4);
    await expect.poll(() => rowState(ids.long as string), { timeout: 45_000 }).toBe('running');
    await screenshot(page, 'jobs-live');
    await expect.poll(() => rowState(ids['sleep-4'] as string), { timeout: 45_000 }).toBe('succeeded');
    await expect.poll(() => rowState(ids['sleep-5'] as string), { timeout: 45_000 }).toBe('succeeded');
    await expect.poll(() => rowState(ids.boom as string), { timeout: 45_000 }).toBe('failed');

    const s = await seen();
    for (const name of ['sleep-4', 'sleep-5']) {
      const states = s[ids[name] as string] ?? [];
      // Seen before it finished (queued, launched or running), then succeeded: a live change. The jobs
      // sleep 4-5 s so that even a loaded machine renders a state before the final one.
      expect(['queued', 'launched', 'running']).toContain(states[0]);
      expect(states.at(-1)).toBe('succeeded');
    }
    expect(s[ids.boom as string]?.at(-1)).toBe('failed');
    expect(s[ids.long as string]).toContain('running');
    // Still the same document: nothing reloaded the page.
    expect(await page.evaluate(() => (globalThis as unknown as { __loaded: number }).__loaded)).toBe(
      loadedAt,
    );
    expect(await page.locator('#counts').textContent()).toMatch(/2 succeeded/);
    // One page of jobs: no "Older jobs" button.
    expect(await page.locator('#more').isHidden()).toBe(true);
  });

  it("shows a job's history and output when clicked", async () => {
    await row(ids['sleep-5'] as string).click();
    const detail = page.locator('#detail');
    await expect.poll(() => detail.isVisible()).toBe(true);
    await expect.poll(() => page.locator('#d-title').textContent()).toContain('sleep-5 — succeeded');
    expect(await page.locator('#d-stdout').textContent()).toBe('slept 5\n');
    const history = await page.locator('#d-history li').allTextContents();
    expect(history.map((h) => h.replace(/^[\d:.]+(\s?[AP]M)?\s+/i, ''))).toEqual([
      'queued',
      'launched',
      'running',
      'succeeded',
    ]);
    expect(await page.locator('#d-code').textContent()).toContain('time.sleep(5)');

    await row(ids.boom as string).click();
    await expect.poll(() => page.locator('#d-title').textContent()).toContain('boom — failed');
    expect(await page.locator('#d-stdout').textContent()).toBe('about to fail\n');
    expect(await page.locator('#d-stderr').textContent()).toContain('ZeroDivisionError');
    expect((await page.locator('#d-history li').allTextContents()).at(-1)).toMatch(/failed/);
    expect(await page.locator('#d-cancel').isDisabled()).toBe(true);
    expect(await page.locator('#d-rerun').isEnabled()).toBe(true);
    await screenshot(page, 'jobs-detail');
  });

  it('cancels a running job', async () => {
    const long = ids.long as string;
    await row(long).click();
    await expect.poll(() => page.locator('#d-title').textContent()).toContain('long — running');
    await expect.poll(() => page.locator('#d-cancel').isEnabled()).toBe(true);
    await page.locator('#d-cancel').click();
    await expect.poll(() => rowState(long), { timeout: 30_000 }).toBe('cancelled');
    // The open detail follows the job's events.
    await expect
      .poll(() => page.locator('#d-title').textContent(), { timeout: 10_000 })
      .toContain('long — cancelled');
    expect((await page.locator('#d-history li').allTextContents()).at(-1)).toMatch(/cancelled/);
    expect((await seen())[long]?.slice(-2)).toEqual(['running', 'cancelled']);
    const job = await api<{ state: string; result: { stdout: string } | null }>('GET', `/api/jobs/${long}`);
    expect(job.state).toBe('cancelled');
    await screenshot(page, 'jobs-cancelled');
  });

  it('reruns a finished job as a new attempt', async () => {
    const boom = ids.boom as string;
    await row(boom).click();
    await expect.poll(() => page.locator('#d-title').textContent()).toContain('boom — failed');
    await page.locator('#d-rerun').click();
    // The old attempt is superseded (its row hidden); the new one is shown, try 2, and runs.
    await expect
      .poll(async () => (await api<Summary>('GET', `/api/jobs/${boom}`)).superseded_by, { timeout: 10_000 })
      .toBeTruthy();
    const next = (await api<Summary>('GET', `/api/jobs/${boom}`)).superseded_by as string;
    await expect.poll(() => row(next).isVisible(), { timeout: 20_000 }).toBe(true);
    expect(await row(next).locator('td').nth(3).textContent()).toBe('2');
    expect(await row(next).locator('td').nth(1).textContent()).toBe('boom');
    await expect.poll(() => row(boom).isHidden(), { timeout: 10_000 }).toBe(true);
    await expect.poll(() => rowState(next), { timeout: 45_000 }).toBe('failed');
    const again = await api<{ attempt: number; history: { state: string }[] }>('GET', `/api/jobs/${next}`);
    expect(again.attempt).toBe(2);
    expect(again.history.map((h) => h.state)).toEqual(['queued', 'launched', 'running', 'failed']);
    await row(next).click();
    await expect.poll(() => page.locator('#d-title').textContent()).toContain('(try 2)');
    await screenshot(page, 'jobs-rerun');
  });
});

// A three-stage pipeline (extract -> transform -> load) drawn as a graph in the open job's detail:
// every node's colour and label follow its job's state live, in the order the pipeline runs, and a
// click on a node opens that job's outputs.
const RECORD_GRAPH = `(() => {
  const timeline = (window.__graph = []);
  const record = () => {
    for (const g of document.querySelectorAll('#d-graph g.graph-node')) {
      const [name, state] = (g.querySelector('text')?.textContent ?? '').split(' · ');
      const fill = g.querySelector('rect')?.getAttribute('fill');
      const last = timeline.findLast((t) => t.name === name);
      if (!last || last.state !== state) timeline.push({ name, state, fill });
    }
  };
  new MutationObserver(record).observe(document.getElementById('detail'), {
    subtree: true, childList: true, attributes: true, characterData: true,
  });
})()`;

describe('a pipeline as a live graph', () => {
  it("colours a three-stage pipeline's nodes in order and opens a job from its node", async () => {
    await page.evaluate(RECORD_GRAPH);
    const stage = (what: string) => `import time\ntime.sleep(2)\n${what}`;
    const batch = await api<{ jobs: Summary[] }>('POST', '/api/jobs', {
      jobs: [
        { name: 'extract', code: stage('open("raw.txt", "w").write("21")') },
        { name: 'transform', needs: ['extract'], code: stage('print(int(open("raw.txt").read()) * 2)') },
        { name: 'load', needs: ['transform'], code: stage('print("loaded")') },
      ],
    });
    const id = Object.fromEntries(batch.jobs.map((j) => [j.name, j.id]));
    await expect.poll(() => row(id.extract as string).isVisible(), { timeout: 20_000 }).toBe(true);
    await row(id.extract as string).click();
    await expect.poll(() => page.locator('#d-graph g.graph-node').count(), { timeout: 10_000 }).toBe(3);
    await expect
      .poll(() => page.locator(`#d-graph g[data-job="${id.transform}"] text`).textContent(), {
        timeout: 45_000,
      })
      .toBe('transform · running');
    await screenshot(page, 'pipeline-graph');
    await expect
      .poll(() => page.locator(`#d-graph g[data-job="${id.load}"] text`).textContent(), { timeout: 60_000 })
      .toBe('load · succeeded');

    const timeline = await page.evaluate(
      () => (globalThis as unknown as { __graph: { name: string; state: string; fill: string }[] }).__graph,
    );
    const at = (name: string, state: string) =>
      timeline.findIndex((t) => t.name === name && t.state === state);
    // Each stage waits while the one before runs, and runs only after it succeeded.
    expect(at('transform', 'waiting')).toBeGreaterThanOrEqual(0);
    expect(at('load', 'waiting')).toBeGreaterThanOrEqual(0);
    const order = [
      at('extract', 'running'),
      at('extract', 'succeeded'),
      at('transform', 'running'),
      at('transform', 'succeeded'),
      at('load', 'running'),
      at('load', 'succeeded'),
    ];
    expect(
      order.every((i) => i >= 0),
      JSON.stringify(timeline),
    ).toBe(true);
    expect([...order].sort((a, b) => a - b)).toEqual(order);
    // The colour is the state's: waiting grey, running amber, succeeded green.
    const fills = new Map(timeline.map((t) => [t.state, t.fill]));
    expect(fills.get('waiting')).toBe('#e5e7eb');
    expect(fills.get('running')).toBe('#fde68a');
    expect(fills.get('succeeded')).toBe('#bbf7d0');

    // A click on a node opens that job, with the output its predecessor's file made possible.
    await page.locator(`#d-graph g[data-job="${id.transform}"]`).click();
    await expect.poll(() => page.locator('#d-title').textContent()).toContain('transform — succeeded');
    expect(await page.locator('#d-stdout').textContent()).toBe('42\n');
    await page.locator(`#d-graph g[data-job="${id.load}"]`).press('Enter');
    await expect.poll(() => page.locator('#d-title').textContent()).toContain('load — succeeded');
    expect(await page.locator('#d-stdout').textContent()).toBe('loaded\n');
  });
});
