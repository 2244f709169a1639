// Lazy chunk: CodeMirror 6. Imports nothing from the core (the core must stay a classic script): what
// it needs of the kernel and the renderers comes in as callbacks.
// Keyboard (CodeMirror's accessibility guidance, "Tab handling"): an editor reached with Tab is in
// "navigation" mode, where Tab and Shift+Tab move focus on as everywhere else; Enter (or typing, a click
// or a tap) enters "editing" mode, where Tab completes or indents and Shift+Tab shows help; Esc goes back. A hint
// in the editor's corner says which mode is on while it has focus; it is also the content's accessible
// description.
import { defaultKeymap, history, historyKeymap } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import {
  bracketMatching,
  HighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from '@codemirror/language';
import { Compartment, EditorState, type Extension, Prec, StateEffect, StateField } from '@codemirror/state';
import { drawSelection, EditorView, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';
import { tags as t } from '@lezer/highlight';
import { type Ask, HELP_ID, helpField, kernelAssist } from './assist.js';

export type Mode = 'nav' | 'edit';

export interface CodeMirrorOptions {
  doc: string;
  language: string;
  readOnly: boolean;
  lineNumbers: boolean;
  root: ShadowRoot | Document;
  selection?: { anchor: number; head: number };
  /** The content's accessible name ("Code cell 3 of 12", or the author's label). */
  label: string;
  /** Shell requests to the kernel (completion, help); without it there is neither. */
  ask?: Ask | undefined;
  renderText(text: string, into: HTMLElement): void;
  onRun(): void;
  onChange(): void;
}

const HINT_ID = 'rc-keyhint';
const HINTS: Record<Mode | 'ro', string> = {
  nav: 'Enter or type to edit · Tab to move on · Shift+Enter to run',
  edit: 'Tab completes · Shift+Tab shows help · Esc, then Tab, to move on',
  ro: 'Read-only · Tab to move on · Shift+Enter to run',
};

export interface CodeMirrorHandle {
  view: EditorView;
  getValue(): string;
  setValue(s: string): void;
  setReadOnly(ro: boolean): void;
  setLanguage(lang: string): void;
  setLabel(label: string): void;
  /** Focuses the editor in a mode (default: navigation, as if reached with Tab). */
  focus(mode?: Mode): void;
}

// Colours come from the cell's CSS custom properties, so light, dark and authors' themes all apply.
const highlight = HighlightStyle.define([
  {
    tag: [t.keyword, t.controlKeyword, t.operatorKeyword, t.definitionKeyword, t.moduleKeyword],
    color: 'var(--rc-syn-keyword)',
  },
  { tag: [t.string, t.special(t.string)], color: 'var(--rc-syn-string)' },
  { tag: [t.number, t.bool, t.null], color: 'var(--rc-syn-number)' },
  { tag: [t.comment, t.lineComment, t.blockComment], color: 'var(--rc-syn-comment)', fontStyle: 'italic' },
  { tag: [t.function(t.variableName), t.function(t.propertyName)], color: 'var(--rc-syn-function)' },
  { tag: [t.definition(t.variableName), t.className, t.definition(t.className)], color: 'var(--rc-syn-def)' },
  { tag: [t.self, t.atom, t.standard(t.variableName)], color: 'var(--rc-syn-builtin)' },
  { tag: [t.operator, t.punctuation], color: 'var(--rc-syn-punct)' },
]);

const theme = EditorView.theme({
  '&': { color: 'var(--rc-fg)', backgroundColor: 'transparent', fontSize: 'var(--rc-code-size)' },
  '.cm-content': { fontFamily: 'var(--rc-mono)', caretColor: 'var(--rc-accent)', padding: '10px 0' },
  '.cm-scroller': { fontFamily: 'var(--rc-mono)', lineHeight: '1.55' },
  '.cm-gutters': { backgroundColor: 'transparent', color: 'var(--rc-muted)', border: 'none' },
  '.cm-activeLine': { backgroundColor: 'var(--rc-active-line)' },
  '.cm-activeLineGutter': { backgroundColor: 'transparent', color: 'var(--rc-fg)' },
  '&.cm-focused': { outline: 'none' },
  '&.cm-focused .cm-cursor': { borderLeftColor: 'var(--rc-accent)' },
  '.cm-selectionBackground, &.cm-focused .cm-selectionBackground, ::selection': {
    backgroundColor: 'var(--rc-selection) !important',
  },
  // Popups (completion list, help): the cell's colours, large enough to tap.
  '.cm-tooltip': {
    backgroundColor: 'var(--rc-bg)',
    color: 'var(--rc-fg)',
    border: '1px solid var(--rc-border)',
    borderRadius: '8px',
    boxShadow: '0 6px 20px rgba(16,24,40,.16)',
    overflow: 'hidden',
  },
  '.cm-tooltip.cm-tooltip-autocomplete > ul': { fontFamily: 'var(--rc-mono)', maxHeight: '14em' },
  '.cm-tooltip.cm-tooltip-autocomplete > ul > li': { padding: '3px 10px 3px 4px', lineHeight: '1.5' },
  '.cm-tooltip-autocomplete ul li[aria-selected]': {
    backgroundColor: 'var(--rc-accent)',
    color: 'var(--rc-accent-fg)',
  },
  '.cm-completionDetail': { opacity: '.75', marginLeft: '1em', fontStyle: 'normal' },
  '.cm-completionMatchedText': { textDecoration: 'none', fontWeight: '700' },
  '.rc-help': { maxWidth: 'min(40em, 92vw)', fontSize: '13px' },
  '.rc-help-head': {
    display: 'flex',
    alignItems: 'center',
    justifyContent: 'space-between',
    gap: '8px',
    padding: '2px 4px 2px 10px',
    background: 'var(--rc-surface)',
    borderBottom: '1px solid var(--rc-border)',
    fontFamily: 'var(--rc-mono)',
    fontWeight: '600',
  },
  '.rc-help-close': {
    border: '0',
    background: 'transparent',
    color: 'var(--rc-muted)',
    font: '18px/1 var(--rc-font)',
    width: '32px',
    height: '32px',
    cursor: 'pointer',
    borderRadius: '6px',
  },
  '.rc-help-close:hover, .rc-help-close:focus-visible': { color: 'var(--rc-fg)', background: 'var(--rc-bg)' },
  '.rc-help-body': {
    margin: '0',
    padding: '8px 10px',
    maxHeight: '16em',
    overflow: 'auto',
    whiteSpace: 'pre-wrap',
    font: '12.5px/1.5 var(--rc-mono)',
  },
  '.rc-hint': {
    display: 'none',
    position: 'absolute',
    right: '6px',
    bottom: '4px',
    zIndex: '2',
    maxWidth: 'calc(100% - 12px)',
    font: '11px/1.7 var(--rc-font)',
    color: 'var(--rc-muted)',
    background: 'var(--rc-surface)',
    border: '1px solid var(--rc-border)',
    borderRadius: '5px',
    padding: '0 6px',
    pointerEvents: 'none',
    whiteSpace: 'nowrap',
    overflow: 'hidden',
    textOverflow: 'ellipsis',
  },
  '&.cm-focused .rc-hint': { display: 'block' },
  '.rc-hint.edit': { color: 'var(--rc-fg)', borderColor: 'var(--rc-accent)' },
  // No keyboard to speak of: the hint would only cover code.
  '@media (hover: none)': { '&.cm-focused .rc-hint': { display: 'none' } },
  '@media (pointer: coarse)': {
    '.cm-tooltip.cm-tooltip-autocomplete > ul > li': { padding: '8px 12px 8px 6px' },
  },
});

const setMode = StateEffect.define<Mode>();
const modeField = StateField.define<Mode>({
  create: () => 'nav',
  update(value, tr) {
    for (const e of tr.effects) if (e.is(setMode)) return e.value;
    return value;
  },
});

function languageOf(lang: string): Extension {
  return /^(python|ipython|py)/i.test(lang) ? python() : [];
}

export function createCodeMirror(parent: HTMLElement, o: CodeMirrorOptions): CodeMirrorHandle {
  const runCell = () => {
    o.onRun();
    return true;
  };
  const language = new Compartment();
  const readOnly = new Compartment();
  const label = new Compartment();
  let ro = o.readOnly;
  /** A pointer went down on the editor: the focus that follows enters editing mode. */
  let pointer = false;
  let focusMode: Mode = 'nav';
  const mode = (m: Mode) => {
    const want: Mode = ro ? 'nav' : m;
    if (view.state.field(modeField) !== want) view.dispatch({ effects: setMode.of(want) });
    else show(want);
  };
  /** What a mode means outside the state: whether Tab is the browser's, and the hint. */
  const show = (m: Mode) => {
    view.setTabFocusMode(m === 'nav');
    hint.textContent = HINTS[ro ? 'ro' : m];
    hint.className = `rc-hint ${m}`;
  };
  const hint = document.createElement('div');
  hint.id = HINT_ID;
  const switchTo = (m: Mode) => {
    mode(m);
    return true;
  };
  const attrs = (name: string) =>
    EditorView.contentAttributes.compute([helpField], (s) => ({
      'aria-label': name,
      'aria-describedby': s.field(helpField, false) ? `${HELP_ID} ${HINT_ID}` : HINT_ID,
    }));
  const view: EditorView = new EditorView({
    parent,
    root: o.root,
    state: EditorState.create({
      doc: o.doc,
      selection: o.selection,
      extensions: [
        o.lineNumbers ? lineNumbers() : [],
        history(),
        drawSelection(),
        indentOnInput(),
        bracketMatching(),
        highlightActiveLine(),
        indentUnit.of('    '),
        syntaxHighlighting(highlight),
        theme,
        modeField,
        helpField,
        language.of(languageOf(o.language)),
        readOnly.of([EditorState.readOnly.of(o.readOnly), EditorView.editable.of(!o.readOnly)]),
        o.ask
          ? kernelAssist({
              ask: o.ask,
              renderText: o.renderText,
              touch: typeof matchMedia === 'function' && matchMedia('(pointer: coarse)').matches,
            })
          : [],
        Prec.high(
          keymap.of([
            // Navigation mode: Enter starts editing instead of typing a newline.
            { key: 'Enter', run: (v) => !ro && v.state.field(modeField) === 'nav' && switchTo('edit') },
            { key: 'Escape', run: (v) => v.state.field(modeField) === 'edit' && switchTo('nav') },
          ]),
        ),
        keymap.of([
          { key: 'Shift-Enter', run: runCell },
          { key: 'Mod-Enter', run: runCell },
          ...defaultKeymap,
          ...historyKeymap,
        ]),
        EditorView.domEventHandlers({
          focus: () => {
            mode(pointer ? 'edit' : focusMode);
            pointer = false;
            focusMode = 'nav';
            return false;
          },
          blur: () => {
            pointer = false;
            return false;
          },
        }),
        EditorView.contentAttributes.of({ autocapitalize: 'off', autocorrect: 'off', spellcheck: 'false' }),
        label.of(attrs(o.label)),
        // Typing (or deleting) is entering the editor too: the next Enter is a newline, not a mode switch.
        EditorState.transactionExtender.of((tr) =>
          !ro &&
          tr.docChanged &&
          tr.startState.field(modeField) === 'nav' &&
          (tr.isUserEvent('input') || tr.isUserEvent('delete'))
            ? { effects: setMode.of('edit') }
            : null,
        ),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) o.onChange();
          const m = u.state.field(modeField);
          if (m !== u.startState.field(modeField)) show(m);
        }),
      ],
    }),
  });
  view.dom.appendChild(hint);
  mode('nav');
  // On the whole editor (gutter and padding too), before the focus it causes.
  view.dom.addEventListener('pointerdown', () => {
    pointer = true;
    if (view.hasFocus) mode('edit');
  });
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue: (s) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: s } }),
    setReadOnly: (r) => {
      ro = r;
      view.dispatch({
        effects: readOnly.reconfigure([EditorState.readOnly.of(r), EditorView.editable.of(!r)]),
      });
      if (r) mode('nav');
    },
    setLanguage: (lang) => view.dispatch({ effects: language.reconfigure(languageOf(lang)) }),
    setLabel: (name) => view.dispatch({ effects: label.reconfigure(attrs(name)) }),
    focus: (m = 'nav') => {
      if (view.hasFocus) mode(m);
      focusMode = m;
      view.focus();
    },
  };
}
