// The cell's interface in a real browser, against a real server and real kernels: completion and help
// from the kernel (Tab, Shift+Tab, `name?`), keyboard-only navigation through a page of cells (Tab never
// traps; Enter starts editing, Esc stops), names and announcements for screen readers, long output
// (bounded, elided, expanded, cleared), the status after a dead kernel is restarted, authoring pitfalls
// told in the console, and the server's pages on a phone: no horizontal overflow, no console errors.

import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import type { Browser, BrowserContext, ConsoleMessage, Locator, Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { launch, SHOTS, startWebServer, type WebServer } from './helpers.js';

const SLOT = 70;
const TOKEN = 'e2e-cell-ui-token-0123456789abcdef';
let server: WebServer;
let browser: Browser;
let closeBrowser: () => Promise<void>;
let ctx: BrowserContext;

beforeAll(async () => {
  [server, { browser, close: closeBrowser }] = await Promise.all([
    startWebServer(SLOT, { tokens: [TOKEN], jobs: true }),
    launch(),
  ]);
  ctx = await browser.newContext({ viewport: { width: 760, height: 900 } });
});

afterAll(async () => {
  await ctx?.close();
  await closeBrowser?.();
  await server?.stop();
});

/** A page on the author's site (another origin) with these cells between two links. */
async function lesson(path: string, cells: string, c: BrowserContext = ctx): Promise<Page> {
  server.pages.set(
    path,
    `<!doctype html><html lang="en"><head><meta name="viewport" content="width=device-width, initial-scale=1"></head>
<body><h1>Lesson</h1><a id="before" href="#a">Before</a>
${cells}
<a id="after" href="#b">After</a><script src="${server.base}/static/runcell.js"></script></body></html>`,
  );
  const p = await c.newPage();
  await p.goto(`${server.site}${path}`);
  await p.locator('.runcell .rc-run').first().waitFor();
  return p;
}

/** A screenshot of what these show (the cell and its popups), with a margin; or of the viewport. */
async function shot(p: Page, name: string, ...parts: Locator[]): Promise<void> {
  mkdirSync(SHOTS, { recursive: true });
  const boxes = (await Promise.all(parts.map((l) => l.boundingBox()))).filter((b) => b !== null);
  const x = Math.max(0, Math.min(...boxes.map((b) => b.x)) - 12);
  const y = Math.max(0, Math.min(...boxes.map((b) => b.y)) - 12);
  const right = Math.max(...boxes.map((b) => b.x + b.width)) + 12;
  const bottom = Math.max(...boxes.map((b) => b.y + b.height)) + 12;
  await p.screenshot({
    path: join(SHOTS, `${name}.png`),
    ...(boxes.length ? { clip: { x, y, width: right - x, height: bottom - y } } : {}),
  });
}

/** Replaces a cell's code through CodeMirror, clicked into (editing mode). */
async function setCode(cell: Locator, code: string): Promise<void> {
  await cell.locator('.rc-editor').hover();
  const cm = cell.locator('.cm-content');
  await cm.waitFor({ timeout: 10_000 });
  await cm.click();
  await cell.page().keyboard.press('Control+A');
  await cell.page().keyboard.insertText(code);
}

async function runAndWait(cell: Locator, code?: string): Promise<Locator> {
  const before = Number((await cell.getAttribute('data-runs')) ?? 0);
  if (code !== undefined) await setCode(cell, code);
  await cell.locator('.rc-run').click();
  await expect
    .poll(async () => Number((await cell.getAttribute('data-runs')) ?? 0), { timeout: 30_000 })
    .toBe(before + 1);
  return cell.locator('.rc-outputs');
}

/** The editor's text, one line per CodeMirror line. */
const docText = async (cell: Locator) => (await cell.locator('.cm-line').allTextContents()).join('\n');

/** The focused element, through shadow roots: a short description of it. */
function focused(p: Page): Promise<string> {
  return p.evaluate(`(() => {
    let a = document.activeElement;
    while (a?.shadowRoot?.activeElement) a = a.shadowRoot.activeElement;
    if (!a || a === document.body) return 'body';
    if (a.id === 'before' || a.id === 'after') return '#' + a.id;
    const n = [...document.querySelectorAll('.runcell')].indexOf(a.getRootNode().host);
    const editor = a.classList.contains('cm-content') || a.localName === 'textarea';
    return 'cell' + n + ': ' + (editor ? 'editor "' + a.getAttribute('aria-label') + '"' : a.localName + '.' + [...a.classList].join('.'));
  })()`);
}

describe('completion and help from the kernel', () => {
  let page: Page;
  let cell: Locator;

  it('Tab opens the kernel’s completions in a popup; Enter takes one; one match is inserted at once', async () => {
    page = await lesson('/complete', '<pre data-runcell>import math</pre>');
    cell = page.locator('.runcell').first();
    await runAndWait(cell);
    await setCode(cell, 'math.f');
    await page.keyboard.press('Tab');
    const popup = cell.locator('.cm-tooltip-autocomplete');
    await popup.waitFor({ timeout: 15_000 });
    const options = await popup.locator('li').allTextContents();
    expect(options.some((o) => o.startsWith('factorial'))).toBe(true);
    expect(options.some((o) => o.startsWith('floor'))).toBe(true);
    // Screen readers: a listbox whose options the content points at.
    expect(await popup.locator('ul').getAttribute('role')).toBe('listbox');
    await shot(page, 'completion', cell.locator('.rc'), popup);
    await page.keyboard.type('lo');
    await expect.poll(() => popup.locator('li[aria-selected]').textContent()).toMatch(/^floor/);
    await page.keyboard.press('Enter');
    await expect.poll(() => docText(cell)).toBe('math.floor');
    expect(await popup.count()).toBe(0);
    // A single match needs no popup.
    await setCode(cell, 'math.sqr');
    await page.keyboard.press('Tab');
    await expect.poll(() => docText(cell), { timeout: 15_000 }).toBe('math.sqrt');
    // Where there is nothing to complete, Tab indents.
    await setCode(cell, 'if True:\n');
    await page.keyboard.press('Tab');
    await expect.poll(() => docText(cell)).toBe('if True:\n    ');
  });

  it('a pointer picks a completion too', async () => {
    await setCode(cell, 'math.co');
    await page.keyboard.press('Tab');
    const option = cell.locator('.cm-tooltip-autocomplete li', { hasText: /^copysign/ });
    await option.click({ timeout: 15_000 });
    await expect.poll(() => docText(cell)).toBe('math.copysign');
  });

  it('Shift+Tab shows the docstring of the name at the cursor; Esc closes it', async () => {
    await setCode(cell, 'len');
    await page.keyboard.press('Shift+Tab');
    const help = cell.locator('.rc-help');
    await expect.poll(() => help.textContent(), { timeout: 15_000 }).toContain('Return the number of items');
    expect(await cell.locator('.cm-content').getAttribute('aria-describedby')).toContain('rc-help');
    await shot(page, 'help', cell.locator('.rc'), help);
    await page.keyboard.press('Escape');
    expect(await help.count()).toBe(0);
    // The text was not changed by Shift+Tab.
    expect(await docText(cell)).toBe('len');
    // The close button works for a pointer.
    await page.keyboard.press('Shift+Tab');
    await help.locator('.rc-help-close').click({ timeout: 15_000 });
    expect(await help.count()).toBe(0);
  });

  it('`name?` and `name??` show help as output', async () => {
    const out = await runAndWait(cell, 'len?');
    await expect.poll(() => out.textContent()).toContain('Return the number of items');
    const src = await runAndWait(cell, 'import json\njson.dumps??');
    await expect.poll(() => src.textContent()).toContain('def dumps(');
    await page.close();
  });

  it('on a touch screen the list opens after "." and a tap takes an option', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      isMobile: true,
      hasTouch: true,
    });
    const p = await lesson('/complete-touch', '<pre data-runcell>import math</pre>', phone);
    const c = p.locator('.runcell').first();
    await c.locator('.rc-run').tap();
    await expect.poll(() => c.getAttribute('data-runs'), { timeout: 30_000 }).toBe('1');
    await c.locator('.rc-editor').tap();
    const cm = c.locator('.cm-content');
    await cm.waitFor({ timeout: 10_000 });
    await cm.tap();
    await p.keyboard.press('Control+A');
    await p.keyboard.insertText('math');
    await p.keyboard.type('.');
    const option = c.locator('.cm-tooltip-autocomplete li', { hasText: /^pi$/ });
    await option.waitFor({ timeout: 15_000 });
    await option.tap();
    await expect.poll(() => docText(c)).toBe('math.pi');
    await phone.close();
  });
});

describe('keyboard and screen readers', () => {
  let page: Page;

  it('Tab passes through every editor and control of a three-cell page and out, and back with Shift+Tab', async () => {
    page = await lesson(
      '/keyboard',
      `<pre data-runcell>print("one")</pre>
<pre data-runcell data-label="Exercise 2">x = 2</pre>
<script type="text/x-python" data-runcell>print(1 < 2)</script>`,
    );
    const cells = page.locator('.runcell');
    await expect.poll(() => cells.count()).toBe(3);
    await page.locator('#before').focus();
    const forward: string[] = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Tab');
      const f = await focused(page);
      forward.push(f);
      if (f === '#after') break;
    }
    expect(forward[forward.length - 1]).toBe('#after');
    for (const [n, name] of ['Code cell 1 of 3', 'Exercise 2', 'Code cell 3 of 3'].entries()) {
      expect(forward).toContain(`cell${n}: editor "${name}"`);
      expect(forward).toContain(`cell${n}: button.primary.rc-run`);
      expect(forward).toContain(`cell${n}: button.rc-share-btn`);
      expect(forward).toContain(`cell${n}: button.rc-keys-btn`);
      // Each stop is visited once: nothing loops back.
      expect(forward.filter((f) => f === `cell${n}: button.primary.rc-run`)).toHaveLength(1);
    }
    expect(await cells.nth(1).locator('.rc').getAttribute('aria-label')).toBe('Exercise 2');
    const back: string[] = [];
    for (let i = 0; i < 40; i++) {
      await page.keyboard.press('Shift+Tab');
      const f = await focused(page);
      back.push(f);
      if (f === '#before') break;
    }
    expect(back[back.length - 1]).toBe('#before');
    expect(back).toContain('cell0: editor "Code cell 1 of 3"');
  });

  it('Enter starts editing (Tab indents), Esc stops it (Tab moves on), and the hint says so', async () => {
    const cell = page.locator('.runcell').nth(1);
    const cm = cell.locator('.cm-content');
    await cm.waitFor({ timeout: 10_000 });
    await cm.focus();
    const hint = cell.locator('.rc-hint');
    await expect.poll(() => hint.isVisible()).toBe(true);
    expect(await hint.textContent()).toContain('Enter or type to edit');
    expect(await cm.getAttribute('aria-describedby')).toBe('rc-keyhint');
    await page.keyboard.press('Enter');
    expect(await hint.textContent()).toContain('Esc, then Tab, to move on');
    expect(await docText(cell)).toBe('x = 2');
    await page.keyboard.press('End');
    await page.keyboard.press('Enter');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('cell1: editor "Exercise 2"');
    expect(await docText(cell)).toBe('x = 2\n    ');
    await page.keyboard.press('Escape');
    expect(await hint.textContent()).toContain('Enter or type to edit');
    await page.keyboard.press('Tab');
    expect(await focused(page)).toBe('cell1: button.primary.rc-run');
    // Typing enters the editor too: Enter is then a newline.
    await page.keyboard.press('Shift+Tab');
    expect(await focused(page)).toBe('cell1: editor "Exercise 2"');
    await page.keyboard.type('#');
    expect(await hint.textContent()).toContain('Tab completes');
    await page.keyboard.press('Enter');
    expect((await docText(cell)).split('\n')).toHaveLength(3);
  });

  it('the ? button lists the shortcuts; a finished run is announced once, not line by line', async () => {
    const cell = page.locator('.runcell').nth(2);
    await cell.locator('.rc-keys-btn').click();
    const keys = cell.locator('.rc-keys');
    await expect.poll(() => keys.textContent()).toContain('Shift+Tab');
    expect(await cell.locator('.rc-keys-btn').getAttribute('aria-expanded')).toBe('true');
    await cell.locator('.rc-keys-btn').press('Escape');
    expect(await keys.isHidden()).toBe(true);
    // The script form keeps "<" as written.
    const out = await runAndWait(cell);
    await expect.poll(() => out.textContent()).toBe('True\n');
    expect(await cell.locator('.rc-sr').getAttribute('role')).toBe('status');
    expect(await cell.locator('.rc-sr').textContent()).toBe('Code cell 3 of 3 finished: 1 line of output.');
    expect(await cell.locator('.rc-outputs').getAttribute('aria-live')).toBeNull();
    await page.close();
  });
});

describe('long output', () => {
  it('a 10,000-line print stays a bounded box: first and last lines, an elision marker, Expand, show all, Clear', async () => {
    const page = await lesson(
      '/long',
      '<pre data-runcell>for i in range(10000):\n    print("line", i)</pre>',
    );
    const cell = page.locator('.runcell');
    const out = await runAndWait(cell);
    const marker = out.locator('.rc-elided');
    await expect.poll(() => marker.textContent()).toBe('⋯ 9,600 more lines · show all');
    const text = (await out.textContent()) as string;
    expect(text.startsWith('line 0\nline 1\n')).toBe(true);
    expect(text).toContain('line 199\n⋯');
    expect(text).toContain('line 9800\n');
    expect(text.endsWith('line 9999\n')).toBe(true);
    expect(text).not.toContain('line 5000\n');
    // Bounded, scrolled to the newest line, reachable with the keyboard to scroll.
    const box = async () => (await out.boundingBox())?.height ?? 0;
    expect(await box()).toBeLessThan(460);
    expect(await (await cell.boundingBox())?.height).toBeLessThan(800);
    await expect
      .poll(() => out.evaluate((e) => e.scrollTop + e.clientHeight >= e.scrollHeight - 8))
      .toBe(true);
    await expect.poll(() => out.getAttribute('tabindex')).toBe('0');
    expect(await out.getAttribute('aria-label')).toBe('Output of Code cell 1 of 1');
    expect(await cell.locator('.rc-sr').textContent()).toBe(
      'Code cell 1 of 1 finished: 10,000 lines of output.',
    );
    await marker.evaluate((e) => e.scrollIntoView({ block: 'center' }));
    await shot(page, 'long-output', cell.locator('.rc'));
    // Expand: the box grows to its content; Collapse: bounded again.
    const expand = cell.locator('.rc-expand');
    await expand.click();
    expect(await expand.getAttribute('aria-expanded')).toBe('true');
    expect(await box()).toBeGreaterThan(4_000);
    await expand.click();
    expect(await box()).toBeLessThan(460);
    // Show all: every line, from the output the cell kept.
    await marker.click();
    await expect.poll(() => out.locator('.rc-elided').count()).toBe(0);
    expect(await out.textContent()).toContain('line 5000\n');
    const kept = await page.evaluate(
      () =>
        (
          (
            globalThis as unknown as { RunCell: { makeCell(s: string): { outputs: { text?: string }[] } } }
          ).RunCell.makeCell('.runcell').outputs[0]?.text ?? ''
        ).split('\n').length,
    );
    expect(kept).toBe(10_001);
    // Clear: nothing left, and the controls go with it.
    await cell.locator('.rc-clear').click();
    expect(await out.textContent()).toBe('');
    await expect.poll(() => cell.locator('.rc-clear').isVisible()).toBe(false);
    await page.close();
  });
});

describe('status and restarts', () => {
  it('a kernel that died mid-run restarts to Idle, says so, and marks the old output', async () => {
    const page = await lesson(
      '/restart',
      `<pre data-runcell>import os, signal, time
print("before the crash", flush=True)
time.sleep(0.5)
os.kill(os.getpid(), signal.SIGKILL)</pre>
<pre data-runcell data-restart-outputs="clear">print("kept until restart")</pre>`,
    );
    const cell = page.locator('.runcell').first();
    await cell.locator('.rc-run').click();
    await expect.poll(() => cell.getAttribute('data-status'), { timeout: 30_000 }).toBe('dead');
    expect(await cell.locator('.rc-outputs').textContent()).toContain('before the crash');
    await cell.locator('.rc-banner-restart').click();
    await expect.poll(() => cell.getAttribute('data-status'), { timeout: 30_000 }).toMatch(/^(idle|ready)$/);
    await expect.poll(() => cell.locator('.rc-status .label').textContent()).toBe('Restarted · idle');
    expect(await cell.locator('.rc-run').isEnabled()).toBe(true);
    expect(await cell.locator('.rc-banner').isHidden()).toBe(true);
    expect(await cell.locator('.rc-out').getAttribute('class')).toContain('rc-stale');
    expect(await cell.locator('.rc-stale-note').textContent()).toBe(
      '↻ Output from before the kernel restarted',
    );
    await expect
      .poll(() => cell.locator('.rc-sr').textContent())
      .toBe('Code cell 1 of 2: the kernel restarted; earlier variables are gone.');
    await shot(page, 'restarted', cell.locator('.rc'));
    // The next run is the new kernel's: the mark goes.
    const out = await runAndWait(cell, 'print("new kernel")');
    expect(await out.textContent()).toBe('new kernel\n');
    expect(await cell.locator('.rc-out').getAttribute('class')).not.toContain('rc-stale');
    expect(await cell.locator('.rc-status .label').textContent()).not.toContain('Restarted');

    // An author who asked for it: Restart clears the outputs.
    const other = page.locator('.runcell').nth(1);
    const out2 = await runAndWait(other);
    expect(await out2.textContent()).toBe('kept until restart\n');
    await other.locator('.rc-restart').click();
    await expect
      .poll(() => other.locator('.rc-status .label').textContent(), { timeout: 30_000 })
      .toBe('Restarted · idle');
    expect(await out2.textContent()).toBe('');
    await page.close();
  });
});

describe('authoring pitfalls', () => {
  it('warns in the console when a pre cell’s code was cut by the HTML parser, not for highlighted code', async () => {
    const warnings: string[] = [];
    const p = await ctx.newPage();
    p.on('console', (m: ConsoleMessage) => {
      if (m.type() === 'warning') warnings.push(m.text());
    });
    server.pages.set(
      '/pitfall',
      `<!doctype html><html><body>
<pre data-runcell id="hl"><span class="k">print</span>(<span class="s">"ok"</span>)</pre>
<pre data-runcell id="cut">if a<b: print(a)</pre>
<p>After the code.</p>
<script src="${server.base}/static/runcell.js"></script></body></html>`,
    );
    await p.goto(`${server.site}/pitfall`);
    await p.locator('.runcell .rc-run').first().waitFor();
    await expect
      .poll(() => warnings.filter((w) => w.includes('cut short by the HTML parser')).length)
      .toBe(1);
    expect(warnings.find((w) => w.includes('cut short'))).toContain(
      '<script type="text/x-python" data-runcell>',
    );
    await p.close();
  });
});

describe('phone', () => {
  it('every page fits 390 px without console errors; touch gets a touch hint; the language picker shows', async () => {
    const phone = await browser.newContext({
      viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2,
      isMobile: true,
      hasTouch: true,
    });
    const problems: string[] = [];
    phone.on('console', (m) => {
      if (m.type() === 'error') problems.push(`${m.page()?.url()}: ${m.text()}`);
    });
    phone.on('weberror', (e) => problems.push(`page error: ${e.error().message}`));
    phone.on('requestfailed', (r) => problems.push(`request failed: ${r.url()}`));
    phone.on('response', (r) => {
      if (r.status() >= 400) problems.push(`${r.status()}: ${r.url()}`);
    });
    const permalink = await fetch(`${server.base}/api/permalinks`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ code: 'print("shared")', kernel: 'python3' }),
    }).then((r) => r.json() as Promise<{ id: string }>);
    const p = await phone.newPage();
    const width = () =>
      p.evaluate<number>('Math.max(document.documentElement.scrollWidth, document.body.scrollWidth)');
    for (const path of ['/', '/embed', '/jobs', '/tokens', '/stats', `/p/${permalink.id}`]) {
      await p.goto(`${server.base}${path}`);
      await p.waitForLoadState('networkidle');
      expect(await width(), path).toBeLessThanOrEqual(390);
    }
    // The jobs board after sign-in, with a job in it.
    await p.goto(`${server.base}/jobs`);
    await p.locator('#token').fill(TOKEN);
    await p.locator('#login button[type=submit]').tap();
    await p.locator('#board').waitFor();
    expect(await width()).toBeLessThanOrEqual(390);
    await p.locator('details.submit summary').tap();
    await p.locator('#submit button[type=submit]').tap();
    await p.locator('#rows tr').first().waitFor({ timeout: 30_000 });
    expect(await width()).toBeLessThanOrEqual(390);
    await shot(p, 'phone-jobs');
    // The front door: a touch hint, and the language picker inside the cell.
    await p.goto(`${server.base}/`);
    const cell = p.locator('#cell');
    await cell.locator('.rc-lang').waitFor();
    expect(await p.locator('.lede .touch-hint').isVisible()).toBe(true);
    expect(await p.locator('.lede .keys-hint').isVisible()).toBe(false);
    const lang = (await cell.locator('.rc-lang').boundingBox()) as { x: number; width: number };
    const frame = (await cell.locator('.rc').boundingBox()) as { x: number; width: number };
    expect(lang.x + lang.width).toBeLessThanOrEqual(frame.x + frame.width);
    // Not cut short: as wide as the same picker without any width limit.
    const natural = await cell.locator('.rc-lang').evaluate((e) => {
      const free = e.cloneNode(true) as typeof e;
      free.setAttribute('style', 'position:absolute;max-width:none;width:auto;visibility:hidden');
      e.after(free);
      const w = free.getBoundingClientRect().width;
      free.remove();
      return w;
    });
    expect(lang.width).toBeGreaterThanOrEqual(natural - 1);
    await shot(p, 'phone-home');
    expect(problems).toEqual([]);
    await phone.close();
  });
});
