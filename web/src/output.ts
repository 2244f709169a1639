// A cell's output area: Jupyter messages in, DOM and an nbformat output list out. Handlers are named
// after the message types of the Jupyter messaging spec and dispatched through one table.
// Long output stays usable: the area has a maximum height with its own scroll (following the newest
// line while the visitor is at the bottom), an Expand toggle and a Clear control, and a stream beyond
// `maxLines` shows its first and last lines with a marker that shows all. It is not a live region:
// the cell announces when a run ends, so streaming output does not flood a screen reader.
import type {
  ClearOutputContent,
  DisplayDataContent,
  ErrorContent,
  ExecuteReplyContent,
  ExecuteResultContent,
  InputRequestContent,
  Message,
  MimeBundle,
  Output,
  StatusContent,
  StreamContent,
  UpdateDisplayDataContent,
} from './messages.js';
import { ansiToDom } from './render/ansi.js';
import { elide } from './render/elide.js';
import { renderTex } from './render/latex.js';
import { renderBundle } from './render/mime.js';
import { sanitizeHtml } from './render/sanitize.js';
import { fixCarriageReturns, isServerNotice } from './render/stream.js';
import { setRenderers, type WidgetHost } from './widgets/hook.js';

export interface OutputHooks {
  /** An input() prompt was answered. */
  input(value: string, request: Message): void;
  executeReply(content: ExecuteReplyContent, m: Message): void;
  status(content: StatusContent, m: Message): void;
  /** Every output added or changed (for the cell's DOM events). */
  output(o: Output): void;
  error(content: ErrorContent): void;
  /** The runcell server, for links to files the code wrote. */
  server?: string;
  /** Lines of a stream shown before its middle is left out (0: all). */
  maxLines?: number;
  /** The widgets of the cell's kernel (mounted into widget outputs). */
  widgets?: () => WidgetHost;
}

interface Rendered {
  output: Output;
  el: HTMLElement;
  displayId?: string | undefined;
  /** The visitor asked to see all of this stream. */
  full?: boolean;
}

function smallButton(text: string, cls: string): HTMLButtonElement {
  const b = document.createElement('button');
  b.type = 'button';
  b.className = cls;
  b.textContent = text;
  return b;
}

export class OutputArea {
  /** The outputs (the scrolling box). */
  readonly el: HTMLElement;
  /** The box with its controls: what the cell shows. */
  readonly root: HTMLElement;
  readonly #hooks: OutputHooks;
  readonly #expand: HTMLButtonElement;
  readonly #clear: HTMLButtonElement;
  #items: Rendered[] = [];
  /** clear_output(wait=True): clear just before the next output arrives. */
  #clearPending = false;
  /** The visitor is at the bottom of the box: new lines scroll into view. */
  #follow = true;
  #frame = 0;
  #stale: HTMLElement | undefined;

  constructor(hooks: OutputHooks) {
    this.#hooks = hooks;
    this.root = document.createElement('div');
    this.root.className = 'rc-out';
    this.el = document.createElement('div');
    this.el.className = 'rc-outputs';
    const bar = document.createElement('div');
    bar.className = 'rc-outbar';
    this.#expand = smallButton('Expand', 'rc-expand');
    this.#expand.setAttribute('aria-expanded', 'false');
    this.#expand.hidden = true;
    this.#clear = smallButton('Clear output', 'rc-clear');
    bar.append(this.#expand, this.#clear);
    this.root.append(this.el, bar);
    this.#expand.addEventListener('click', () => this.setExpanded(!this.expanded));
    this.#clear.addEventListener('click', () => this.clear());
    this.el.addEventListener('scroll', () => {
      const e = this.el;
      this.#follow = e.scrollTop + e.clientHeight >= e.scrollHeight - 8;
    });
    // Images and frames change the height after they are added.
    this.el.addEventListener('load', () => this.#layout(), true);
    if (typeof ResizeObserver !== 'undefined') new ResizeObserver(() => this.#layout()).observe(this.el);
    this.#layout();
  }

  get outputs(): Output[] {
    return this.#items.map((i) => i.output);
  }

  get expanded(): boolean {
    return this.root.classList.contains('rc-expanded');
  }

  setExpanded(on: boolean): void {
    this.root.classList.toggle('rc-expanded', on);
    this.#expand.setAttribute('aria-expanded', String(on));
    this.#expand.textContent = on ? 'Collapse' : 'Expand';
    this.#layout();
  }

  clear(): void {
    this.#items = [];
    this.#clearPending = false;
    this.#stale = undefined;
    this.root.classList.remove('rc-stale');
    this.el.replaceChildren();
    this.#follow = true;
    this.#layout();
  }

  /** Marks what is shown as output of an earlier kernel (after a restart), until the next run. */
  markStale(note: string): void {
    if (!this.#items.length) return;
    this.root.classList.add('rc-stale');
    if (!this.#stale) {
      this.#stale = document.createElement('div');
      this.#stale.className = 'rc-stale-note';
      this.el.prepend(this.#stale);
    }
    this.#stale.textContent = `↻ ${note}`;
  }

  /** After the DOM changed: the Expand toggle, keyboard scrolling and following the newest line. */
  #layout(): void {
    if (this.#frame) return;
    const run = () => {
      this.#frame = 0;
      const e = this.el;
      const empty = this.#items.length === 0;
      this.root.classList.toggle('rc-empty', empty);
      const overflows = e.scrollHeight > e.clientHeight + 2;
      this.#expand.hidden = !overflows && !this.expanded;
      // A box that scrolls must be reachable with the keyboard to scroll it (WCAG 2.1.1).
      if (overflows) {
        e.tabIndex = 0;
        e.setAttribute('role', 'region');
        e.setAttribute('aria-label', e.dataset.label ?? 'Output');
      } else {
        e.removeAttribute('tabindex');
        e.removeAttribute('role');
        e.removeAttribute('aria-label');
      }
      if (overflows && this.#follow && !this.expanded) e.scrollTop = e.scrollHeight;
    };
    if (typeof requestAnimationFrame === 'function' && document.visibilityState === 'visible')
      this.#frame = requestAnimationFrame(run);
    else run();
  }

  /** Dispatches one message through HANDLERS; unknown types are ignored. */
  handle(m: Message): void {
    HANDLERS[m.header.msg_type]?.(this, m);
  }

  /** Shows stored outputs (a permalink) as if they had just arrived. */
  restore(outputs: readonly Output[]): void {
    for (const o of outputs) this.add(o);
  }

  add(output: Output, displayId?: string): void {
    if (this.#clearPending) this.clear();
    if (output.output_type === 'stream' && !isServerNotice(output.text)) {
      const last = this.#items[this.#items.length - 1];
      if (
        last?.output.output_type === 'stream' &&
        last.output.name === output.name &&
        !isServerNotice(last.output.text)
      ) {
        last.output.text += output.text;
        this.#paintStream(last);
        this.#hooks.output(output);
        this.#layout();
        return;
      }
    }
    // A copy: streams grow in place, and the caller's object (a permalink's outputs) stays as it was.
    const own: Output = output.output_type === 'stream' ? { ...output } : output;
    const painted = own.output_type === 'stream' && !isServerNotice(own.text);
    const el = painted ? streamElement(own.name) : renderOutput(own, this.#hooks.server);
    const item: Rendered = { output: own, el, displayId };
    this.#items.push(item);
    if (painted) this.#paintStream(item);
    this.el.appendChild(el);
    this.#hooks.widgets?.().mount(el);
    this.#hooks.output(output);
    this.#layout();
  }

  /** update_display_data: replaces every output shown with this display_id (any cell of the kernel). */
  update(displayId: string, data: MimeBundle, metadata: Record<string, unknown>): boolean {
    let found = false;
    for (const item of this.#items) {
      if (
        item.displayId !== displayId ||
        item.output.output_type === 'stream' ||
        item.output.output_type === 'error'
      )
        continue;
      found = true;
      item.output = { ...item.output, data, metadata };
      const el = renderOutput(item.output, this.#hooks.server);
      item.el.replaceWith(el);
      item.el = el;
      this.#hooks.widgets?.().mount(el);
    }
    if (found) this.#layout();
    return found;
  }

  /** Shows an input() prompt; resolves the hooks' input() with the answer. */
  prompt(content: InputRequestContent, m: Message): void {
    if (this.#clearPending) this.clear();
    const row = document.createElement('form');
    row.className = 'rc-input';
    const label = document.createElement('label');
    label.textContent = content.prompt;
    const field = document.createElement('input');
    field.type = content.password ? 'password' : 'text';
    field.autocomplete = 'off';
    field.setAttribute('enterkeyhint', 'send');
    field.setAttribute('aria-label', content.prompt || 'Input');
    const send = document.createElement('button');
    send.type = 'submit';
    send.textContent = 'Send';
    label.appendChild(field);
    row.append(label, send);
    row.addEventListener('submit', (e) => {
      e.preventDefault();
      const value = field.value;
      const done = document.createElement('pre');
      done.className = 'rc-stream rc-stdout rc-answered';
      done.textContent = `${content.prompt}${content.password ? '••••••' : value}\n`;
      row.replaceWith(done);
      this.#hooks.input(value, m);
    });
    this.el.appendChild(row);
    this.#layout();
    queueMicrotask(() => field.focus({ preventScroll: true }));
  }

  /** A stream's text, its middle left out beyond maxLines unless the visitor asked for all of it. */
  #paintStream(item: Rendered): void {
    if (item.output.output_type !== 'stream') return;
    const el = item.el;
    const text = fixCarriageReturns(item.output.text);
    el.replaceChildren();
    const cut = item.full ? undefined : elide(text, this.#hooks.maxLines ?? 0);
    if (!cut) {
      ansiToDom(text, el);
      return;
    }
    ansiToDom(cut.head, el);
    const more = smallButton(`⋯ ${cut.hidden.toLocaleString('en')} more lines · show all`, 'rc-elided');
    more.addEventListener('click', () => {
      item.full = true;
      this.#paintStream(item);
      this.#layout();
    });
    el.append(more);
    ansiToDom(cut.tail, el);
  }

  // Handler bodies live here so the table below stays a plain mapping from spec names.
  static onStream(area: OutputArea, m: Message): void {
    const c = m.content as unknown as StreamContent;
    area.add({
      output_type: 'stream',
      name: c.name === 'stderr' ? 'stderr' : 'stdout',
      text: String(c.text),
    });
  }

  static onDisplayData(area: OutputArea, m: Message): void {
    const c = m.content as unknown as DisplayDataContent;
    const displayId = (c.transient as { display_id?: string } | undefined)?.display_id;
    area.add({ output_type: 'display_data', data: c.data, metadata: c.metadata ?? {} }, displayId);
  }

  static onExecuteResult(area: OutputArea, m: Message): void {
    const c = m.content as unknown as ExecuteResultContent;
    const displayId = (c.transient as { display_id?: string } | undefined)?.display_id;
    area.add(
      {
        output_type: 'execute_result',
        data: c.data,
        metadata: c.metadata ?? {},
        execution_count: c.execution_count,
      },
      displayId,
    );
  }

  static onUpdateDisplayData(area: OutputArea, m: Message): void {
    const c = m.content as unknown as UpdateDisplayDataContent;
    const id = (c.transient as { display_id?: string } | undefined)?.display_id;
    if (id) area.update(id, c.data, c.metadata ?? {});
  }

  static onClearOutput(area: OutputArea, m: Message): void {
    const c = m.content as unknown as ClearOutputContent;
    // Spec: wait=true clears only when the next output arrives (avoids flicker).
    if (c.wait) area.#clearPending = true;
    else area.clear();
  }

  static onError(area: OutputArea, m: Message): void {
    const c = m.content as unknown as ErrorContent;
    area.add({ output_type: 'error', ename: c.ename, evalue: c.evalue, traceback: c.traceback ?? [] });
    area.#hooks.error(c);
  }

  static onInputRequest(area: OutputArea, m: Message): void {
    area.prompt(m.content as unknown as InputRequestContent, m);
  }

  static onExecuteReply(area: OutputArea, m: Message): void {
    const c = m.content as unknown as ExecuteReplyContent;
    // Spec ("Payloads", deprecated but what IPython sends for `name?` and `name??`): a "page" payload
    // is help text for a pager; shown here as an output, as JupyterLab shows it.
    for (const p of Array.isArray(c.payload) ? c.payload : []) {
      if (p?.source === 'page' && p.data && typeof p.data === 'object')
        area.add({ output_type: 'display_data', data: p.data, metadata: {} });
    }
    area.#hooks.executeReply(c, m);
  }

  static onStatus(area: OutputArea, m: Message): void {
    area.#hooks.status(m.content as unknown as StatusContent, m);
  }
}

/** Message type -> handler (Jupyter messaging spec, "Messages on the IOPub/shell/stdin channels"). */
export const HANDLERS: Record<string, (area: OutputArea, m: Message) => void> = {
  stream: OutputArea.onStream,
  display_data: OutputArea.onDisplayData,
  execute_result: OutputArea.onExecuteResult,
  update_display_data: OutputArea.onUpdateDisplayData,
  clear_output: OutputArea.onClearOutput,
  error: OutputArea.onError,
  input_request: OutputArea.onInputRequest,
  execute_reply: OutputArea.onExecuteReply,
  status: OutputArea.onStatus,
};

function streamElement(name: 'stdout' | 'stderr'): HTMLElement {
  const el = document.createElement('pre');
  el.className = `rc-stream rc-${name}`;
  return el;
}
setRenderers({ renderOutput: (o) => renderOutput(o), sanitizeHtml, renderTex });

/** One output as DOM. */
export function renderOutput(o: Output, server?: string): HTMLElement {
  const wrap = document.createElement('div');
  wrap.className = `rc-output rc-${o.output_type}`;
  switch (o.output_type) {
    case 'stream': {
      if (isServerNotice(o.text)) {
        wrap.className = 'rc-output rc-notice';
        wrap.setAttribute('role', 'status');
        wrap.textContent = o.text.replace(/^\[runcell\] /, '').trim();
        return wrap;
      }
      const el = streamElement(o.name);
      ansiToDom(fixCarriageReturns(o.text), el);
      return el;
    }
    case 'error': {
      const el = document.createElement('pre');
      el.className = 'rc-traceback';
      const tb = o.traceback.length ? o.traceback.join('\n') : `${o.ename}: ${o.evalue}`;
      ansiToDom(tb, el);
      wrap.appendChild(el);
      return wrap;
    }
    case 'execute_result':
    case 'display_data': {
      if (o.output_type === 'execute_result' && o.execution_count != null) {
        wrap.dataset.count = String(o.execution_count);
      }
      wrap.appendChild(renderBundle(o.data, o.metadata, server));
      return wrap;
    }
  }
}
