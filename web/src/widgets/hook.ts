// The core's side of widgets (in runcell.js; everything else is the lazy widget chunk). One host per
// kernel connection sits on the connection's message stream, above the transport, so widgets work over
// websocket and long-poll alike. The chunk loads when the kernel first opens a comm or a page shows a
// stored widget; until it is there every message of that kernel waits, in order, so nothing a widget
// should capture reaches a cell first.
import { loadChunk } from '../api.js';
import type { Message, MimeBundle, Output } from '../messages.js';
import type { CommType, ViewSpec, WidgetManagerApi, WidgetServices, WidgetStateBundle } from './types.js';

export const WIDGET_MIME = 'application/vnd.jupyter.widget-view+json';
/** nbformat's widget state shape; a permalink's widget outputs carry it as their snapshot. */
export const STATE_MIME = 'application/vnd.jupyter.widget-state+json';

type Chunk = typeof import('../lazy/widgets.js');
let chunk: Promise<Chunk> | undefined;
function load(): Promise<Chunk> {
  chunk ??= loadChunk(() => import('../lazy/widgets.js'));
  chunk.catch(() => {
    chunk = undefined;
  });
  return chunk;
}

const bundles = new WeakMap<HTMLElement, MimeBundle>();

/** The placeholder a widget output renders as until (or unless) a view is mounted in it. */
export function widgetPlaceholder(bundle: MimeBundle): HTMLElement {
  const el = document.createElement('div');
  el.className = 'rc-widget';
  const spec = bundle[WIDGET_MIME] as ViewSpec | undefined;
  el.dataset.modelId = typeof spec?.model_id === 'string' ? spec.model_id : '';
  const plain = bundle['text/plain'];
  el.textContent = typeof plain === 'string' ? plain : 'Widget';
  bundles.set(el, bundle);
  return el;
}

export interface HostDeps {
  send(type: CommType, content: Record<string, unknown>, metadata?: Record<string, unknown>): string;
  /** Hands a message on to the connection's normal dispatch (cells, status). */
  deliver(m: Message): void;
}

export type CoreRenderers = Pick<WidgetServices, 'renderOutput' | 'sanitizeHtml' | 'renderTex'>;
let renderers: CoreRenderers | undefined;
/** The core's renderers, given by output.ts (so this module imports none of them). */
export function setRenderers(r: CoreRenderers): void {
  renderers = r;
}

export class WidgetHost {
  readonly #deps: HostDeps;
  #manager: WidgetManagerApi | undefined;
  #loading: Promise<WidgetManagerApi> | undefined;
  #waiting: Message[] | undefined;
  #failed = false;

  constructor(deps: HostDeps) {
    this.#deps = deps;
  }

  /** True when the message was taken (a comm message, output an Output widget captures, or queued). */
  intercept(m: Message): boolean {
    if (this.#waiting) {
      this.#waiting.push(m);
      return true;
    }
    const t = m.header?.msg_type;
    if (t === 'comm_open' || t === 'comm_msg' || t === 'comm_close') {
      if (this.#failed) return true;
      if (this.#manager) this.#manager.handleComm(m);
      else {
        this.#waiting = [m];
        void this.#start().then(
          () => this.#drain(),
          () => {
            // The chunk could not load: this kernel's widgets stay text; everything else goes on.
            this.#failed = true;
            this.#drain();
          },
        );
      }
      return true;
    }
    return this.#manager?.intercept(m) ?? false;
  }

  #drain(): void {
    const queue = this.#waiting ?? [];
    this.#waiting = undefined;
    for (const m of queue) if (!this.intercept(m)) this.#deps.deliver(m);
  }

  #start(): Promise<WidgetManagerApi> {
    this.#loading ??= load().then((c) => {
      const self = this;
      this.#manager = c.createManager({
        send: this.#deps.send,
        mount: (el) => self.mount(el),
        ...(renderers as CoreRenderers),
      });
      return this.#manager;
    });
    this.#loading.catch(() => {
      this.#loading = undefined;
    });
    return this.#loading;
  }

  /** Mounts views into the widget placeholders under (or at) `el`; stored snapshots render disabled. */
  mount(el: HTMLElement): void {
    const found = el.classList.contains('rc-widget')
      ? [el]
      : [...el.querySelectorAll<HTMLElement>('.rc-widget')];
    for (const p of found) {
      const id = p.dataset.modelId ?? '';
      const state = bundles.get(p)?.[STATE_MIME] as WidgetStateBundle | undefined;
      if (this.#manager?.render(id, p)) continue;
      if (!this.#manager && !state && !this.#waiting) continue; // no widget here: the text stays
      void this.#start()
        .then((w) => {
          if (!w.render(id, p) && state) w.renderSnapshot(id, state, p);
          else if (!p.dataset.mounted) p.classList.add('rc-widget-gone');
        })
        .catch(() => p.classList.add('rc-widget-gone'));
    }
  }

  /** Adds each live widget output's state to it (for a permalink). */
  snapshot(outputs: Output[]): Output[] {
    const w = this.#manager;
    if (!w) return outputs;
    return outputs.map((o) => {
      if (o.output_type !== 'display_data' && o.output_type !== 'execute_result') return o;
      const spec = o.data[WIDGET_MIME] as ViewSpec | undefined;
      const state = typeof spec?.model_id === 'string' ? w.snapshot(spec.model_id) : undefined;
      return state ? { ...o, data: { ...o.data, [STATE_MIME]: state } } : o;
    });
  }

  /** The notice for widgets `msgId` opened past the cap (see WidgetManagerApi), if any. */
  droppedNotice(msgId: string): string | undefined {
    return this.#manager?.droppedNotice(msgId);
  }

  resync(): void {
    // After the transport has sent what it queued while away: the kernel must see those changes first.
    setTimeout(() => this.#manager?.resync(), 0);
  }

  disable(reason: string): void {
    this.#manager?.disable(reason);
  }
}
