// Shared set-up for the browser tests: a real runcell server on 127.0.0.1:0 (real kernels in the
// sandbox on this file's own uid block, a fresh PGlite store), serving the built web/dist, and a real
// Chromium driven by playwright-core.
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pino } from 'pino';
import { type Browser, chromium, type Page } from 'playwright-core';
import { KernelManager } from '../../kernel-manager/index.js';
import { type App, buildApp } from '../../server/app.js';
import { jobLimits, kernelManagerConfig, loadConfig, type ServerConfig } from '../../server/config.js';
import { createJobs, type JobLimits, type Jobs } from '../../server/jobs/index.js';
import { openStore, type Store } from '../../server/store/db.js';
import { SUITE_KERNELS } from '../suite-kernels.js';

export const ROOT = join(import.meta.dirname, '..', '..');
export const SHOTS = join(ROOT, 'test-output', 'screenshots');

/** web/dist is made by `npm run build`; build it here when a checkout has not. */
export function ensureBuilt(): void {
  if (existsSync(join(ROOT, 'web', 'dist', 'runcell.js'))) return;
  execFileSync('npx', ['vite', 'build', '--config', 'web/vite.config.ts'], { cwd: ROOT, stdio: 'inherit' });
}

export interface WebServer {
  base: string;
  /** Another origin, standing for a page author's site: serves whatever `pages` holds. */
  site: string;
  pages: Map<string, string>;
  app: App;
  /** The jobs service, when started with `jobs`. */
  jobs: Jobs | undefined;
  stop(): Promise<void>;
}

export interface WebServerOptions {
  /** API tokens (RUNCELL_TOKENS); anonymous cells stay allowed. */
  tokens?: string[];
  /** Runs the batch jobs service (the jobs API and the /jobs dashboard), as `npm start` does. */
  jobs?: boolean | Partial<JobLimits>;
  /** Any other settings (e.g. a short RUNCELL_STATS_SAMPLE_MS). */
  config?: Partial<ServerConfig>;
}

/** A page author's site on its own origin (cross-origin to runcell, as embeds are). */
async function startSite(pages: Map<string, string>): Promise<{ origin: string; close(): Promise<void> }> {
  const srv = createServer((req, res) => {
    const html = pages.get((req.url ?? '/').split('?')[0] as string);
    res.writeHead(html ? 200 : 404, { 'content-type': 'text/html; charset=utf-8' });
    res.end(html ?? 'not found');
  });
  await new Promise<void>((r) => srv.listen(0, '127.0.0.1', r));
  const { port } = srv.address() as AddressInfo;
  return {
    origin: `http://127.0.0.1:${port}`,
    close: () => new Promise<void>((r) => srv.close(() => r())),
  };
}

/** uid block 65000 + 100*slot, runtime root /run/rc-s<slot>: pick a slot no other test file uses. */
export async function startWebServer(slot: number, opts: WebServerOptions = {}): Promise<WebServer> {
  ensureBuilt();
  const pages = new Map<string, string>();
  const site = await startSite(pages);
  const config = loadConfig(
    {},
    {
      port: 0,
      logLevel: 'silent',
      poolSize: 2,
      maxKernels: 12,
      ipMaxKernels: 12,
      ipKernelCreatesPerMinute: 100,
      ...SUITE_KERNELS,
      sandboxUidRange: [65_000 + slot * 100, 65_000 + slot * 100 + 99],
      sandboxRuntimeRoot: `/run/rc-s${slot}`,
      executionTimeoutMs: 30_000,
      allowedOrigins: [site.origin],
      ...(opts.tokens ? { tokens: opts.tokens } : {}),
      ...opts.config,
    },
  );
  const logger = pino({ level: process.env.RUNCELL_TEST_LOG ?? 'silent' });
  const manager = await KernelManager.create(kernelManagerConfig(config), logger);
  const dataDir = mkdtempSync(join(tmpdir(), 'runcell-e2e-'));
  // A fresh embedded database, as `npm start` without DATABASE_URL uses.
  const store: Store = await openStore({ dataDir, poolMax: 1, connectTimeoutMs: 10_000, log: logger });
  // Wired as server/main.ts wires it.
  const jobs = opts.jobs
    ? await createJobs({
        sql: store.sql,
        events: store.events,
        files: store.files,
        uploads: store.uploads,
        manager,
        log: logger.child({ component: 'jobs' }),
        instance: `e2e-${slot}`,
        limits: { ...jobLimits(config), ...(typeof opts.jobs === 'object' ? opts.jobs : {}) },
      })
    : undefined;
  const app = await buildApp({ config, manager, logger, store, ...(jobs ? { jobs } : {}) });
  await app.app.listen({ host: '127.0.0.1', port: 0 });
  const { port } = app.app.server.address() as AddressInfo;
  const deadline = Date.now() + 60_000;
  while (manager.stats().pooled < 1 && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  return {
    base: `http://127.0.0.1:${port}`,
    site: site.origin,
    pages,
    app,
    jobs,
    async stop() {
      await app.close();
      await jobs?.close();
      await manager.close();
      await store.close();
      await site.close();
      rmSync(dataDir, { recursive: true, force: true });
    },
  };
}

/** Debian's Chromium; playwright gives every launch a fresh temporary profile (--user-data-dir). */
export async function launch(): Promise<{ browser: Browser; close(): Promise<void> }> {
  const browser = await chromium.launch({
    executablePath: '/usr/bin/chromium',
    args: [
      '--headless',
      '--no-sandbox',
      '--disable-gpu',
      '--disable-quic',
      '--no-first-run',
      '--disable-background-networking',
      '--disable-component-update',
      '--disable-sync',
    ],
  });
  return {
    browser,
    async close() {
      await browser.close();
    },
  };
}

export async function screenshot(page: Page, name: string): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  await page.screenshot({ path: join(SHOTS, `${name}.png`), fullPage: true });
}
