// The cell's editor. A plain <textarea> is there at once (typing works before anything loads); the
// CodeMirror chunk loads on the first sign of interest (pointer over, focus, touch, a key) and takes over
// with the text and selection as they are at that moment.
// Keyboard: Tab never traps. The textarea lets Tab move focus; CodeMirror starts in navigation mode and
// captures Tab only after Enter or a click, with a visible hint (lazy/codemirror.ts).
import { loadChunk } from './api.js';

type CodeMirrorChunk = typeof import('./lazy/codemirror.js');
type Handle = import('./lazy/codemirror.js').CodeMirrorHandle;
type Ask = import('./lazy/assist.js').Ask;

let chunk: Promise<CodeMirrorChunk> | undefined;
export function loadCodeMirror(): Promise<CodeMirrorChunk> {
  chunk ??= loadChunk(() => import('./lazy/codemirror.js'));
  chunk.catch(() => {
    chunk = undefined;
  });
  return chunk;
}

export interface EditorOptions {
  code: string;
  language: string;
  readOnly: boolean;
  lineNumbers: boolean;
  /** The editor's accessible name. */
  label: string;
  /** Shell requests to the kernel, for completion and help. */
  ask?: Ask;
  /** Kernel text (ANSI colours) into an element, as text. */
  renderText(text: string, into: HTMLElement): void;
  onRun(): void;
}

export class Editor {
  readonly el: HTMLElement;
  readonly #opts: EditorOptions;
  readonly #textarea: HTMLTextAreaElement;
  #cm: Handle | undefined;
  #label: string;
  /** The textarea was focused by a pointer: CodeMirror takes over in editing mode. */
  #pointer = false;
  #loading = false;
  #language: string;
  #readOnly: boolean;
  /** Focus given by the page, not the visitor: no reason to load CodeMirror yet. */
  #quiet = false;

  constructor(opts: EditorOptions) {
    this.#opts = opts;
    this.#language = opts.language;
    this.#readOnly = opts.readOnly;
    this.#label = opts.label;
    this.el = document.createElement('div');
    this.el.className = 'rc-editor';
    const ta = document.createElement('textarea');
    ta.className = 'rc-textarea';
    ta.value = opts.code;
    ta.spellcheck = false;
    ta.readOnly = opts.readOnly;
    ta.setAttribute('autocapitalize', 'off');
    ta.setAttribute('autocorrect', 'off');
    ta.setAttribute('aria-label', opts.label);
    ta.addEventListener('pointerdown', () => {
      this.#pointer = true;
    });
    ta.rows = Math.min(Math.max(opts.code.split('\n').length, 2), 30);
    ta.addEventListener('keydown', (e) => {
      if (e.key === 'Enter' && (e.shiftKey || e.ctrlKey || e.metaKey)) {
        e.preventDefault();
        opts.onRun();
      }
    });
    ta.addEventListener('input', () => {
      ta.rows = Math.min(Math.max(ta.value.split('\n').length, 2), 30);
    });
    this.#textarea = ta;
    this.el.appendChild(ta);
    const wake = () => {
      if (!this.#quiet) void this.upgrade();
    };
    for (const ev of ['pointerenter', 'focusin', 'touchstart', 'keydown'])
      this.el.addEventListener(ev, wake, { passive: true });
  }

  get upgraded(): boolean {
    return this.#cm !== undefined;
  }

  /** Loads CodeMirror (once) and swaps it in. */
  async upgrade(): Promise<void> {
    if (this.#cm || this.#loading) return;
    this.#loading = true;
    try {
      const { createCodeMirror } = await loadCodeMirror();
      const ta = this.#textarea;
      const focused =
        ta.getRootNode() instanceof ShadowRoot && (ta.getRootNode() as ShadowRoot).activeElement === ta;
      const holder = document.createElement('div');
      holder.className = 'rc-cm';
      this.#cm = createCodeMirror(holder, {
        doc: ta.value,
        language: this.#language,
        readOnly: this.#readOnly,
        lineNumbers: this.#opts.lineNumbers,
        root: this.el.getRootNode() as ShadowRoot | Document,
        selection: { anchor: ta.selectionStart, head: ta.selectionEnd },
        label: this.#label,
        ask: this.#opts.ask,
        renderText: this.#opts.renderText,
        onRun: this.#opts.onRun,
        onChange: () => undefined,
      });
      ta.replaceWith(holder);
      if (focused) this.#cm.focus(this.#pointer ? 'edit' : 'nav');
    } catch (e) {
      // The textarea stays: still a working editor.
      console.warn('runcell: the code editor could not load; using a plain text area', e);
    } finally {
      this.#loading = false;
    }
  }

  get value(): string {
    return this.#cm ? this.#cm.getValue() : this.#textarea.value;
  }

  set value(s: string) {
    if (this.#cm) this.#cm.setValue(s);
    else this.#textarea.value = s;
  }

  setReadOnly(ro: boolean): void {
    this.#readOnly = ro;
    this.#textarea.readOnly = ro;
    this.#cm?.setReadOnly(ro);
  }

  setLabel(label: string): void {
    this.#label = label;
    this.#textarea.setAttribute('aria-label', label);
    this.#cm?.setLabel(label);
  }

  setLanguage(lang: string): void {
    this.#language = lang;
    this.#cm?.setLanguage(lang);
  }

  focus(): void {
    if (this.#cm) {
      this.#cm.focus();
      return;
    }
    // focusin fires during focus(): a page focusing its cell at load would otherwise load and run
    // CodeMirror's 370 KB at once, on the main thread a visitor's first Run needs.
    this.#quiet = true;
    try {
      this.#textarea.focus();
    } finally {
      this.#quiet = false;
    }
  }
}
