// One live cell: editor, controls, status, output area, in a shadow root of its host element. Talks to
// its kernel (shared with linked cells) and tells the page what happens through DOM events:
//   runcell:status {status, reason?, transport?, kernelId?}   runcell:output {output}
//   runcell:error {ename, evalue, traceback} | {message}      runcell:done {status, outputs}
//   runcell:share {url, id, snippet}
// Accessibility: the cell is a group named after it ("Code cell 3 of 12", or the author's label), and
// so is its editor; a polite live region says when a run ends or the kernel restarts (the output
// area itself is not live, so streaming output does not flood a screen reader); the "?" button lists
// the keyboard shortcuts.

import { loadChunk } from './api.js';
import { Editor } from './editor.js';
import { ApiError } from './fetch.js';
import { type KernelConnection, kernelFor, type StatusDetail, shutdownOnUnload } from './kernel.js';
import type { ErrorContent, Message, Output } from './messages.js';
import { type CellOptions, type Control, type ResolvedOptions, resolveOptions } from './options.js';
import { OutputArea } from './output.js';
import { packagesControl } from './packages.js';
import { ansiToDom } from './render/ansi.js';
import { CELL_CSS } from './styles.js';
import { tusUpload } from './upload.js';

const ICONS: Record<string, string> = {
  run: '<path d="M4 2.5v11l9-5.5z" fill="currentColor"/>',
  stop: '<rect x="3.5" y="3.5" width="9" height="9" rx="1.5" fill="currentColor"/>',
  restart:
    '<path d="M13 8a5 5 0 1 1-1.6-3.7M13 2.5v3h-3" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>',
  share:
    '<path d="M6.5 9.5l3-3M7 4.5l1.5-1.5a2.8 2.8 0 0 1 4 4L11 8.5M9 11.5L7.5 13a2.8 2.8 0 0 1-4-4L5 7.5" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round"/>',
  upload:
    '<path d="M8 11V3M4.5 6.5L8 3l3.5 3.5M3 13h10" fill="none" stroke="currentColor" stroke-width="1.6" stroke-linecap="round" stroke-linejoin="round"/>',
};

/** Every cell on the page, for their names ("Code cell 3 of 12"). */
const live = new Set<Cell>();
let relabelQueued = false;
function relabel(): void {
  if (relabelQueued) return;
  relabelQueued = true;
  queueMicrotask(() => {
    relabelQueued = false;
    const all = [...live].sort((a, b) =>
      a.host.compareDocumentPosition(b.host) & Node.DOCUMENT_POSITION_FOLLOWING ? -1 : 1,
    );
    all.forEach((c, i) => {
      c.name(c.options.label ?? `Code cell ${i + 1} of ${all.length}`);
    });
  });
}

const LABELS: Record<string, string> = {
  new: 'Ready',
  connecting: 'Connecting…',
  ready: 'Connected',
  idle: 'Idle',
  busy: 'Running…',
  reconnecting: 'Reconnecting…',
  restarting: 'Restarting…',
  dead: 'Kernel stopped',
};

/** How long a kernel sat unused, as a visitor reads it: "10 min", "45 s". */
function idleText(ms: number): string {
  return ms >= 60_000 ? `${Math.round(ms / 60_000)} min` : `${Math.max(1, Math.round(ms / 1000))} s`;
}

function icon(name: string): SVGSVGElement {
  const t = document.createElement('template');
  t.innerHTML = `<svg viewBox="0 0 16 16" aria-hidden="true">${ICONS[name] ?? ''}</svg>`;
  return t.content.firstChild as SVGSVGElement;
}

function button(label: string, iconName: string | undefined, cls = ''): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  if (cls) b.className = cls;
  if (iconName) b.appendChild(icon(iconName));
  const span = document.createElement('span');
  span.textContent = label;
  b.appendChild(span);
  b.setAttribute('aria-label', label);
  return b;
}

export class Cell {
  readonly host: HTMLElement;
  readonly options: ResolvedOptions;
  readonly #root: ShadowRoot;
  readonly #frame: HTMLElement;
  readonly #editor: Editor;
  readonly #area: OutputArea;
  readonly #els: {
    bar: HTMLElement;
    run: HTMLButtonElement;
    interrupt: HTMLButtonElement;
    restart: HTMLButtonElement;
    share: HTMLButtonElement;
    upload: HTMLButtonElement;
    file: HTMLInputElement;
    lang: HTMLSelectElement;
    status: HTMLElement;
    statusLabel: HTMLElement;
    keys: HTMLButtonElement;
    keysBox: HTMLElement;
    announce: HTMLElement;
    banner: HTMLElement;
    bannerMsg: HTMLElement;
    bannerAction: HTMLButtonElement;
    progress: HTMLElement;
    shareBox: HTMLElement;
  };
  #kernel: KernelConnection;
  #unsubscribe: (() => void)[] = [];
  #running: string | undefined;
  #runs = 0;
  /** The execute_reply's status, once it has come (the run's outcome for runcell:done). */
  #replied: string | undefined;
  #idle = false;
  #status: StatusDetail = { status: 'idle' };
  #name = 'Code cell';
  /** The kernel was restarted (or replaced after it died) and nothing has run since. */
  #restarted = false;

  constructor(host: HTMLElement, options: CellOptions = {}, fallbackCode = '') {
    this.host = host;
    this.options = resolveOptions(options, fallbackCode);
    const o = this.options;
    this.#root = host.shadowRoot ?? host.attachShadow({ mode: 'open' });
    this.#root.replaceChildren();
    const style = document.createElement('style');
    style.textContent = CELL_CSS;
    this.#root.appendChild(style);

    const frame = document.createElement('div');
    frame.className = 'rc';
    frame.setAttribute('part', 'cell');
    frame.dataset.status = 'new';
    frame.setAttribute('role', 'group');
    this.#frame = frame;
    this.#applyTheme();

    this.#editor = new Editor({
      code: o.code,
      language: o.language,
      readOnly: o.readOnly,
      lineNumbers: o.lineNumbers,
      label: o.label ?? 'Code cell',
      ask: (type, content) => this.#kernel.ask(type, content),
      renderText: (text, into) => ansiToDom(text, into),
      onRun: () => void this.run(),
    });

    const bar = document.createElement('div');
    bar.className = 'rc-bar';
    const run = button(o.runLabel, 'run', 'primary rc-run');
    run.title = 'Run (Shift+Enter)';
    const interrupt = button('Interrupt', 'stop', 'rc-interrupt');
    const restart = button('Restart', 'restart', 'rc-restart');
    restart.title = 'Restart the kernel (variables are lost)';
    const lang = document.createElement('select');
    lang.className = 'rc-lang';
    lang.setAttribute('aria-label', 'Language');
    lang.hidden = true;
    const spacer = document.createElement('span');
    spacer.className = 'rc-spacer';
    const upload = button('Upload', 'upload', 'rc-upload');
    upload.title = 'Upload a file into the kernel’s working directory (or drop it on the cell)';
    const file = document.createElement('input');
    file.type = 'file';
    file.hidden = true;
    const share = button('Share', 'share', 'rc-share-btn');
    share.title = 'Create a permalink and an embed snippet';
    const status = document.createElement('span');
    status.className = 'rc-status';
    const dot = document.createElement('i');
    dot.className = 'rc-dot';
    const statusLabel = document.createElement('span');
    statusLabel.className = 'label';
    status.append(dot, statusLabel);
    const keys = button('Keyboard shortcuts', undefined, 'rc-keys-btn');
    (keys.firstChild as HTMLElement).textContent = '?';
    keys.setAttribute('aria-expanded', 'false');
    keys.title = 'Keyboard shortcuts';
    bar.append(run, interrupt, restart, lang, spacer, status, upload, file, share, keys);
    const keysBox = document.createElement('div');
    keysBox.className = 'rc-keys';
    keysBox.hidden = true;
    const announce = document.createElement('div');
    announce.className = 'rc-sr';
    announce.setAttribute('role', 'status');

    const banner = document.createElement('div');
    banner.className = 'rc-banner';
    banner.setAttribute('role', 'alert');
    banner.hidden = true;
    const bannerMsg = document.createElement('span');
    bannerMsg.className = 'msg';
    const bannerAction = button('Restart kernel', 'restart', 'primary rc-banner-restart');
    banner.append(bannerMsg, bannerAction);

    const progress = document.createElement('div');
    progress.className = 'rc-progress';
    progress.hidden = true;
    const shareBox = document.createElement('div');
    shareBox.className = 'rc-share';
    shareBox.hidden = true;

    this.#area = new OutputArea({
      input: (value, req) => this.#kernel.inputReply(value, req),
      executeReply: (c, m) => this.#onExecuteReply(c.status, m),
      status: (c, m) => this.#onOwnStatus(c.execution_state, m),
      output: (out) => this.#emit('runcell:output', { output: out }),
      error: (c: ErrorContent) =>
        this.#emit('runcell:error', { ename: c.ename, evalue: c.evalue, traceback: c.traceback }),
      server: o.server,
      maxLines: o.maxOutputLines,
      widgets: () => this.#kernel.widgets,
    });
    this.#area.el.dataset.empty = o.placeholder;
    frame.append(this.#editor.el, bar, keysBox, banner, progress, shareBox, this.#area.root, announce);
    this.#root.appendChild(frame);
    this.#els = {
      bar,
      run,
      interrupt,
      restart,
      share,
      upload,
      file,
      lang,
      status,
      statusLabel,
      keys,
      keysBox,
      announce,
      banner,
      bannerMsg,
      bannerAction,
      progress,
      shareBox,
    };
    this.#applyHidden();

    run.addEventListener('click', () => void this.run());
    // A press comes some 50-100 ms before its click: start the kernel (from the server's warm pool) then.
    run.addEventListener('pointerdown', () => void this.#kernel.ensure().catch(() => undefined), {
      passive: true,
    });
    interrupt.addEventListener('click', () => void this.interrupt());
    restart.addEventListener('click', () => void this.restart());
    bannerAction.addEventListener('click', () => void this.restart());
    share.addEventListener('click', () => void this.share());
    upload.addEventListener('click', () => file.click());
    file.addEventListener('change', () => {
      const f = file.files?.[0];
      file.value = '';
      if (f) void this.upload(f);
    });
    frame.addEventListener('dragover', (e) => {
      if (this.options.hide.includes('upload') || !e.dataTransfer?.types.includes('Files')) return;
      e.preventDefault();
      frame.classList.add('drop');
    });
    frame.addEventListener('dragleave', () => frame.classList.remove('drop'));
    frame.addEventListener('drop', (e) => {
      frame.classList.remove('drop');
      const f = e.dataTransfer?.files?.[0];
      if (!f || this.options.hide.includes('upload')) return;
      e.preventDefault();
      void this.upload(f);
    });
    lang.addEventListener('change', () => this.#switchKernel(lang.value));
    keys.addEventListener('click', () => void this.#toggleKeys());
    keys.addEventListener('keydown', (e) => {
      if (e.key === 'Escape') void this.#toggleKeys(false);
    });
    live.add(this);
    relabel();

    this.#kernel = this.#attach(kernelFor(this.#kernelOptions(o.kernel)));
    packagesControl(
      lang,
      () => this.#kernel.api,
      () => this.#kernel.kernelName,
    );
    shutdownOnUnload();
    if (o.outputs.length) this.#area.restore(o.outputs);
    this.#renderStatus();
    if (o.languagePicker) void this.#loadSpecs();
    if (o.autorun) void this.run();
    else if (o.eager) this.#startWhenVisible();
  }

  // ---- public API ---------------------------------------------------------------------------------

  get code(): string {
    return this.#editor.value;
  }

  set code(s: string) {
    this.#editor.value = s;
  }

  get outputs(): Output[] {
    return this.#area.outputs;
  }

  get status(): StatusDetail {
    return this.#status;
  }

  get kernel(): KernelConnection {
    return this.#kernel;
  }

  /** The cell's accessible name (set for every cell when cells come and go). */
  name(label: string): void {
    this.#name = label;
    this.#frame.setAttribute('aria-label', label);
    this.#editor.setLabel(label);
    this.#area.el.dataset.label = `Output of ${label}`;
  }

  setReadOnly(ro: boolean): void {
    this.options.readOnly = ro;
    this.#editor.setReadOnly(ro);
  }

  focus(): void {
    this.#editor.focus();
  }

  /** Runs the code; resolves when the kernel is idle again (or the run could not start). */
  async run(): Promise<void> {
    if (this.#running) return;
    const code = this.#editor.value;
    this.#area.clear();
    this.#hideBanner();
    // A stopped kernel (gone idle) is replaced by this run: a new kernel, but these outputs are its own.
    this.#restarted = this.#status.status === 'dead';
    this.#replied = undefined;
    this.#idle = false;
    this.#running = 'pending';
    this.#renderStatus();
    try {
      this.#running = await this.#kernel.execute(code, (m) => this.#onMessage(m));
    } catch (e) {
      this.#running = undefined;
      this.#renderStatus();
      this.#fail(e);
    }
  }

  async interrupt(): Promise<void> {
    try {
      await this.#kernel.interrupt();
    } catch (e) {
      this.#fail(e);
    }
  }

  async restart(): Promise<void> {
    this.#finish('aborted');
    this.#hideBanner();
    // The outputs are marked when the kernel's status says it restarts (#onKernelStatus), here and in
    // linked cells alike; a refused restart leaves them as they are.
    try {
      await this.#kernel.restart();
    } catch (e) {
      this.#fail(e);
    }
  }

  /** Creates a permalink, copies its URL and shows it with an embed snippet. */
  async share(): Promise<{ url: string; id: string; snippet: string } | undefined> {
    const o = this.options;
    const box = this.#els.shareBox;
    this.#els.share.disabled = true;
    try {
      const api = this.#kernel.api;
      const kernel = this.#kernel.kernelName ?? (await api.kernelspecs()).default;
      const all = this.#kernel.widgets.snapshot(this.#area.outputs);
      const outputs = JSON.stringify(all).length < 1_500_000 ? all : undefined;
      const p = await api.createPermalink({ code: this.code, kernel, ...(outputs ? { outputs } : {}) });
      const url = new URL(`/p/${encodeURIComponent(p.id)}`, o.server).href;
      const esc = (s: string) => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');
      const snippet =
        `<script src="${o.server}/static/runcell.js"></script>\n` +
        `<pre data-runcell data-kernel="${esc(kernel)}">\n${esc(this.code)}\n</pre>`;
      box.replaceChildren();
      const mk = (label: string, field: HTMLInputElement | HTMLTextAreaElement, copyLabel: string) => {
        const l = document.createElement('div');
        l.className = 'label';
        l.textContent = label;
        const row = document.createElement('div');
        row.className = 'row';
        field.readOnly = true;
        field.addEventListener('focus', () => field.select());
        const copy = button(copyLabel, undefined, 'rc-copy');
        copy.addEventListener('click', () => void copyText(field.value, copy));
        row.append(field, copy);
        box.append(l, row);
        return copy;
      };
      const link = document.createElement('input');
      link.className = 'rc-share-url';
      link.value = url;
      const copyLink = mk('Permalink', link, 'Copy link');
      const code = document.createElement('textarea');
      code.className = 'rc-snippet';
      code.value = snippet;
      code.rows = Math.min(8, snippet.split('\n').length);
      mk('Embed this cell in your page', code, 'Copy');
      box.hidden = false;
      void copyText(url, copyLink);
      const detail = { url, id: p.id, snippet };
      this.#emit('runcell:share', detail);
      return detail;
    } catch (e) {
      this.#fail(e);
      return undefined;
    } finally {
      this.#els.share.disabled = false;
    }
  }

  /** Uploads a file (resumable) and places it in the kernel's working directory. */
  async upload(file: File): Promise<void> {
    const p = this.#els.progress;
    p.hidden = false;
    p.replaceChildren();
    const name = document.createElement('span');
    name.textContent = file.name;
    const track = document.createElement('div');
    track.className = 'track';
    const fill = document.createElement('div');
    fill.className = 'fill';
    track.appendChild(fill);
    const pct = document.createElement('span');
    pct.textContent = '0%';
    p.append(name, track, pct);
    try {
      await this.#kernel.ensure();
      const id = await tusUpload(this.#kernel.api, file, ({ sent, total }) => {
        const v = total ? Math.round((sent / total) * 100) : 100;
        fill.style.width = `${v}%`;
        pct.textContent = `${v}%`;
      });
      const placed = await this.#kernel.api.attachFile(this.#kernel.id as string, id, file.name);
      pct.textContent = `Uploaded as ${placed.path ?? placed.name ?? file.name}`;
      setTimeout(() => {
        p.hidden = true;
      }, 4_000);
    } catch (e) {
      p.hidden = true;
      this.#fail(e);
    }
  }

  /** Detaches from the page (the kernel stays while linked cells use it). */
  destroy(): void {
    live.delete(this);
    relabel();
    for (const u of this.#unsubscribe) u();
    if (this.#running) this.#kernel.release(this.#running);
    this.#root.replaceChildren();
  }

  // ---- internals ----------------------------------------------------------------------------------

  /** The `eager` option: the kernel starts and connects once the cell is on screen. */
  #startWhenVisible(): void {
    const start = () => void this.#kernel.ensure().catch(() => undefined);
    if (typeof IntersectionObserver === 'undefined') {
      start();
      return;
    }
    const io = new IntersectionObserver((entries) => {
      if (!entries.some((e) => e.isIntersecting)) return;
      io.disconnect();
      start();
    });
    io.observe(this.host);
    this.#unsubscribe.push(() => io.disconnect());
  }

  #kernelOptions(kernel: string | undefined) {
    const o = this.options;
    return { server: o.server, kernel, token: o.token, transport: o.transport, link: o.link };
  }

  #attach(k: KernelConnection): KernelConnection {
    for (const u of this.#unsubscribe.splice(0)) u();
    this.#unsubscribe.push(
      k.onStatus((d) => this.#onKernelStatus(d)),
      k.onBroadcast((m) => this.#area.handle(m)),
    );
    if (k.started) this.#onKernelStatus(k.status);
    return k;
  }

  #onMessage(m: Message): void {
    this.#area.handle(m);
  }

  #onExecuteReply(status: string, m: Message): void {
    if (m.parent_header.msg_id !== this.#running) return;
    this.#replied = status;
    if (this.#idle) this.#finish(status);
  }

  #onOwnStatus(state: string, m: Message): void {
    if (m.parent_header.msg_id !== this.#running || state !== 'idle') return;
    // Spec: idle after the reply means every output of the request has been sent.
    this.#idle = true;
    if (this.#replied) this.#finish(this.#replied);
  }

  #finish(status: string): void {
    if (!this.#running) return;
    if (this.#running !== 'pending') {
      // Widgets this run opened past the cap, when no view of them said so (the kernel's own output
      // queue may have dropped the display that would have: a flood overflows it).
      const dropped = this.#kernel.widgets.droppedNotice(this.#running);
      if (dropped && !this.#area.root.querySelector('.rc-w-notice'))
        this.#area.add({ output_type: 'stream', name: 'stderr', text: dropped });
      this.#kernel.release(this.#running);
    }
    this.#running = undefined;
    this.#runs++;
    this.host.dataset.runs = String(this.#runs);
    this.#renderStatus();
    this.#say(summary(this.#name, status, this.#area.outputs));
    this.#emit('runcell:done', { status, outputs: this.#area.outputs });
  }

  /** A polite announcement (screen readers), replacing the last one. */
  #say(text: string): void {
    this.#els.announce.textContent = text;
  }

  /** Restart (here or by a linked cell) or a dead kernel replaced: old outputs are the old kernel's. */
  #markRestart(): void {
    if (this.#restarted) return;
    this.#restarted = true;
    if (this.options.restartOutputs === 'clear') this.#area.clear();
    else this.#area.markStale('Output from before the kernel restarted');
  }

  async #toggleKeys(open = this.#els.keysBox.hidden): Promise<void> {
    const box = this.#els.keysBox;
    if (open && !box.firstChild) {
      box.textContent = 'Shift+Enter runs the cell.';
      try {
        (await loadChunk(() => import('./lazy/shortcuts.js'))).fillShortcuts(box);
      } catch {
        // The one line above stays.
      }
    }
    box.hidden = !open;
    this.#els.keys.setAttribute('aria-expanded', String(open));
  }

  #onKernelStatus(d: StatusDetail): void {
    const before = this.#status.status;
    this.#status = d;
    if (d.status === 'restarting' || (before === 'dead' && d.status !== 'dead')) this.#markRestart();
    if (this.#restarted && (d.status === 'idle' || d.status === 'ready') && before !== d.status)
      this.#say(`${this.#name}: the kernel restarted; earlier variables are gone.`);
    if (d.status === 'dead' && d.idleMs !== undefined) {
      this.#finish('dead');
      const text = `Kernel stopped after ${idleText(d.idleMs)} idle — Run starts a new one.`;
      this.#showBanner(text, false, 'info');
      this.#say(`${this.#name}: ${text}`);
    } else if (d.status === 'dead') {
      this.#finish('dead');
      this.#showBanner(
        `The kernel stopped${d.reason ? `: ${d.reason}` : ''}. Restart to run again (variables are lost).`,
        true,
      );
    } else if (d.status === 'reconnecting') {
      this.#showBanner('Connection lost. Reconnecting… output will catch up when it is back.', false, 'info');
    } else if (this.#els.banner.dataset.kind === 'info') {
      this.#hideBanner();
    }
    this.#renderStatus();
    this.#emit('runcell:status', d);
  }

  #renderStatus(): void {
    const s = this.#kernel.started || this.#status.status === 'dead' ? this.#status.status : 'new';
    this.#frame.dataset.status = s;
    if (this.#status.transport) this.host.dataset.transport = this.#status.transport;
    this.host.dataset.status = s;
    let label = LABELS[s] ?? s;
    if (this.#restarted && (s === 'ready' || s === 'idle')) label = 'Restarted · idle';
    if (this.#status.transport === 'longpoll' && (s === 'ready' || s === 'idle')) label += ' · long-poll';
    this.#els.statusLabel.textContent = label;
    this.#els.status.title = this.#status.reason ?? label;
    const running = this.#running !== undefined;
    // A kernel stopped for going idle is replaced by Run; any other death asks for Restart first.
    this.#els.run.disabled = running || (s === 'dead' && this.#status.idleMs === undefined);
    this.#els.interrupt.disabled = !running;
    this.#els.restart.disabled = !this.#kernel.started || s === 'connecting';
  }

  #showBanner(text: string, restartable: boolean, kind = 'error'): void {
    this.#els.banner.hidden = false;
    this.#els.banner.className = `rc-banner ${kind}`;
    this.#els.banner.dataset.kind = kind;
    this.#els.bannerMsg.textContent = text;
    this.#els.bannerAction.hidden = !restartable;
  }

  #hideBanner(): void {
    this.#els.banner.hidden = true;
    delete this.#els.banner.dataset.kind;
  }

  #fail(e: unknown): void {
    const message =
      e instanceof ApiError || e instanceof Error
        ? e.message
        : typeof e === 'string'
          ? e
          : 'something went wrong';
    this.#showBanner(message, this.#status.status === 'dead');
    this.#emit('runcell:error', { message });
  }

  #emit(type: string, detail: unknown): void {
    this.host.dispatchEvent(new CustomEvent(type, { detail, bubbles: true, composed: true }));
  }

  #applyTheme(): void {
    const t = this.options.theme;
    const dark = t === 'dark' || (t === 'auto' && matchMedia('(prefers-color-scheme: dark)').matches);
    this.#frame.classList.toggle('dark', dark);
    if (t === 'auto') {
      matchMedia('(prefers-color-scheme: dark)').addEventListener('change', (e) =>
        this.#frame.classList.toggle('dark', e.matches),
      );
    }
  }

  #applyHidden(): void {
    const hide = new Set<Control>(this.options.hide);
    const e = this.#els;
    e.bar.hidden = hide.has('toolbar');
    e.run.hidden = hide.has('run');
    e.interrupt.hidden = hide.has('interrupt');
    e.restart.hidden = hide.has('restart');
    e.share.hidden = hide.has('share');
    e.upload.hidden = hide.has('upload');
    e.status.hidden = hide.has('status');
    if (hide.has('language')) e.lang.hidden = true;
  }

  async #loadSpecs(): Promise<void> {
    if (this.options.hide.includes('language')) return;
    try {
      const specs = await this.#kernel.api.kernelspecs();
      const sel = this.#els.lang;
      sel.replaceChildren();
      for (const s of Object.values(specs.kernelspecs)) {
        const opt = document.createElement('option');
        opt.value = s.name;
        opt.textContent = s.spec.display_name;
        opt.dataset.language = s.spec.language;
        sel.appendChild(opt);
      }
      sel.value = this.#kernel.kernelName ?? specs.default;
      sel.hidden = false;
    } catch {
      // No picker: the default kernel still works.
    }
  }

  #switchKernel(name: string): void {
    if (name === this.#kernel.kernelName) return;
    const old = this.#kernel;
    this.#finish('aborted');
    this.#kernel = this.#attach(kernelFor(this.#kernelOptions(name)));
    if (!this.options.link) old.shutdown();
    const language = this.#els.lang.selectedOptions[0]?.dataset.language ?? name;
    this.#editor.setLanguage(language);
    this.#status = { status: 'idle' };
    this.#hideBanner();
    this.#renderStatus();
  }
}

/** What a screen reader hears when a run ends: how it ended and how much output it left. */
export function summary(name: string, status: string, outputs: readonly Output[]): string {
  const err = outputs.find((o) => o.output_type === 'error');
  if (err?.output_type === 'error') return `${name} failed: ${err.ename}: ${err.evalue}`.slice(0, 300);
  if (status === 'error') return `${name} failed.`;
  if (status === 'aborted' || status === 'dead') return `${name} stopped.`;
  let lines = 0;
  let rich = 0;
  for (const o of outputs) {
    if (o.output_type === 'stream') lines += o.text.split('\n').length - (o.text.endsWith('\n') ? 1 : 0);
    else rich++;
  }
  const parts = [
    lines ? `${lines.toLocaleString('en')} line${lines === 1 ? '' : 's'}` : '',
    rich ? `${rich} result${rich === 1 ? '' : 's'}` : '',
  ].filter(Boolean);
  return `${name} finished${parts.length ? `: ${parts.join(' and ')} of output` : ', no output'}.`;
}

async function copyText(text: string, btn: HTMLButtonElement): Promise<void> {
  const label = btn.querySelector('span') ?? btn;
  const before = label.textContent;
  try {
    await navigator.clipboard.writeText(text);
    label.textContent = 'Copied';
  } catch {
    label.textContent = 'Select and copy';
  }
  setTimeout(() => {
    label.textContent = before;
  }, 1_800);
}
