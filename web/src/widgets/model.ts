// One widget model on the page: its state, the views that show it, and changes made by a view (sent
// to the kernel by the manager, throttled).
import { refId, type State, type Version } from './protocol.js';
import type { Output, WidgetServices } from './types.js';

/** What container views need from their manager (an interface, so views do not import the manager). */
export interface ViewContext {
  readonly services: WidgetServices;
  /** Models dropped by the per-kernel cap. */
  readonly dropped: number;
  view(model: WidgetModel): HTMLElement;
}

export type ChangeListener = (keys: string[]) => void;

export interface ModelOwner {
  /** A change a view made, for the kernel. */
  send(model: WidgetModel, patch: State): void;
  custom(model: WidgetModel, content: unknown): void;
  get(id: string): WidgetModel | undefined;
  /** Set when the kernel is gone (or the model is a stored snapshot): every view is disabled. */
  readonly deadReason: string | undefined;
}

export class WidgetModel {
  readonly id: string;
  readonly version: Version;
  readonly owner: ModelOwner;
  state: State;
  /** Outputs an Output widget captured (kept by the frontend; protocol 2 also syncs them as state). */
  outputs: Output[] = [];
  /** clear_output(wait=True) in an Output widget: clear when the next output arrives. */
  clearPending = false;
  closed = false;
  /** Why the model no longer syncs (closed by the kernel, the kernel died or restarted). */
  closedReason: string | undefined;
  /** The comm_msg in flight to the kernel, the keys it carried, and changes made since. */
  inflight: string | undefined;
  inflightKeys = new Set<string>();
  pending: State | undefined;
  timer: ReturnType<typeof setTimeout> | undefined;
  /** When each key was last changed on this page (the manager's clock; see WidgetManager.send). */
  readonly edits = new Map<string, number>();
  readonly #listeners = new Set<ChangeListener>();

  constructor(owner: ModelOwner, id: string, version: Version, state: State) {
    this.owner = owner;
    this.id = id;
    this.version = version;
    this.state = state;
  }

  get name(): string {
    return String(this.state._model_name ?? '');
  }

  get viewName(): string {
    return String(this.state._view_name ?? '');
  }

  get(key: string): unknown {
    return this.state[key];
  }

  /** A model this one refers to by "IPY_MODEL_<id>" under `key`. */
  ref(key: string): WidgetModel | undefined {
    const id = refId(this.state[key]);
    return id ? this.owner.get(id) : undefined;
  }

  /** Why views of this model are disabled, beyond its own `disabled` trait. */
  get inactive(): string | undefined {
    return this.closed ? (this.closedReason ?? 'closed') : this.owner.deadReason;
  }

  get disabled(): boolean {
    return this.owner.deadReason !== undefined || this.closed || this.state.disabled === true;
  }

  on(l: ChangeListener): () => void {
    this.#listeners.add(l);
    return () => this.#listeners.delete(l);
  }

  /** State from the kernel (or a link): views are told which keys changed. */
  apply(patch: State): void {
    const keys = Object.keys(patch);
    if (keys.length === 0) return;
    Object.assign(this.state, patch);
    this.emit(keys);
  }

  emit(keys: string[]): void {
    for (const l of [...this.#listeners]) l(keys);
  }

  /** A view's change: shown by the model's other views at once, sent to the kernel. */
  set(patch: State): void {
    if (this.disabled) return;
    this.apply(patch);
    this.owner.send(this, patch);
  }

  custom(content: unknown): void {
    if (!this.disabled) this.owner.custom(this, content);
  }
}
