// Lazy chunk: CodeMirror 6. Imports nothing from the core (the core must stay a classic script).
import { defaultKeymap, history, historyKeymap, indentWithTab } from '@codemirror/commands';
import { python } from '@codemirror/lang-python';
import {
  bracketMatching,
  HighlightStyle,
  indentOnInput,
  indentUnit,
  syntaxHighlighting,
} from '@codemirror/language';
import { Compartment, EditorState, type Extension } from '@codemirror/state';
import { drawSelection, EditorView, highlightActiveLine, keymap, lineNumbers } from '@codemirror/view';
import { tags as t } from '@lezer/highlight';

export interface CodeMirrorOptions {
  doc: string;
  language: string;
  readOnly: boolean;
  lineNumbers: boolean;
  root: ShadowRoot | Document;
  selection?: { anchor: number; head: number };
  onRun(): void;
  onChange(): void;
}

export interface CodeMirrorHandle {
  view: EditorView;
  getValue(): string;
  setValue(s: string): void;
  setReadOnly(ro: boolean): void;
  setLanguage(lang: string): void;
  focus(): void;
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
  const view = new EditorView({
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
        language.of(languageOf(o.language)),
        readOnly.of([EditorState.readOnly.of(o.readOnly), EditorView.editable.of(!o.readOnly)]),
        keymap.of([
          { key: 'Shift-Enter', run: runCell },
          { key: 'Mod-Enter', run: runCell },
          indentWithTab,
          ...defaultKeymap,
          ...historyKeymap,
        ]),
        EditorView.contentAttributes.of({
          autocapitalize: 'off',
          autocorrect: 'off',
          spellcheck: 'false',
          'aria-label': 'Code',
        }),
        EditorView.updateListener.of((u) => {
          if (u.docChanged) o.onChange();
        }),
      ],
    }),
  });
  return {
    view,
    getValue: () => view.state.doc.toString(),
    setValue: (s) => view.dispatch({ changes: { from: 0, to: view.state.doc.length, insert: s } }),
    setReadOnly: (ro) =>
      view.dispatch({
        effects: readOnly.reconfigure([EditorState.readOnly.of(ro), EditorView.editable.of(!ro)]),
      }),
    setLanguage: (lang) => view.dispatch({ effects: language.reconfigure(languageOf(lang)) }),
    focus: () => view.focus(),
  };
}
