// `runcell login` through a real browser: the real CLI (a child process, its config directory in a
// temp dir) prints the sign-in URL, Chromium signs in on /login and approves, the page hands a
// one-time code to the CLI's listener on 127.0.0.1, and the CLI exchanges it for a token that it
// keeps (0600) and uses from then on. Also: a tampered state is refused while the CLI keeps waiting,
// Deny and a foreign callback, a timeout, `login --token` from standard input, `logout` revoking the
// token on the server, and the /tokens page listing, creating and revoking tokens.
import { type ChildProcess, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, statSync } from 'node:fs';
import { hostname, tmpdir } from 'node:os';
import { join } from 'node:path';
import type { Browser, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, ROOT, screenshot, startWebServer, type WebServer } from './helpers.js';

const SLOT = 44;
const TOKEN = 'e2e-login-account-token-0123456789';
const config = mkdtempSync(join(tmpdir(), 'runcell-login-'));
const credentialsFile = join(config, 'runcell', 'credentials.json');
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let page: Page;
/** Every URL the browser requested or navigated to. */
const urls: string[] = [];

interface Run {
  child: ChildProcess;
  stdout: string;
  stderr: string;
  exited: Promise<number>;
}

/** The real CLI, with no browser to open, no token in its environment and its own config dir. */
function cli(args: string[], input?: string): Run {
  const env: NodeJS.ProcessEnv = { ...process.env, RUNCELL_SERVER: server.base, XDG_CONFIG_HOME: config };
  for (const k of ['RUNCELL_TOKEN', 'DISPLAY', 'WAYLAND_DISPLAY', 'BROWSER']) delete env[k];
  const child = spawn(process.execPath, ['--import', 'tsx', 'cli/runcell.ts', ...args], { cwd: ROOT, env });
  const run: Run = {
    child,
    stdout: '',
    stderr: '',
    exited: new Promise((resolve) => child.on('close', (code) => resolve(code ?? -1))),
  };
  child.stdout?.on('data', (d) => (run.stdout += d));
  child.stderr?.on('data', (d) => (run.stderr += d));
  if (input !== undefined) child.stdin?.end(input);
  else child.stdin?.end();
  return run;
}

const done = async (args: string[], input?: string) => {
  const r = cli(args, input);
  const code = await r.exited;
  return { code, stdout: r.stdout, stderr: r.stderr };
};

/** The sign-in URL the CLI prints. */
async function loginUrl(r: Run): Promise<URL> {
  await expect
    .poll(() => /^\s+(http:\/\/\S+\/login\?\S+)$/m.exec(r.stderr)?.[1], { timeout: 20_000 })
    .toBeTruthy();
  return new URL(/^\s+(http:\/\/\S+\/login\?\S+)$/m.exec(r.stderr)?.[1] as string);
}

async function whoami(token: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${server.base}/api/whoami`, { headers: { authorization: `token ${token}` } });
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

const saved = (): Record<string, { token: string; id?: string; name?: string }> =>
  (JSON.parse(readFileSync(credentialsFile, 'utf8')) as { servers: Record<string, { token: string }> })
    .servers;

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([
    startWebServer(SLOT, { tokens: [TOKEN], jobs: { concurrency: 1, perOwner: 1 } }),
    launch(),
  ]);
  page = await (await browser.newContext({ viewport: { width: 1000, height: 800 } })).newPage();
  page.on('request', (r) => urls.push(r.url()));
});

afterAll(async () => {
  await closeBrowser?.();
  await server?.stop();
  rmSync(config, { recursive: true, force: true });
});

describe('runcell login through the browser', () => {
  it('signs in, approves, and the CLI keeps a working token (0600); a tampered state is refused', async () => {
    const login = cli(['login', '--no-browser', '--timeout', '60']);
    const url = await loginUrl(login);
    expect(url.origin).toBe(server.base);
    const callback = new URL(url.searchParams.get('callback') as string);
    expect(callback.hostname).toBe('127.0.0.1');
    expect(url.searchParams.get('name')).toBe(hostname().slice(0, 80));
    expect(login.stderr).toMatch(/runcell login --token/); // the no-browser hint

    // A response with another state, sent through the browser: refused, and the CLI keeps waiting.
    const tampered = new URL(callback);
    tampered.search = new URLSearchParams({
      code: 'x'.repeat(43),
      state: 'not-the-state-0123456789',
    }).toString();
    const refused = await page.goto(tampered.href);
    expect(refused?.status()).toBe(400);
    expect(await page.textContent('body')).toMatch(/does not belong/);
    await expect.poll(() => login.stderr).toMatch(/wrong state/);
    expect(login.child.exitCode).toBeNull();

    // The sign-in page: no token in this tab yet, so it asks for one.
    await page.goto(url.href);
    await page.locator('#signin').waitFor({ state: 'visible' });
    await page.locator('#token').fill(TOKEN);
    await page.locator('#signin button[type=submit]').click();
    await page.locator('#request').waitFor({ state: 'visible' });
    expect(await page.textContent('#who')).toBe(`runcell CLI on ${hostname().slice(0, 80)}`);
    expect(await page.textContent('#where')).toBe(callback.host);
    expect(await page.textContent('#owner')).toMatch(/token:0/);
    expect(await page.locator('#signin').isVisible()).toBe(false);
    await screenshot(page, 'login-approve');

    await page.locator('#approve').click();
    await page.waitForURL((u) => u.host === callback.host, { timeout: 20_000 });
    await expect.poll(() => page.textContent('h1')).toBe('Signed in');
    expect(await login.exited).toBe(0);
    expect(login.stderr).toMatch(/Logged in to .* as token:0/);

    // Kept with tight permissions, written whole.
    expect(statSync(credentialsFile).mode & 0o777).toBe(0o600);
    expect(statSync(join(config, 'runcell')).mode & 0o777).toBe(0o700);
    const entry = saved()[server.base];
    expect(entry?.token).toMatch(/^rc_[A-Za-z0-9_-]{43}$/);
    const token = entry?.token as string;
    // The token itself never went through the browser.
    expect(urls.some((u) => u.includes(token))).toBe(false);
    expect(urls.some((u) => u.includes(token.slice(3, 20)))).toBe(false);

    // The CLI uses it from now on: who it is, and the account's jobs.
    expect((await whoami(token)).body).toMatchObject({ owner: 'token:0', credential: 'issued' });
    const me = await done(['whoami']);
    expect(me.code).toBe(0);
    expect(me.stdout).toContain(
      `token:0 on ${server.base} (token “runcell CLI on ${hostname().slice(0, 80)}”`,
    );
    const submitted = await fetch(`${server.base}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'print("from the account token")', name: 'seen-by-login', timeout: 30 }),
    });
    expect(submitted.status).toBe(202);
    const jobs = await done(['jobs', '--json']);
    expect(jobs.code).toBe(0);
    expect((JSON.parse(jobs.stdout) as { jobs: { name: string }[] }).jobs.map((j) => j.name)).toContain(
      'seen-by-login',
    );

    // The listener is gone once the login is done.
    await expect(fetch(callback.href)).rejects.toThrow();
  });

  it('logout revokes the token on the server and forgets it here', async () => {
    const token = saved()[server.base]?.token as string;
    const out = await done(['logout']);
    expect(out.code).toBe(0);
    expect(out.stderr).toMatch(/the token was revoked/);
    const after = await whoami(token);
    expect(after.status).toBe(401);
    expect(after.body.code).toBe('RUNCELL_ERR_UNAUTHORIZED');
    expect(saved()[server.base]).toBeUndefined();
    expect(statSync(credentialsFile).mode & 0o777).toBe(0o600);
    // Without a kept token the CLI has none to send.
    const jobs = await done(['jobs']);
    expect(jobs.code).toBe(2);
    expect(jobs.stderr).toMatch(/runcell login/);
    expect((await done(['logout'])).stderr).toMatch(/not logged in/);
  });

  it('Deny ends the login with a clear error', async () => {
    const login = cli(['login', '--no-browser', '--timeout', '60']);
    const url = await loginUrl(login);
    await page.goto(url.href);
    // Still signed in in this tab.
    await page.locator('#request').waitFor({ state: 'visible' });
    await page.locator('#deny').click();
    await expect.poll(() => page.textContent('h1')).toBe('Denied');
    expect(await login.exited).toBe(2);
    expect(login.stderr).toMatch(/runcell: the sign-in was denied in the browser/);
    expect(saved()[server.base]).toBeUndefined();
  });

  it('refuses a sign-in link whose callback is not on this computer', async () => {
    for (const cb of ['https://evil.example/callback', 'http://127.0.0.1.evil.example:8000/cb']) {
      const q = new URLSearchParams({
        callback: cb,
        state: 'state-0123456789abcdef',
        challenge: 'A'.repeat(43),
        name: 'x',
      });
      await page.goto(`${server.base}/login?${q}`);
      await page.locator('#problem').waitFor({ state: 'visible' });
      expect(await page.textContent('#problem')).toMatch(/cannot be used: the callback must/);
      expect(await page.locator('#approve').isVisible()).toBe(false);
      expect(await page.locator('#signin').isVisible()).toBe(false);
    }
    await screenshot(page, 'login-foreign-callback');
    // Other sites cannot frame the page (clickjacking Approve), and it sends no Referer on.
    const headers = (await fetch(`${server.base}/login`)).headers;
    expect(headers.get('content-security-policy')).toContain("frame-ancestors 'self'");
    expect(headers.get('x-frame-options')).toBe('SAMEORIGIN');
    expect(headers.get('referrer-policy')).toBe('no-referrer');
    // And the server refuses it even if a page asked.
    const res = await fetch(`${server.base}/api/login/codes`, {
      method: 'POST',
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({
        callback: 'https://evil.example/callback',
        state: 'state-0123456789abcdef',
        challenge: 'A'.repeat(43),
        name: 'x',
      }),
    });
    expect(res.status).toBe(400);
    expect(((await res.json()) as { code: string }).code).toBe('RUNCELL_ERR_BAD_CALLBACK');
  });

  it('times out with a clear message when nobody approves', async () => {
    const r = await done(['login', '--no-browser', '--timeout', '1']);
    expect(r.code).toBe(2);
    expect(r.stderr).toMatch(/runcell: login timed out after 1 s without an approval/);
  });

  it('login --token keeps a token read from standard input, after checking it', async () => {
    const wrong = await done(['login', '--token'], 'rc_not-a-real-token\n');
    expect(wrong.code).toBe(2);
    expect(wrong.stderr).toMatch(/refused the token/);
    expect(saved()[server.base]).toBeUndefined();

    const created = await fetch(`${server.base}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'piped' }),
    });
    const { token } = (await created.json()) as { token: string };
    const ok = await done(['login', '--token'], `${token}\n`);
    expect(ok.code).toBe(0);
    expect(saved()[server.base]?.token).toBe(token);
    expect((await done(['whoami'])).stdout).toContain('token “piped”');
    expect((await done(['logout'])).code).toBe(0);
    expect((await whoami(token)).status).toBe(401);
  });
});

describe('logging in again replaces the kept token', () => {
  /** A browser login approved in the tab (already signed in there); resolves with the kept token. */
  async function browserLogin(): Promise<{ token: string; stderr: string }> {
    const login = cli(['login', '--no-browser', '--timeout', '60']);
    const url = await loginUrl(login);
    await page.goto(url.href);
    await page.locator('#request').waitFor({ state: 'visible' });
    await page.locator('#approve').click();
    await expect.poll(() => page.textContent('h1')).toBe('Signed in');
    expect(await login.exited).toBe(0);
    return { token: saved()[server.base]?.token as string, stderr: login.stderr };
  }

  const createToken = async (name: string): Promise<string> => {
    const res = await fetch(`${server.base}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name }),
    });
    return ((await res.json()) as { token: string }).token;
  };

  it('revokes a browser-issued token that login --token replaces; leaves a pasted one valid', async () => {
    const first = await browserLogin();
    expect((await whoami(first.token)).status).toBe(200);

    // login --token over it: the browser-issued token was only ever this CLI's, so it is revoked.
    const pasted = await createToken('pasted over a browser login');
    const over = await done(['login', '--token'], `${pasted}\n`);
    expect(over.code).toBe(0);
    expect(saved()[server.base]?.token).toBe(pasted);
    expect((await whoami(first.token)).status).toBe(401);
    expect(over.stderr).toMatch(/The token kept before \(from an earlier browser login\) was revoked/);

    // A browser login over a pasted token: that one may be in use elsewhere, so it stays valid.
    const second = await browserLogin();
    expect(second.stderr).toMatch(/was not issued by runcell login .* it stays valid/);
    expect((await whoami(pasted)).status).toBe(200);
    expect((await whoami(second.token)).status).toBe(200);

    // And a browser login over a browser login revokes the first (--json says so).
    const again = cli(['login', '--no-browser', '--timeout', '60', '--json']);
    const url = await loginUrl(again);
    await page.goto(url.href);
    await page.locator('#request').waitFor({ state: 'visible' });
    await page.locator('#approve').click();
    expect(await again.exited).toBe(0);
    expect(JSON.parse(again.stdout)).toMatchObject({ replaced: { token: 'revoked' } });
    expect((await whoami(second.token)).status).toBe(401);

    expect((await done(['logout'])).code).toBe(0);
    await fetch(`${server.base}/api/tokens/current`, {
      method: 'DELETE',
      headers: { authorization: `token ${pasted}` },
    });
  });
});

describe('the tokens page', () => {
  it('lists, creates (the secret shown once) and revokes tokens', async () => {
    const made = await fetch(`${server.base}/api/tokens`, {
      method: 'POST',
      headers: { authorization: `token ${TOKEN}`, 'content-type': 'application/json' },
      body: JSON.stringify({ name: 'made by the API' }),
    });
    const api = (await made.json()) as { id: string; token: string; prefix: string };
    await page.goto(`${server.base}/tokens`);
    // Signed in from this tab's session (the login page's sign-in).
    await page.locator('#board').waitFor({ state: 'visible' });
    const row = (id: string) => page.locator(`#rows tr[data-id="${id}"]`);
    await expect.poll(() => row(api.id).isVisible()).toBe(true);
    expect(await row(api.id).locator('td').nth(0).textContent()).toBe('made by the API');
    expect(await row(api.id).locator('td').nth(1).textContent()).toBe(`${api.prefix}…`);
    expect(await page.textContent('#rows')).not.toContain(api.token.slice(11));

    await page.locator('#name').fill('made on the page');
    await page.locator('#create button[type=submit]').click();
    await page.locator('#secret').waitFor({ state: 'visible' });
    const secret = (await page.textContent('#secret-value')) as string;
    expect(secret).toMatch(/^rc_[A-Za-z0-9_-]{43}$/);
    expect((await whoami(secret)).body).toMatchObject({
      owner: 'token:0',
      token: { name: 'made on the page' },
    });
    await expect.poll(() => page.locator('#rows tr').count()).toBe(2);
    await screenshot(page, 'tokens-page');

    // Revoke the page-made one: gone from the list and refused by the API at once.
    const id = (await whoami(secret)).body.token as { id: string };
    await row(id.id).locator('button').click();
    await expect.poll(() => row(id.id).count()).toBe(0);
    expect((await whoami(secret)).status).toBe(401);
    // A reload shows the secret nowhere.
    await page.reload();
    await page.locator('#board').waitFor({ state: 'visible' });
    expect(await page.locator('#secret').isVisible()).toBe(false);
    expect(await page.locator('#rows tr').count()).toBe(1);
    await row(api.id).locator('button').click();
    await expect.poll(() => page.locator('#rows tr').count()).toBe(0);
    expect((await whoami(api.token)).status).toBe(401);
  });
});
