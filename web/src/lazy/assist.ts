// Part of the CodeMirror chunk: completion and help from the kernel (Jupyter messaging, "Completion"
// and "Introspection": complete_request, inspect_request). Tab completes, Shift+Tab shows the
// docstring of the name at the cursor in a small popup; on touch screens the completion list opens by
// itself after a "." (there is no Tab key). Both popups work with the keyboard (arrows, Enter, Esc), a
// pointer and touch (tap an option, tap x to close). Replies are untrusted: only their strings are
// used, as text.
import {
  acceptCompletion,
  autocompletion,
  type Completion,
  type CompletionContext,
  type CompletionResult,
  completionStatus,
  startCompletion,
} from '@codemirror/autocomplete';
import { indentLess, indentMore } from '@codemirror/commands';
import { type EditorState, type Extension, Prec, StateEffect, StateField } from '@codemirror/state';
import { type EditorView, keymap, showTooltip, type Tooltip } from '@codemirror/view';

/** Sends a shell request to the cell's kernel; resolves with the reply's content (undefined: none came). */
export type Ask = (
  msgType: string,
  content: Record<string, unknown>,
) => Promise<Record<string, unknown> | undefined>;

export interface AssistOptions {
  ask: Ask;
  /** Kernel text (docstrings carry ANSI colours) into an element, as text. */
  renderText(text: string, into: HTMLElement): void;
  /** A touch screen: no Tab key, so completion opens while typing after a ".". */
  touch: boolean;
}

// Spec: cursor_pos, cursor_start and cursor_end count Unicode code points (protocol 5.2);
// JavaScript strings count UTF-16 units, which differ after any character outside the BMP.

/** The code-point offset of a UTF-16 offset in `s`. */
export function toCodePoints(s: string, utf16: number): number {
  let n = 0;
  for (let i = 0; i < utf16 && i < s.length; i++) {
    const c = s.charCodeAt(i);
    if (c >= 0xd800 && c <= 0xdbff && i + 1 < utf16) {
      const d = s.charCodeAt(i + 1);
      if (d >= 0xdc00 && d <= 0xdfff) i++;
    }
    n++;
  }
  return n;
}

/** The UTF-16 offset of a code-point offset in `s` (clamped to the string). */
export function fromCodePoints(s: string, cp: number): number {
  let i = 0;
  for (let n = 0; n < cp && i < s.length; n++) {
    const c = s.charCodeAt(i);
    i += c >= 0xd800 && c <= 0xdbff && i + 1 < s.length ? 2 : 1;
  }
  return i;
}

/** Jedi's completion types (IPython's _jupyter_types_experimental) as CodeMirror's icon names. */
const TYPES: Record<string, string> = {
  function: 'function',
  method: 'method',
  class: 'class',
  module: 'namespace',
  instance: 'variable',
  statement: 'variable',
  param: 'variable',
  property: 'property',
  keyword: 'keyword',
  path: 'text',
  magic: 'keyword',
};

const MAX_OPTIONS = 300;
const str = (v: unknown): v is string => typeof v === 'string';

/** A complete_reply as a CodeMirror result (undefined when it offers nothing usable). */
export function completionResult(
  code: string,
  pos: number,
  reply: Record<string, unknown> | undefined,
): { from: number; to: number; options: Completion[] } | undefined {
  if (reply?.status !== 'ok' || !Array.isArray(reply.matches)) return undefined;
  const start = reply.cursor_start;
  const end = reply.cursor_end;
  if (!Number.isInteger(start) || !Number.isInteger(end)) return undefined;
  if ((start as number) < 0 || (end as number) > toCodePoints(code, code.length)) return undefined;
  const from = fromCodePoints(code, start as number);
  const to = fromCodePoints(code, end as number);
  if (from > pos || to < pos) return undefined;
  const meta = reply.metadata as { _jupyter_types_experimental?: unknown } | undefined;
  const typed = Array.isArray(meta?._jupyter_types_experimental)
    ? (meta._jupyter_types_experimental as { text?: unknown; type?: unknown; signature?: unknown }[])
    : [];
  const info = new Map(typed.filter((t) => str(t?.text)).map((t) => [t.text as string, t]));
  const seen = new Set<string>();
  const options: Completion[] = [];
  for (const m of reply.matches) {
    if (!str(m) || !m || m.length > 200 || seen.has(m)) continue;
    seen.add(m);
    const t = info.get(m);
    const type = str(t?.type) ? TYPES[t.type] : undefined;
    const sig = str(t?.signature) && t.signature.length < 120 ? t.signature : undefined;
    options.push({ label: m, ...(type ? { type } : {}), ...(sig ? { detail: sig } : {}) });
    if (options.length >= MAX_OPTIONS) break;
  }
  return options.length ? { from, to, options } : undefined;
}

// ---- help popup (inspect_request) ------------------------------------------------------------------

const setHelp = StateEffect.define<Tooltip | null>();

export const helpField = StateField.define<Tooltip | null>({
  create: () => null,
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setHelp)) return e.value;
    // Typing makes the help stale; so does moving to another line.
    if (value && (tr.docChanged || (tr.selection && !sameLine(tr.startState, tr.state)))) return null;
    return value;
  },
  provide: (f) => showTooltip.from(f),
});

function sameLine(a: EditorState, b: EditorState): boolean {
  return a.doc.lineAt(a.selection.main.head).number === b.doc.lineAt(b.selection.main.head).number;
}

/** The help popup's id, for aria-describedby while it is open. */
export const HELP_ID = 'rc-help';

function helpTooltip(view: EditorView, pos: number, title: string, text: string, o: AssistOptions): Tooltip {
  return {
    pos,
    above: false,
    create() {
      const dom = document.createElement('div');
      dom.className = 'rc-help';
      dom.id = HELP_ID;
      dom.setAttribute('role', 'tooltip');
      const head = document.createElement('div');
      head.className = 'rc-help-head';
      const name = document.createElement('span');
      name.textContent = title;
      const close = document.createElement('button');
      close.type = 'button';
      close.className = 'rc-help-close';
      close.textContent = '×';
      close.setAttribute('aria-label', 'Close help (Esc)');
      close.addEventListener('click', () => {
        view.dispatch({ effects: setHelp.of(null) });
        view.focus();
      });
      head.append(name, close);
      const body = document.createElement('pre');
      body.className = 'rc-help-body';
      o.renderText(text, body);
      dom.append(head, body);
      return { dom };
    },
  };
}

/** The identifier around `pos` (for the popup's title). */
function wordAt(state: EditorState, pos: number): { from: number; to: number } | undefined {
  const line = state.doc.lineAt(pos);
  const text = line.text;
  let a = pos - line.from;
  let b = a;
  while (a > 0 && /[\w.]/.test(text.charAt(a - 1))) a--;
  while (b < text.length && /\w/.test(text.charAt(b))) b++;
  return a < b ? { from: line.from + a, to: line.from + b } : undefined;
}

/** Asks the kernel about the name at the cursor and shows its docstring (Shift+Tab). */
export async function showHelp(view: EditorView, o: AssistOptions): Promise<void> {
  const state = view.state;
  const pos = state.selection.main.head;
  const word = wordAt(state, pos);
  const code = state.doc.toString();
  const reply = await o.ask('inspect_request', {
    code,
    cursor_pos: toCodePoints(code, word ? word.to : pos),
    detail_level: 0,
  });
  // The visitor kept typing: this answer is about code that is gone.
  if (view.state.doc !== state.doc) return;
  const title = word ? state.sliceDoc(word.from, word.to) : 'Help';
  const data = reply?.data as Record<string, unknown> | undefined;
  const text =
    reply?.status === 'ok' && reply.found && str(data?.['text/plain'])
      ? (data['text/plain'] as string)
      : reply
        ? `No help found${word ? ` for ${title}` : ''}.`
        : 'No answer from the kernel (it may be busy running code, or stopped).';
  view.dispatch({ effects: setHelp.of(helpTooltip(view, word?.from ?? pos, title, text, o)) });
}

// ---- keys and the extension -------------------------------------------------------------------------

/** A name (or an attribute after ".") ends right before the cursor: Tab completes it. */
function completable(state: EditorState): boolean {
  const r = state.selection.main;
  if (!r.empty) return false;
  const before = state.sliceDoc(Math.max(0, r.head - 1), r.head);
  return /[\w.]/.test(before);
}

export function kernelAssist(o: AssistOptions): Extension {
  const source = async (ctx: CompletionContext): Promise<CompletionResult | null> => {
    if (!ctx.explicit && !ctx.matchBefore(/\.\w*$/)) return null;
    const code = ctx.state.doc.toString();
    const reply = await o.ask('complete_request', { code, cursor_pos: toCodePoints(code, ctx.pos) });
    if (ctx.aborted) return null;
    const r = completionResult(code, ctx.pos, reply);
    if (!r) return null;
    const only = r.options[0];
    if (ctx.explicit && r.options.length === 1 && only && ctx.view) {
      // One match: insert it at once, as Jupyter does.
      ctx.view.dispatch({
        changes: { from: r.from, to: r.to, insert: only.label },
        selection: { anchor: r.from + only.label.length },
        userEvent: 'input.complete',
      });
      return null;
    }
    return { ...r, validFor: /^[\w.]*$/ };
  };
  const tab = (view: EditorView): boolean => {
    if (completionStatus(view.state) === 'active') return acceptCompletion(view);
    if (completable(view.state)) return startCompletion(view);
    return indentMore(view);
  };
  const shiftTab = (view: EditorView): boolean => {
    if (wordAt(view.state, view.state.selection.main.head) && view.state.selection.main.empty) {
      void showHelp(view, o);
      return true;
    }
    return indentLess(view);
  };
  const closeHelp = (view: EditorView): boolean => {
    if (!view.state.field(helpField, false)) return false;
    view.dispatch({ effects: setHelp.of(null) });
    return true;
  };
  return [
    autocompletion({
      override: [source],
      activateOnTyping: o.touch,
      closeOnBlur: true,
      icons: true,
      maxRenderedOptions: 100,
    }),
    helpField,
    Prec.high(
      keymap.of([
        { key: 'Tab', run: tab, shift: shiftTab },
        { key: 'Escape', run: closeHelp },
      ]),
    ),
  ];
}
