// A cell's output area: Jupyter messages in, DOM and an nbformat output list out. Handlers are named
// after the message types of the Jupyter messaging spec and dispatched through one table.
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
  /** The widgets of the cell's kernel (mounted into widget outputs). */
  widgets?: () => WidgetHost;
}

interface Rendered {
  output: Output;
  el: HTMLElement;
  displayId?: string | undefined;
}

export class OutputArea {
  readonly el: HTMLElement;
  readonly #hooks: OutputHooks;
  #items: Rendered[] = [];
  /** clear_output(wait=True): clear just before the next output arrives. */
  #clearPending = false;

  constructor(hooks: OutputHooks) {
    this.#hooks = hooks;
    this.el = document.createElement('div');
    this.el.className = 'rc-outputs';
    this.el.setAttribute('aria-live', 'polite');
  }

  get outputs(): Output[] {
    return this.#items.map((i) => i.output);
  }

  clear(): void {
    this.#items = [];
    this.#clearPending = false;
    this.el.replaceChildren();
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
        this.#paintStream(last.el, last.output.text);
        this.#hooks.output(output);
        return;
      }
    }
    const el = renderOutput(output, this.#hooks.server);
    this.#items.push({ output, el, displayId });
    this.el.appendChild(el);
    this.#hooks.widgets?.().mount(el);
    this.#hooks.output(output);
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
    queueMicrotask(() => field.focus({ preventScroll: true }));
  }

  #paintStream(el: HTMLElement, text: string): void {
    el.replaceChildren();
    ansiToDom(fixCarriageReturns(text), el);
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
    area.#hooks.executeReply(m.content as unknown as ExecuteReplyContent, m);
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
      const el = document.createElement('pre');
      el.className = `rc-stream rc-${o.name}`;
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
