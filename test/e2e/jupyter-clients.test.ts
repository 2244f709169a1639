// Clients we did not write, as published on the npm registry, in real Chromium against a real runcell:
// thebe-core's own browser bundle, and a page built on @jupyterlab/services' KernelManager and
// SessionManager (as JupyterLab is). Both are served from another origin that runcell does not list,
// and authenticate with a token, as Jupyter clients do.
import { readFileSync } from 'node:fs';
import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { extname, join, normalize } from 'node:path';
import { build } from 'esbuild';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, ROOT, screenshot, startWebServer, type WebServer } from './helpers.js';

const SLOT = 24;
const TOKEN = 'e2e-clients-token-0123456789';
const PLOT = 'import matplotlib.pyplot as plt\nplt.plot([1, 4, 9])\nplt.show()';
const THEBE_DIR = join(ROOT, 'node_modules', 'thebe-core', 'dist', 'lib');
const TYPES: Record<string, string> = {
  '.js': 'text/javascript',
  '.css': 'text/css',
  '.html': 'text/html; charset=utf-8',
};

let server: WebServer;
let closeBrowser: () => Promise<void>;
let browser: Awaited<ReturnType<typeof launch>>['browser'];
let site: { origin: string; srv: Server };
/** @jupyterlab/services bundled for the browser (esbuild), as an app would ship it. */
let servicesJs: string;

/** The other origin: the test's pages, thebe-core's published bundle and the services bundle. */
async function startStaticSite(pages: Record<string, string>): Promise<{ origin: string; srv: Server }> {
  const srv = createServer((req, res) => {
    const path = (req.url ?? '/').split('?')[0] as string;
    let body: string | Buffer | undefined = pages[path];
    if (path === '/services.js') body = servicesJs;
    else if (path.startsWith('/thebe/')) {
      const file = normalize(path.slice('/thebe/'.length));
      if (!file.startsWith('..')) body = readOrUndefined(join(THEBE_DIR, file));
    }
    res.writeHead(body === undefined ? 404 : 200, {
      'content-type': TYPES[extname(path)] ?? (path.endsWith('/') ? TYPES['.html'] : 'text/plain'),
    });
    res.end(body ?? 'not found');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  return { origin: `http://127.0.0.1:${(srv.address() as AddressInfo).port}`, srv };
}

function readOrUndefined(path: string): Buffer | undefined {
  try {
    return readFileSync(path);
  } catch {
    return undefined;
  }
}

function thebePage(base: string): string {
  return `<!doctype html><html><head><meta charset="utf-8">
<link rel="stylesheet" href="/thebe/thebe-core.css">
<script src="/thebe/thebe-core.min.js"></script></head>
<body><div id="plot"></div><div id="err"></div>
<script>
window.result = (async () => {
  const { api } = window.thebeCore;
  const config = api.makeConfiguration({
    serverSettings: { baseUrl: ${JSON.stringify(base)}, token: ${JSON.stringify(TOKEN)}, appendToken: true },
    kernelOptions: { kernelName: 'python3' },
  });
  const server = api.connectToJupyter(config);
  await server.ready;
  const rendermime = api.makeRenderMimeRegistry();
  const notebook = api.setupNotebookFromBlocks(
    [{ id: 'plot', source: ${JSON.stringify(PLOT)} }, { id: 'err', source: '1/0' }],
    config,
    rendermime,
  );
  notebook.cells[0].attachToDOM(document.getElementById('plot'));
  notebook.cells[1].attachToDOM(document.getElementById('err'));
  const session = await server.startNewSession(rendermime);
  notebook.attachSession(session);
  await notebook.cells[0].execute();
  await notebook.cells[1].execute();
  return { sessionId: session.id, kernelId: session.kernel ? session.kernel.id : null };
})().catch((e) => ({ error: String(e && e.stack || e) }));
</script></body></html>`;
}

function servicesPage(base: string): string {
  return `<!doctype html><html><head><meta charset="utf-8"><script src="/services.js"></script></head>
<body><pre id="log"></pre>
<script>
window.result = (async () => {
  const { KernelManager, ServerConnection, SessionManager } = window.jls;
  const serverSettings = ServerConnection.makeSettings({
    baseUrl: ${JSON.stringify(`${base}/`)},
    wsUrl: ${JSON.stringify(`${base.replace(/^http/, 'ws')}/`)},
    token: ${JSON.stringify(TOKEN)},
    appendToken: true,
  });
  const kernelManager = new KernelManager({ serverSettings });
  const sessionManager = new SessionManager({ kernelManager, serverSettings });
  await sessionManager.ready;
  const session = await sessionManager.startNew({
    path: 'demo.ipynb', name: 'demo.ipynb', type: 'notebook', kernel: { name: 'python3' },
  });
  const kernel = session.kernel;
  const run = async (code) => {
    const msgs = [];
    const future = kernel.requestExecute({ code });
    future.onIOPub = (m) => msgs.push({ type: m.header.msg_type, content: m.content });
    const reply = await future.done;
    return { reply: reply.content, msgs };
  };
  const plot = await run(${JSON.stringify(PLOT)});
  const err = await run('1/0');
  await kernel.restart();
  const after = await run('print("restarted")');
  const listed = (await (await fetch(${JSON.stringify(`${base}/api/sessions`)}, {
    headers: { authorization: 'token ' + ${JSON.stringify(TOKEN)} },
  })).json()).map((s) => s.id);
  await session.shutdown();
  return {
    plotStatus: plot.reply.status,
    png: plot.msgs.some((m) => m.type === 'display_data' && m.content.data['image/png']),
    errName: err.reply.ename,
    errTraceback: err.msgs.filter((m) => m.type === 'error').map((m) => m.content.ename),
    after: after.msgs.filter((m) => m.type === 'stream').map((m) => m.content.text).join(''),
    listed: listed.includes(session.id),
    sessionId: session.id,
  };
})().catch((e) => ({ error: String(e && e.stack || e) }));
</script></body></html>`;
}

async function resultOf(page: Page): Promise<Record<string, unknown>> {
  return (await page.evaluate(
    () => (globalThis as unknown as { result: Promise<unknown> }).result,
  )) as Record<string, unknown>;
}

beforeAll(async () => {
  const bundled = await build({
    stdin: {
      contents:
        "import { KernelManager, ServerConnection, SessionManager } from '@jupyterlab/services';\n" +
        'window.jls = { KernelManager, ServerConnection, SessionManager };\n',
      resolveDir: ROOT,
      loader: 'js',
    },
    bundle: true,
    format: 'iife',
    platform: 'browser',
    write: false,
    define: { 'process.env.NODE_ENV': '"production"' },
    logLevel: 'silent',
  });
  servicesJs = bundled.outputFiles[0]?.text ?? '';
  const pages: Record<string, string> = {};
  let launched: Awaited<ReturnType<typeof launch>>;
  [server, launched, site] = await Promise.all([
    startWebServer(SLOT, { tokens: [TOKEN] }),
    launch(),
    startStaticSite(pages),
  ]);
  ({ browser, close: closeBrowser } = launched);
  // The site is another origin, and not on the server's allow-list.
  expect(server.app.ctx.config.allowedOrigins).not.toContain(site.origin);
  pages['/thebe.html'] = thebePage(server.base);
  pages['/services.html'] = servicesPage(server.base);
  pages['/anonymous.html'] = servicesPage(server.base).replaceAll(`token: ${JSON.stringify(TOKEN)},`, '');
});

afterAll(async () => {
  await closeBrowser?.();
  await new Promise<void>((r) => (site ? site.srv.close(() => r()) : r()));
  await server?.stop();
});

describe('Jupyter clients from the npm registry, from an unlisted origin, with a token', () => {
  it('thebe-core runs a cell with a plot and a cell with an error', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/thebe.html`);
    const r = await resultOf(page);
    expect(r.error).toBeUndefined();
    await page.locator('#plot img[src^="data:image/png"]').waitFor({ timeout: 30_000 });
    await page.locator('#err', { hasText: 'ZeroDivisionError' }).waitFor({ timeout: 30_000 });
    await screenshot(page, 'thebe-core');
    await page.close();
  });

  it('@jupyterlab/services: sessions, execute (plot, error), restart, shutdown', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/services.html`);
    const r = await resultOf(page);
    expect(r.error).toBeUndefined();
    expect(r).toMatchObject({
      plotStatus: 'ok',
      png: true,
      errName: 'ZeroDivisionError',
      errTraceback: ['ZeroDivisionError'],
      after: 'restarted\n',
      listed: true,
    });
    const left = await fetch(`${server.base}/api/sessions`, { headers: { authorization: `token ${TOKEN}` } });
    expect(((await left.json()) as { id: string }[]).map((s) => s.id)).not.toContain(r.sessionId);
    await page.close();
  });

  it('the same page without a token is refused: its origin is not listed', async () => {
    const page = await browser.newPage();
    await page.goto(`${site.origin}/anonymous.html`);
    const r = await resultOf(page);
    expect(String(r.error)).toMatch(/403|Failed to fetch|NetworkError|ResponseError/);
    await page.close();
  });
});
