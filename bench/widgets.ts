// Widgets as a visitor feels them, in Chromium against a real server and a real kernel (ipywidgets 6):
// the time from a slider move (an `input` event on the range, as a drag fires) to the updated output
// of its observer in the page, 20 moves, over websocket and over long-poll. Baseline, in the same run
// and kernel: the same print sent as a cell run (execute_request) from the same page. Also the gzip
// sizes of the core and of the lazy widget chunk, and 10,000 widgets (past the per-kernel cap of 2,000):
// the time from Run to the capped notice, with the kernel's own share, opened as straight comm_opens
// (a hostile kernel; the browser test's case) and as ipywidgets Labels.
//   npm run bench -- widgets          MOVES=20 (default), MANY=10000 (default)
import { readdirSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
import { launch, ROOT, startWebServer } from '../test/e2e/helpers.js';

const MOVES = Number(process.env.MOVES ?? 20);
const MANY = Number(process.env.MANY ?? 10_000);

// Both print the kernel's own time (opening them) as "kernel <seconds>".
const MANY_CODE = {
  comm_opens: `import time; t0 = time.time()
from ipykernel.comm import Comm
from IPython.display import display
M = dict(_model_module="jupyter-js-widgets", _view_module="jupyter-js-widgets")
ids = [Comm(target_name="jupyter.widget", data=dict(M, _model_name="LabelModel", _view_name="LabelView", value=str(i))).comm_id for i in range(${MANY})]
box = Comm(target_name="jupyter.widget", data=dict(M, _model_name="VBoxModel", _view_name="VBoxView", children=["IPY_MODEL_" + i for i in ids]))
display({"application/vnd.jupyter.widget-view+json": {"model_id": box.comm_id}, "text/plain": "VBox"}, raw=True)
print("kernel", time.time() - t0)`,
  ipywidgets: `import time; t0 = time.time()
from ipywidgets import Label, VBox
from IPython.display import display
display(VBox([Label(str(i)) for i in range(${MANY})]))
print("kernel", time.time() - t0)`,
};
// From Run to the capped notice shown in the cell (checked every 20 ms), then the page's answer time.
const TO_NOTICE = `async () => {
  const root = document.querySelector('#m').shadowRoot;
  const t0 = performance.now();
  void window.m.run();
  await new Promise((resolve) => {
    const tick = () => (root.querySelector('.rc-w-notice') ? resolve() : setTimeout(tick, 20));
    tick();
  });
  const notice = performance.now() - t0;
  await new Promise((resolve) => {
    const tick = () => (/kernel [0-9.]+/.test(root.querySelector('.rc-outputs').textContent) ? resolve() : setTimeout(tick, 20));
    tick();
  });
  const kernel = Number(/kernel ([0-9.]+)/.exec(root.querySelector('.rc-outputs').textContent)[1]) * 1000;
  const t1 = performance.now();
  await new Promise((resolve) => setTimeout(resolve, 0));
  return { notice_ms: notice, kernel_ms: kernel, page_answers_ms: performance.now() - t1 };
}`;
const SLOT = 81;

const CODE = `from ipywidgets import IntSlider, Output
from IPython.display import display
s = IntSlider(value=0, max=1000)
out = Output()
def show(change):
    out.clear_output(wait=True)
    with out:
        print("n =", change["new"])
s.observe(show, names="value")
display(s, out)`;

// In the page (plain JavaScript: this file is type-checked without the DOM library).
// One move: from the input event to the observer's output shown in the Output widget.
const MOVE = `(n) => new Promise((resolve) => {
  const root = document.querySelector('#w').shadowRoot;
  const out = root.querySelector('.rc-w-output');
  const input = root.querySelector('input[type=range]');
  const t0 = performance.now();
  const obs = new MutationObserver(() => {
    if (out.textContent === 'n = ' + n + '\\n') { obs.disconnect(); resolve(performance.now() - t0); }
  });
  obs.observe(out, { subtree: true, childList: true, characterData: true });
  input.value = String(n);
  input.dispatchEvent(new Event('input'));
})`;
const RUN = `async (n) => {
  const root = document.querySelector('#b').shadowRoot;
  window.b.code = 'print("n =", ' + n + ')';
  const t0 = performance.now();
  const done = new Promise((resolve) => {
    const obs = new MutationObserver(() => {
      const o = root.querySelector('.rc-outputs');
      if (o && o.textContent === 'n = ' + n + '\\n') { obs.disconnect(); resolve(performance.now() - t0); }
    });
    obs.observe(root, { subtree: true, childList: true, characterData: true });
  });
  await window.b.run();
  return done;
}`;

const pct = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] ?? Number.NaN;
};

const dist = join(ROOT, 'web', 'dist');
const gz = (f: string) => gzipSync(readFileSync(join(dist, f)), { level: 9 }).length;
const chunk = readdirSync(join(dist, 'chunks')).find((f) => f.startsWith('widgets-')) as string;
const sizes = { core_gzip: gz('runcell.js'), widget_chunk_gzip: gz(`chunks/${chunk}`) };

const server = await startWebServer(SLOT);
const { browser, close } = await launch();
const results: Record<string, unknown> = { sizes };
try {
  for (const transport of ['websocket', 'longpoll'] as const) {
    server.pages.set(
      `/${transport}`,
      `<!doctype html><html><body><script src="${server.base}/static/runcell.js"></script>
<div id="w"></div><div id="b"></div><script>
  const o = { link: 'k', transport: '${transport}' };
  window.w = RunCell.makeCell('#w', { ...o, code: ${JSON.stringify(CODE)} });
  window.b = RunCell.makeCell('#b', { ...o, code: '' });
</script></body></html>`,
    );
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${server.site}/${transport}`);
    await page.evaluate(() => (globalThis as unknown as { w: { run(): Promise<void> } }).w.run());
    await page.waitForFunction(
      "!!document.querySelector('#w').shadowRoot.querySelector('.rc-w-output')",
      undefined,
      {
        timeout: 60_000,
      },
    );
    const move: number[] = [];
    const base: number[] = [];
    for (let i = 1; i <= MOVES; i++) {
      // One move: from the input event to the observer's output shown in the Output widget.
      move.push(Number(await page.evaluate(`(${MOVE})(${i * 10})`)));
      // Baseline: the same print as a cell run on the same kernel.
      base.push(Number(await page.evaluate(`(${RUN})(${i})`)));
    }
    const r = {
      moves: MOVES,
      move_ms: { median: pct(move, 50), p99: pct(move, 99) },
      cell_run_ms: { median: pct(base, 50), p99: pct(base, 99) },
      ratio_median: pct(move, 50) / pct(base, 50),
    };
    results[transport] = r;
    await ctx.close();
  }
  for (const [kind, code] of Object.entries(MANY_CODE)) {
    server.pages.set(
      `/many-${kind}`,
      `<!doctype html><html><body><script src="${server.base}/static/runcell.js"></script>
<div id="m"></div><script>window.m = RunCell.makeCell('#m', { code: ${JSON.stringify(code)} });</script></body></html>`,
    );
    const ctx = await browser.newContext();
    const page = await ctx.newPage();
    await page.goto(`${server.site}/many-${kind}`);
    await page.waitForFunction('!!window.m');
    results[`many_${kind}`] = { widgets: MANY, ...((await page.evaluate(`(${TO_NOTICE})()`)) as object) };
    await ctx.close();
  }
} finally {
  await close();
  await server.stop();
}
console.log(JSON.stringify(results, null, 2));
for (const t of ['websocket', 'longpoll']) {
  const r = results[t] as {
    move_ms: { median: number; p99: number };
    cell_run_ms: { median: number };
    ratio_median: number;
  };
  console.log(
    `widgets ${t}: slider move -> output median ${r.move_ms.median.toFixed(1)} ms, p99 ${r.move_ms.p99.toFixed(1)} ms; ` +
      `cell run baseline median ${r.cell_run_ms.median.toFixed(1)} ms; ratio ${r.ratio_median.toFixed(2)}`,
  );
}
for (const kind of Object.keys(MANY_CODE)) {
  const r = results[`many_${kind}`] as { notice_ms: number; kernel_ms: number; page_answers_ms: number };
  console.log(
    `widgets ${MANY} as ${kind}: Run -> capped notice ${(r.notice_ms / 1000).toFixed(1)} s ` +
      `(the kernel's own ${(r.kernel_ms / 1000).toFixed(1)} s); the page answers in ${r.page_answers_ms.toFixed(0)} ms`,
  );
}
console.log(`sizes: runcell.js ${sizes.core_gzip} B gzip, widget chunk ${sizes.widget_chunk_gzip} B gzip`);
