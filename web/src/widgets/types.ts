// What the lazy widget chunk and the core hand each other. Types only: the chunk must not import the
// core (the core is a classic script), so the core passes what the chunk needs (renderers, the
// sanitizer, a way to send) as functions.
import type { Message, MimeBundle, Output } from '../messages.js';

export type CommType = 'comm_open' | 'comm_msg' | 'comm_close';

export interface WidgetServices {
  /** Sends a comm message to the kernel (shell channel), with message metadata if any; returns its msg_id. */
  send(type: CommType, content: Record<string, unknown>, metadata?: Record<string, unknown>): string;
  /** One nbformat output as DOM (the cell's own renderer), for the Output widget. */
  renderOutput(o: Output): HTMLElement;
  /** Mounts the widget placeholders inside `el` (nested widgets in an Output widget). */
  mount(el: HTMLElement): void;
  /** DOMPurify, as for text/html output. */
  sanitizeHtml(html: string): { fragment: DocumentFragment; hadScript: boolean };
  /** KaTeX (its own lazy chunk), as for text/latex output. */
  renderTex(el: HTMLElement, tex: string, display: boolean): Promise<void>;
}

/** The application/vnd.jupyter.widget-view+json bundle entry. */
export interface ViewSpec {
  model_id: string;
  version_major?: number;
  version_minor?: number;
}

/** One model in nbformat's widget-state shape (application/vnd.jupyter.widget-state+json). */
export interface ModelSnapshot {
  model_name: string;
  model_module: string;
  model_module_version: string;
  state: Record<string, unknown>;
}

export interface WidgetStateBundle {
  version_major: 2;
  version_minor: 0;
  state: Record<string, ModelSnapshot>;
}

/** What the lazy chunk gives the core (one per kernel connection). */
export interface WidgetManagerApi {
  /** comm_open / comm_msg / comm_close from the kernel. */
  handleComm(m: Message): void;
  /** Any other message: true when it was consumed (captured by an Output widget, or a v1 warning). */
  intercept(m: Message): boolean;
  /**
   * How many widgets the execution `msgId` opened past the cap, as a notice for its cell (once);
   * undefined when none.
   */
  droppedNotice(msgId: string): string | undefined;
  /** Renders a live view of `id` into `el`; false when the model is unknown. */
  render(id: string, el: HTMLElement): boolean;
  /** Renders a stored snapshot, disabled. */
  renderSnapshot(id: string, bundle: WidgetStateBundle, el: HTMLElement): void;
  /** The state of `id` and every model it refers to, for a permalink; undefined if too big. */
  snapshot(id: string): WidgetStateBundle | undefined;
  /** The connection came back: ask the kernel for every model's state again. */
  resync(): void;
  /** The kernel died or restarted: every view is disabled with the reason. */
  disable(reason: string): void;
}

export type { Message, MimeBundle, Output };
