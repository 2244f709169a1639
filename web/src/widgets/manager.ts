// The widget manager of one kernel connection (lazy chunk): models from comm messages, two-way sync
// throttled to what the kernel keeps up with, Output widget capture, links, limits and snapshots.
import type { ExecuteResultContent, Message, Output, StreamContent } from '../messages.js';
import { ensureStyles } from './dom.js';
import { type ChangeListener, type ModelOwner, type ViewContext, WidgetModel } from './model.js';
import {
  base64,
  CONTROL_TARGET,
  CONTROL_VERSION,
  customMessage,
  isV21,
  openState,
  parseIncoming,
  refId,
  requestState,
  requestStates,
  type State,
  toBytes,
  updateMessage,
  V1_WARNING,
  VERSION_TARGET,
  versionOf,
  versionReply,
  WIDGET_TARGET,
} from './protocol.js';
import type { ModelSnapshot, WidgetManagerApi, WidgetServices, WidgetStateBundle } from './types.js';
import { renderView } from './views.js';

/** At most this many live models per kernel; more are dropped with a notice in their views. */
export const MAX_MODELS = 2000;
/** A comm_msg the kernel never answers (lost on a reconnect) stops holding back changes after this. */
const RELEASE_MS = 3000;
/** A snapshot bigger than this (JSON) is not stored with a permalink. */
const MAX_SNAPSHOT = 1_000_000;
const OUTPUT_TYPES = new Set(['stream', 'display_data', 'execute_result', 'error', 'clear_output']);

export class WidgetManager implements WidgetManagerApi, ModelOwner, ViewContext {
  readonly services: WidgetServices;
  readonly models = new Map<string, WidgetModel>();
  /** Models dropped by MAX_MODELS (their views say so). */
  dropped = 0;
  /** The same, by the execution that opened them (its cell says so when no view of them did). */
  readonly #droppedBy = new Map<string, number>();
  deadReason: string | undefined;
  readonly #inflight = new Map<string, WidgetModel>();
  /** Counts changes made on this page; each model remembers when each of its keys last changed. */
  #clock = 0;
  /** request_state messages sent by resync() and not yet answered: the clock when each was sent. */
  readonly #stateRequests = new Map<string, number>();
  /** Output widgets capturing, by the msg_id whose outputs they take. */
  readonly #captures = new Map<string, WidgetModel>();
  #versionComm: string | undefined;
  #v1 = false;
  /** A model opened with protocol 2.1: the kernel (ipywidgets 8) serves the control comm. */
  #v21 = false;
  /** The control comm's request_states in flight (resync): its comm, msg_id and the clock when sent. */
  #control: { comm: string; msgId: string; at: number } | undefined;
  /** The kernel refused or did not answer the control comm: resyncs ask model by model. */
  #noControl = false;
  readonly #linkOff = new Map<string, () => void>();

  constructor(services: WidgetServices, readOnlyReason?: string) {
    this.services = services;
    this.deadReason = readOnlyReason;
  }

  get(id: string): WidgetModel | undefined {
    return this.models.get(id);
  }

  view(model: WidgetModel): HTMLElement {
    return renderView(model, this);
  }

  // ---- kernel -> frontend -------------------------------------------------------------------------

  handleComm(m: Message): void {
    const c = m.content as Record<string, unknown>;
    const id = typeof c.comm_id === 'string' ? c.comm_id : '';
    switch (m.header.msg_type) {
      case 'comm_open':
        this.#onCommOpen(id, c, m);
        break;
      case 'comm_msg':
        this.#onCommMsg(id, c, m);
        break;
      case 'comm_close':
        this.#onCommClose(id);
        break;
    }
  }

  #onCommOpen(id: string, c: Record<string, unknown>, m: Message): void {
    if (c.target_name !== WIDGET_TARGET || !id) return;
    if (!this.models.has(id) && this.models.size >= MAX_MODELS) {
      this.dropped++;
      const run = m.parent_header?.msg_id;
      if (run) this.#droppedBy.set(run, (this.#droppedBy.get(run) ?? 0) + 1);
      return;
    }
    const version = versionOf(c.metadata ?? m.metadata);
    if (isV21(c.metadata ?? m.metadata)) this.#v21 = true;
    const model = new WidgetModel(this, id, version, openState(c.data, c.metadata ?? m.metadata, m.buffers));
    this.models.set(id, model);
    this.#track(model, Object.keys(model.state), m);
    if (version === 1 && !this.#v1) {
      this.#v1 = true;
      // Spec (protocol 1): the frontend opens jupyter.widget.version; the kernel sends {version}.
      this.#versionComm = `rc-version-${Math.random().toString(36).slice(2)}`;
      this.services.send('comm_open', {
        comm_id: this.#versionComm,
        target_name: VERSION_TARGET,
        data: {},
      });
    }
  }

  #onCommMsg(id: string, c: Record<string, unknown>, m: Message): void {
    if (id && id === this.#versionComm) {
      this.services.send('comm_msg', { comm_id: id, data: versionReply() });
      return;
    }
    if (id && id === this.#control?.comm) {
      this.#onUpdateStates(c, m);
      return;
    }
    const model = this.models.get(id);
    if (!model) return;
    const msg = parseIncoming(c.data, m.buffers);
    if ((msg.method === 'update' || msg.method === 'echo_update') && msg.state) {
      let state = msg.state;
      const parent = m.parent_header?.msg_id ?? '';
      const asked = this.#stateRequests.get(parent);
      // Protocol 2.1: an echo of a value this page sent; a newer local change wins.
      if (msg.method === 'echo_update')
        state = Object.fromEntries(
          Object.entries(state).filter(
            ([k]) => !model.inflightKeys.has(k) && !(model.pending && k in model.pending),
          ),
        );
      else if (asked !== undefined) {
        // The answer to resync()'s request_state is the kernel's state when it read that request: a key
        // changed on this page since then (a drag that went on across the reconnect) is newer here, and
        // reaches the kernel after. Applying the answer would move the slider back under the user's
        // hand, and the next step of the drag would start from the old value.
        this.#stateRequests.delete(parent);
        state = this.#newerHere(model, state, asked);
      }
      model.apply(state);
      this.#track(model, Object.keys(state), m);
    }
  }

  /** The control comm's answer: every model's state in one message (protocol 2.1). */
  #onUpdateStates(c: Record<string, unknown>, m: Message): void {
    const control = this.#control;
    if (!control) return;
    const msg = parseIncoming(c.data, m.buffers);
    if (msg.method !== 'update_states' || !msg.states) return;
    this.#control = undefined;
    for (const [id, s] of Object.entries(msg.states)) {
      const model = this.models.get(id);
      // A model opened while the page was away (and lost beyond the server's replay) is new here.
      if (!model) {
        if (this.models.size >= MAX_MODELS) this.dropped++;
        else this.models.set(id, new WidgetModel(this, id, 2, s.state));
        continue;
      }
      const state = this.#newerHere(model, s.state, control.at);
      model.apply(state);
      this.#track(model, Object.keys(state), m);
    }
    // Done with it, as JupyterLab's manager is once it has the states.
    this.services.send('comm_close', { comm_id: control.comm, data: {} });
  }

  #onCommClose(id: string): void {
    if (id && id === this.#control?.comm) {
      // No jupyter.widget.control target in this kernel (or a control version it refuses).
      this.#controlFailed();
      return;
    }
    const model = this.models.get(id);
    if (!model) return;
    this.models.delete(id);
    model.closed = true;
    model.closedReason = 'the kernel closed this widget';
    this.#linkOff.get(id)?.();
    model.emit(['disabled']);
  }

  /** `state` without the keys this page changed after `since` (its clock) or has yet to send. */
  #newerHere(model: WidgetModel, state: State, since: number): State {
    return Object.fromEntries(
      Object.entries(state).filter(
        ([k]) => (model.edits.get(k) ?? 0) <= since && !(model.pending && k in model.pending),
      ),
    );
  }

  /** Keeps the capture table and jslink wiring in step with a model's state. */
  #track(model: WidgetModel, keys: string[], m: Message): void {
    if (model.name === 'OutputModel' && keys.includes('msg_id')) {
      for (const [k, v] of this.#captures) if (v === model) this.#captures.delete(k);
      const mid = model.get('msg_id');
      if (typeof mid === 'string' && mid) {
        this.#captures.set(mid, model);
        // The kernel names the request by the server's msg_id; this page sees its own request's
        // outputs under its own msg_id (the server gives replies back with the client's header).
        // The update that set msg_id was sent while that request ran, so its parent is that request.
        const own = m.parent_header?.msg_id;
        if (own) this.#captures.set(own, model);
      }
    }
    if (
      (model.name === 'LinkModel' || model.name === 'DirectionalLinkModel') &&
      keys.some((k) => k === 'source' || k === 'target')
    )
      this.#link(model);
  }

  /** jslink / jsdlink: the frontend copies source.attr to target.attr (both ways for jslink). */
  #link(link: WidgetModel): void {
    this.#linkOff.get(link.id)?.();
    const pair = (k: string): [WidgetModel, string] | undefined => {
      const v = link.get(k);
      if (!Array.isArray(v)) return undefined;
      const id = refId(v[0]);
      const m = id ? this.models.get(id) : undefined;
      return m && typeof v[1] === 'string' ? [m, v[1]] : undefined;
    };
    const src = pair('source');
    const dst = pair('target');
    if (!src || !dst) return;
    const copy =
      (from: [WidgetModel, string], to: [WidgetModel, string]): ChangeListener =>
      (keys) => {
        if (!keys.includes(from[1])) return;
        const v = from[0].get(from[1]);
        if (to[0].get(to[1]) !== v) to[0].set({ [to[1]]: v });
      };
    const offs = [src[0].on(copy(src, dst))];
    if (link.name === 'LinkModel') offs.push(dst[0].on(copy(dst, src)));
    copy(src, dst)([src[1]]);
    this.#linkOff.set(link.id, () => {
      for (const o of offs) o();
    });
  }

  intercept(m: Message): boolean {
    const type = m.header?.msg_type;
    const parent = m.parent_header?.msg_id;
    if (
      type === 'status' &&
      parent &&
      (m.content as { execution_state?: string }).execution_state === 'idle'
    ) {
      this.#release(parent);
      // A request_state the kernel has finished with (answered, or not understood).
      this.#stateRequests.delete(parent);
      // request_states handled without an update_states (the handler raised): ask model by model.
      if (parent === this.#control?.msgId) this.#controlFailed();
      return false;
    }
    if (!parent || !OUTPUT_TYPES.has(type)) return false;
    if (this.#v1 && type === 'stream' && (m.content as StreamContent).name === 'stderr') {
      const text = String((m.content as StreamContent).text);
      if (text.includes(V1_WARNING)) {
        const rest = text.replace(V1_WARNING, '');
        if (!rest) return true;
        (m.content as StreamContent).text = rest;
      }
    }
    const out = this.#captures.get(parent);
    if (!out) return false;
    this.#capture(out, m);
    return true;
  }

  /** An output message an Output widget captures (Output widget: outputs whose parent is its msg_id). */
  #capture(model: WidgetModel, m: Message): void {
    const c = m.content as Record<string, unknown>;
    const type = m.header.msg_type;
    if (type === 'clear_output') {
      if (c.wait) model.clearPending = true;
      else model.outputs = [];
      model.emit(['outputs']);
      return;
    }
    if (model.clearPending) {
      model.outputs = [];
      model.clearPending = false;
    }
    let o: Output;
    if (type === 'stream') {
      const name = c.name === 'stderr' ? 'stderr' : 'stdout';
      const last = model.outputs[model.outputs.length - 1];
      if (last?.output_type === 'stream' && last.name === name) {
        model.outputs = [...model.outputs.slice(0, -1), { ...last, text: last.text + String(c.text) }];
        model.emit(['outputs']);
        return;
      }
      o = { output_type: 'stream', name, text: String(c.text) };
    } else if (type === 'error') {
      o = {
        output_type: 'error',
        ename: String(c.ename),
        evalue: String(c.evalue),
        traceback: Array.isArray(c.traceback) ? c.traceback.map(String) : [],
      };
    } else {
      const r = c as unknown as ExecuteResultContent;
      o =
        type === 'execute_result'
          ? {
              output_type: 'execute_result',
              data: r.data,
              metadata: r.metadata ?? {},
              execution_count: r.execution_count,
            }
          : { output_type: 'display_data', data: r.data, metadata: r.metadata ?? {} };
    }
    model.outputs = [...model.outputs, o];
    model.emit(['outputs']);
  }

  // ---- frontend -> kernel -------------------------------------------------------------------------

  /** At most one update per model in flight; later changes merge, and the last one is always sent. */
  send(model: WidgetModel, patch: State): void {
    if (model.closed || this.deadReason) return;
    for (const k of Object.keys(patch)) model.edits.set(k, ++this.#clock);
    if (model.inflight) model.pending = { ...model.pending, ...patch };
    else this.#transmit(model, patch);
  }

  #transmit(model: WidgetModel, patch: State): void {
    if (model.closed || this.deadReason) return;
    const id = this.services.send('comm_msg', {
      comm_id: model.id,
      data: updateMessage(model.version, patch),
    });
    model.inflight = id;
    model.inflightKeys = new Set(Object.keys(patch));
    this.#inflight.set(id, model);
    model.timer = setTimeout(() => this.#release(id), RELEASE_MS);
  }

  #release(msgId: string): void {
    const model = this.#inflight.get(msgId);
    if (!model) return;
    this.#inflight.delete(msgId);
    clearTimeout(model.timer);
    model.inflight = undefined;
    model.inflightKeys.clear();
    const next = model.pending;
    model.pending = undefined;
    if (next) this.#transmit(model, next);
  }

  custom(model: WidgetModel, content: unknown): void {
    if (model.closed || this.deadReason) return;
    this.services.send('comm_msg', { comm_id: model.id, data: customMessage(content) });
  }

  resync(): void {
    // Answers to updates sent before the drop may never come: release them (their pending changes go
    // now), then ask for every model's state: in one round trip from an ipywidgets 8 kernel (the
    // control comm's request_states), else model by model (request_state; protocol 1 and 2.0).
    for (const id of [...this.#inflight.keys()]) this.#release(id);
    if (this.#v21 && !this.#noControl) this.#requestStates();
    else this.#requestEach();
  }

  #requestEach(): void {
    for (const m of this.models.values()) {
      const id = this.services.send('comm_msg', { comm_id: m.id, data: requestState() });
      this.#stateRequests.set(id, this.#clock);
    }
  }

  #requestStates(): void {
    // A fresh comm each time: the kernel keeps the last one opened (widget.py: cls._control_comm).
    const comm = `rc-control-${Math.random().toString(36).slice(2)}`;
    this.services.send(
      'comm_open',
      { comm_id: comm, target_name: CONTROL_TARGET, data: {} },
      { version: CONTROL_VERSION },
    );
    const msgId = this.services.send('comm_msg', { comm_id: comm, data: requestStates() });
    this.#control = { comm, msgId, at: this.#clock };
  }

  #controlFailed(): void {
    if (!this.#control) return;
    this.#control = undefined;
    this.#noControl = true;
    this.#requestEach();
  }

  disable(reason: string): void {
    this.deadReason = reason;
    const all = [...this.models.values()];
    this.models.clear();
    this.#captures.clear();
    this.#inflight.clear();
    this.#stateRequests.clear();
    this.#control = undefined;
    this.#v1 = false;
    this.#v21 = false;
    this.#noControl = false;
    this.#versionComm = undefined;
    for (const off of this.#linkOff.values()) off();
    this.#linkOff.clear();
    this.#droppedBy.clear();
    // The next kernel (after a restart) starts afresh; the views of these models stay, disabled.
    for (const m of all) {
      m.closed = true;
      m.closedReason = reason;
      m.emit(['disabled']);
    }
  }

  // ---- views and snapshots ------------------------------------------------------------------------

  droppedNotice(msgId: string): string | undefined {
    const n = this.#droppedBy.get(msgId);
    this.#droppedBy.delete(msgId);
    return n
      ? `[runcell] Widgets not shown: this kernel opened more than ${MAX_MODELS} widgets (${n} from this run not shown).\n`
      : undefined;
  }

  render(id: string, el: HTMLElement): boolean {
    const model = this.models.get(id);
    if (!model && this.dropped > 0 && !this.deadReason) {
      // Opened past the cap: say so where the widget would have been.
      el.replaceChildren();
      const note = document.createElement('div');
      note.className = 'rc-w-notice';
      note.textContent = `Widget not shown: this kernel opened more than ${MAX_MODELS} widgets (${this.dropped} not shown).`;
      ensureStyles(el);
      el.append(note);
      el.dataset.mounted = 'capped';
      return true;
    }
    if (!model) return false;
    ensureStyles(el);
    el.replaceChildren(renderView(model, this));
    el.dataset.mounted = 'live';
    return true;
  }

  renderSnapshot(id: string, bundle: WidgetStateBundle, el: HTMLElement): void {
    const stored = new WidgetManager(this.services, 'a stored snapshot: press Run to make it live');
    for (const [mid, s] of Object.entries(bundle?.state ?? {})) {
      if (!s || typeof s !== 'object') continue;
      const state: State = { ...(s.state ?? {}) };
      for (const b of (s as { buffers?: { path?: unknown; data?: unknown }[] }).buffers ?? []) {
        const k = Array.isArray(b.path) ? b.path[0] : undefined;
        if (typeof k === 'string' && typeof b.data === 'string') state[k] = toBytes(b.data);
      }
      const model = new WidgetModel(stored, mid, 2, state);
      if (Array.isArray(state.outputs)) model.outputs = state.outputs as Output[];
      stored.models.set(mid, model);
    }
    if (!stored.render(id, el)) return;
    el.dataset.mounted = 'snapshot';
    el.title = 'A snapshot of this widget: press Run to use it';
  }

  snapshot(id: string): WidgetStateBundle | undefined {
    const state: Record<string, ModelSnapshot> = {};
    const visit = (mid: string) => {
      const m = this.models.get(mid);
      if (!m || state[mid]) return;
      const s: State = {};
      const buffers: { path: string[]; encoding: 'base64'; data: string }[] = [];
      for (const [k, v] of Object.entries(m.state)) {
        const bytes = v instanceof Uint8Array ? v : undefined;
        if (bytes) buffers.push({ path: [k], encoding: 'base64', data: base64(bytes) });
        else s[k] = v;
      }
      if (m.name === 'OutputModel') s.outputs = m.outputs;
      state[mid] = {
        model_name: m.name,
        model_module: String(m.state._model_module ?? ''),
        model_module_version: String(m.state._model_module_version ?? ''),
        state: s,
        ...(buffers.length ? { buffers } : {}),
      } as ModelSnapshot;
      const walk = (v: unknown): void => {
        const r = refId(v);
        if (r) visit(r);
        else if (Array.isArray(v)) v.forEach(walk);
        else if (v && typeof v === 'object' && !(v instanceof Uint8Array)) Object.values(v).forEach(walk);
      };
      walk(s);
    };
    visit(id);
    if (!state[id]) return undefined;
    const bundle: WidgetStateBundle = { version_major: 2, version_minor: 0, state };
    return JSON.stringify(bundle).length <= MAX_SNAPSHOT ? bundle : undefined;
  }
}
