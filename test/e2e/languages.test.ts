// A second language end to end, and what is installed, through the public surfaces: R cells on a page
// author's site (data-kernel="ir": a base-R plot as a PNG, an error with its message), the kernel
// picker naming each kernel with its language, version and logo, the "Packages" control, the one-shot
// endpoint with a permalink, a batch job, and the environments API and SDK.
import type { Browser, BrowserContext, Locator } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { NETWORK_NOTE, PIP_NOTE } from '../../kernel-manager/sandbox/hooks.js';
import { RunCell } from '../../sdk/index.js';
import type { EnvironmentInfo } from '../../shared/environments.js';
import type { ExecuteResult } from '../../shared/execute.js';
import { launch, screenshot, startWebServer, type WebServer } from './helpers.js';

const SLOT = 124;
const TOKEN = 'languages-e2e-token-0001';
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let ctx: BrowserContext;

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([
    startWebServer(SLOT, { tokens: [TOKEN], jobs: true }),
    launch(),
  ]);
  ctx = await browser.newContext({ viewport: { width: 1000, height: 900 } });
});

afterAll(async () => {
  await ctx?.close();
  await closeBrowser?.();
  await server?.stop();
});

const post = async <T>(path: string, body: unknown): Promise<T> => {
  const r = await fetch(`${server.base}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', authorization: `token ${TOKEN}` },
    body: JSON.stringify(body),
  });
  expect(r.status).toBe(200);
  return (await r.json()) as T;
};

async function runDone(cell: Locator): Promise<Locator> {
  const before = Number((await cell.getAttribute('data-runs')) ?? 0);
  await cell.locator('.rc-run').click();
  await expect
    .poll(async () => Number((await cell.getAttribute('data-runs')) ?? 0), { timeout: 30_000 })
    .toBe(before + 1);
  return cell.locator('.rc-outputs');
}

describe('R and environments end to end', () => {
  it('runs R cells on a page: a base-R plot as PNG, an error with its message', async () => {
    server.pages.set(
      '/r',
      `<!doctype html><script src="${server.base}/static/runcell.js"></script>
<pre data-runcell data-kernel="ir" id="plot">plot(1:10, main = "runcell")</pre>
<pre data-runcell data-kernel="ir" id="err">stop("no such thing here")</pre>`,
    );
    const page = await ctx.newPage();
    await page.goto(`${server.site}/r`);
    const plot = page.locator('#plot');
    await plot.locator('.rc-run').waitFor();
    const out = await runDone(plot);
    const img = out.locator('img');
    await expect.poll(() => img.getAttribute('src')).toMatch(/^data:image\/png;base64,/);
    expect(await img.evaluate((i) => (i as { naturalWidth: number }).naturalWidth)).toBeGreaterThan(100);
    const err = await runDone(page.locator('#err'));
    await expect.poll(() => err.textContent()).toMatch(/no such thing here/);
    await screenshot(page, 'r-cells');
    await page.close();
  });

  it('names kernels in the picker with language, version and logo, and lists packages', async () => {
    const page = await ctx.newPage();
    await page.goto(`${server.base}/`);
    const cell = page.locator('#cell');
    const picker = cell.locator('select.rc-lang');
    await expect
      .poll(() => picker.locator('option').allInnerTexts())
      .toEqual(
        expect.arrayContaining([
          expect.stringMatching(/^R · 4\.\d+\.\d+$/),
          expect.stringMatching(/^Python 3 \(ipykernel\) · 3\.\d+\.\d+$/),
        ]),
      );
    await picker.selectOption('ir');
    const logo = cell.locator('img.rc-logo');
    await expect.poll(() => logo.getAttribute('src')).toMatch(/\/kernelspecs\/ir\/logo-64x64\.png$/);
    await expect
      .poll(() => logo.evaluate((i) => (i as { naturalWidth: number }).naturalWidth))
      .toBeGreaterThan(0);
    await cell.locator('.rc-packages').click();
    const panel = cell.locator('.rc-pk');
    await expect.poll(() => panel.textContent()).toMatch(/R: R 4\.\d+\.\d+/);
    await panel.locator('input').fill('irk');
    expect(await panel.locator('li').allInnerTexts()).toEqual([expect.stringMatching(/^IRkernel\s+1\.\d/)]);
    await screenshot(page, 'packages-panel');
    // The front door lists each environment, with how to use it.
    const ir = page.locator('#environments [data-kernel="ir"]');
    await expect
      .poll(() => ir.textContent())
      .toMatch(/^\s*R\s*R 4\.\d+\.\d+ · \d+ packages · data-kernel="ir"Packages/);
    expect(await page.locator('#environments [data-kernel]').count()).toBeGreaterThanOrEqual(2);
    await cell.locator('.rc-packages').click();
    await expect.poll(() => panel.count()).toBe(0);
    await page.close();
  });

  it('runs R on the one-shot endpoint, with a permalink', async () => {
    const r = await post<ExecuteResult>('/api/execute', {
      code: 'cat("sum", sum(1:10), "\\n"); plot(1:3)',
      kernel: 'ir',
      permalink: true,
    });
    expect(r.status).toBe('ok');
    expect(r.stdout).toBe('sum 55 \n');
    expect(r.outputs.some((o) => typeof o.data['image/png'] === 'string')).toBe(true);
    const id = r.permalink?.id ?? '';
    const p = (await (await fetch(`${server.base}/api/permalinks/${id}`)).json()) as {
      kernel: string;
      code: string;
    };
    expect(p).toMatchObject({ kernel: 'ir', code: expect.stringContaining('sum(1:10)') });
    const bad = await post<ExecuteResult>('/api/execute', {
      code: 'stop("broken on purpose")',
      kernel: 'ir',
    });
    expect(bad.status).toBe('error');
    expect(bad.error?.evalue).toMatch(/broken on purpose/);
  });

  it("explains the sandbox in the server's default Python kernels too (forked or not)", async () => {
    const pip = await post<ExecuteResult>('/api/execute', { code: '%pip install pandas' });
    expect(pip.stdout).toBe(`${PIP_NOTE}\n`);
    const web = await post<ExecuteResult>('/api/execute', {
      code: 'import urllib.request\nurllib.request.urlopen("http://example.com/", timeout=5)',
    });
    expect(web.error?.traceback.at(-1)).toBe(NETWORK_NOTE);
  });

  it('runs R as a batch job', async () => {
    const rc = new RunCell({ url: server.base, token: TOKEN });
    const batch = await rc.submit({ code: 'cat(toupper("from a job"))', kernel: 'ir', name: 'r-job' });
    const [job] = batch.jobs;
    const done = await job?.result();
    expect(done?.state).toBe('succeeded');
    expect(done?.result?.stdout).toBe('FROM A JOB');
  });

  it('lists environments with their versions and packages (API and SDK)', async () => {
    const rc = new RunCell({ url: server.base, token: TOKEN });
    const envs = await rc.environments();
    const by = Object.fromEntries(envs.map((e: EnvironmentInfo) => [e.name, e]));
    expect(by.ir?.environment).toMatchObject({ language: 'R', truncated: false });
    expect(by.python3?.environment?.version).toMatch(/^3\.\d+\.\d+$/);
    expect(by.python3?.environment?.packages?.map((p) => p.name)).toEqual(
      expect.arrayContaining(['ipykernel', 'numpy']),
    );
    expect(await rc.environment('ir')).toEqual(by.ir?.environment);
    const spec = (await (await fetch(`${server.base}/api/kernelspecs/ir`)).json()) as {
      environment: unknown;
      spec: object;
    };
    expect(spec.environment).toEqual(by.ir?.environment);
    const missing = await fetch(`${server.base}/api/kernelspecs/nope`);
    expect(missing.status).toBe(404);
    expect(await missing.json()).toMatchObject({ code: expect.stringMatching(/^RUNCELL_ERR_/) });
  });
});
