// A job's stored output cannot hold a live widget (no page keeps its comm open): each widget view is
// kept as a readable text placeholder naming the widget, from the comm_open that created its model
// (protocol 1: the state is the data; protocol 2: data.state).
export const WIDGET_VIEW_MIME = 'application/vnd.jupyter.widget-view+json';

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

export class WidgetNames {
  readonly #names = new Map<string, string>();

  /** Remembers the widget a comm_open creates (at most 10,000 per job). */
  open(content: Record<string, unknown>): void {
    if (content.target_name !== 'jupyter.widget' || typeof content.comm_id !== 'string') return;
    if (this.#names.size >= 10_000) return;
    const data = isObj(content.data) ? content.data : {};
    const state = isObj(data.state) ? data.state : data;
    const name = state._view_name ?? state._model_name;
    if (typeof name === 'string') this.#names.set(content.comm_id, name.replace(/(View|Model)$/, ''));
  }

  /** The bundle to store: a widget view becomes text; any other bundle is kept as it is. */
  placeholder(data: Record<string, unknown>): Record<string, unknown> {
    const view = data[WIDGET_VIEW_MIME];
    if (!isObj(view)) return data;
    const id = typeof view.model_id === 'string' ? view.model_id : '';
    const name = this.#names.get(id) ?? 'a';
    const plain = typeof data['text/plain'] === 'string' ? ` ${data['text/plain']}` : '';
    return {
      'text/plain': `[${name} widget${plain}: interactive widgets are not kept in job results]`,
    };
  }
}
