// The Jupyter widget message protocol, both versions, as plain functions (unit-tested through the manager
// with recorded sequences in test/web/widgets/manager.test.ts). Followed:
//  - protocol 2 (ipywidgets 7.x: 2.0.0; 8.x: 2.1.0): jupyter-widgets/ipywidgets
//    packages/schema/messages.md ("Widget messaging protocol, version 2"): comm_open data
//    {state, buffer_paths} with metadata {version}, kernel->frontend {method: 'update' | 'echo_update' |
//    'custom'}, frontend->kernel {method: 'update' | 'request_state' | 'custom'}, binary buffers placed
//    into the state at buffer_paths; 2.1 adds echo_update and the jupyter.widget.control comm
//    ({method: 'request_states'} -> {method: 'update_states', states, buffer_paths}).
//  - the control comm as ipywidgets 8's widget.py serves it (Widget.handle_control_comm_opened,
//    _handle_control_comm_msg): the frontend opens target jupyter.widget.control with message
//    metadata {version: '1.0.0'} (a major other than 1 is refused), sends {method: 'request_states'}
//    on it, and the kernel answers on the same comm with {method: 'update_states', states: {model_id:
//    {model_name, model_module, model_module_version, state}}, buffer_paths} where each path starts at
//    `states` ([model_id, 'state', key, ...]: _remove_buffers over the whole dict). A kernel without
//    the target (ipywidgets 7, or 6) closes the comm again (ipykernel's CommManager.comm_open).
//  - protocol 1 (ipywidgets 6.0, Debian's python3-ipywidgets): its widget.py: comm_open data is the
//    state itself, kernel->frontend {method: 'update', state, buffers: [keys]} and {method: 'display'},
//    frontend->kernel {method: 'backbone', sync_data, buffer_keys} / 'request_state' / 'custom', and the
//    jupyter.widget.version comm the frontend opens to validate itself.

export type Version = 1 | 2;

export const WIDGET_TARGET = 'jupyter.widget';
export const VERSION_TARGET = 'jupyter.widget.version';
export const CONTROL_TARGET = 'jupyter.widget.control';
/** The control comm's own protocol version (ipywidgets 8: __control_protocol_version__). */
export const CONTROL_VERSION = '1.0.0';
/** ipywidgets 6 checks this against its `__frontend_version__` ('~2.1.4'). */
export const V1_FRONTEND_VERSION = '2.1.4';

export type State = Record<string, unknown>;

export interface Incoming {
  method: 'update' | 'echo_update' | 'custom' | 'display' | 'update_states' | 'unknown';
  state?: State;
  /** update_states: every model's state, keyed by model id. */
  states?: Record<string, { model_name?: string; model_module?: string; state: State }>;
  content?: unknown;
}

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

/** A binary buffer as the transports deliver it (ArrayBuffer, a view, or base64 over long-poll). */
export function toBytes(b: unknown): Uint8Array | undefined {
  if (b instanceof Uint8Array) return b;
  if (b instanceof ArrayBuffer) return new Uint8Array(b);
  if (ArrayBuffer.isView(b)) return new Uint8Array(b.buffer, b.byteOffset, b.byteLength);
  if (typeof b === 'string') {
    try {
      return Uint8Array.from(atob(b), (c) => c.charCodeAt(0));
    } catch {
      return undefined;
    }
  }
  return undefined;
}

const UNSAFE = new Set(['__proto__', 'constructor', 'prototype']);

/** Puts buffers into `state` at their paths (protocol 2: ['value'] or ['data', 0, 'x']). */
export function placeBuffers(state: State, paths: unknown, buffers: readonly unknown[] = []): void {
  if (!Array.isArray(paths)) return;
  paths.forEach((path, i) => {
    const bytes = toBytes(buffers[i]);
    if (!bytes || !Array.isArray(path) || path.length === 0) return;
    let obj: unknown = state;
    for (let j = 0; j < path.length - 1; j++) {
      const k = path[j];
      if (typeof k === 'string' && UNSAFE.has(k)) return;
      obj = (obj as Record<string | number, unknown>)?.[k as string];
      if (typeof obj !== 'object' || obj === null) return;
    }
    const last = path[path.length - 1];
    if (typeof last === 'string' && UNSAFE.has(last)) return;
    (obj as Record<string | number, unknown>)[last as string] = bytes;
  });
}

/** Copies a kernel's state without keys that could pollute prototypes. */
function clean(v: unknown): State {
  const out: State = {};
  if (!isObj(v)) return out;
  for (const [k, x] of Object.entries(v)) if (!UNSAFE.has(k)) out[k] = x;
  return out;
}

/** Protocol 2.1 (ipywidgets 8): the kernel has the jupyter.widget.control comm target. */
export function isV21(metadata: unknown): boolean {
  const v = isObj(metadata) ? metadata.version : undefined;
  return typeof v === 'string' && /^2\.([1-9]|\d\d)/.test(v);
}

/** The protocol of a widget comm_open: metadata.version '2.x' is protocol 2, none is protocol 1. */
export function versionOf(metadata: unknown): Version {
  const v = isObj(metadata) ? metadata.version : undefined;
  return typeof v === 'string' && /^2\./.test(v) ? 2 : 1;
}

/** The initial state from a jupyter.widget comm_open. */
export function openState(data: unknown, metadata: unknown, buffers: readonly unknown[] = []): State {
  if (versionOf(metadata) === 2) {
    const d = isObj(data) ? data : {};
    const state = clean(d.state);
    placeBuffers(state, d.buffer_paths, buffers);
    return state;
  }
  return clean(data);
}

/** A kernel->frontend comm_msg on a widget comm, either version. */
export function parseIncoming(data: unknown, buffers: readonly unknown[] = []): Incoming {
  const d = isObj(data) ? data : {};
  switch (d.method) {
    case 'update':
    case 'echo_update': {
      const state = clean(d.state);
      if (Array.isArray(d.buffer_paths)) placeBuffers(state, d.buffer_paths, buffers);
      // Protocol 1: buffers are named by top-level key.
      else if (Array.isArray(d.buffers))
        placeBuffers(
          state,
          d.buffers.map((k) => [k]),
          buffers,
        );
      return { method: d.method, state };
    }
    case 'custom':
      return { method: 'custom', content: d.content };
    case 'display':
      return { method: 'display' };
    case 'update_states': {
      const states: Incoming['states'] = {};
      const raw = isObj(d.states) ? d.states : {};
      for (const [id, s] of Object.entries(raw)) {
        if (UNSAFE.has(id) || !isObj(s)) continue;
        states[id] = {
          model_name: typeof s.model_name === 'string' ? s.model_name : undefined,
          model_module: typeof s.model_module === 'string' ? s.model_module : undefined,
          state: clean(s.state),
        };
      }
      // buffer_paths start at `states`: [model_id, 'state', key, ...]; only paths into a state.
      if (Array.isArray(d.buffer_paths))
        placeBuffers(
          states,
          d.buffer_paths.map((p) => (Array.isArray(p) && p[1] === 'state' && p.length > 2 ? p : [])),
          buffers,
        );
      return { method: 'update_states', states };
    }
    default:
      return { method: 'unknown' };
  }
}

/** frontend->kernel: a state change. */
export function updateMessage(version: Version, state: State): Record<string, unknown> {
  return version === 2
    ? { method: 'update', state, buffer_paths: [] }
    : { method: 'backbone', sync_data: state, buffer_keys: [] };
}

export const requestState = (): Record<string, unknown> => ({ method: 'request_state' });

export const requestStates = (): Record<string, unknown> => ({ method: 'request_states' });

export const customMessage = (content: unknown): Record<string, unknown> => ({ method: 'custom', content });

/** The reply to the version comm's {version} (protocol 1): ipywidgets then displays without warning. */
export const versionReply = (): Record<string, unknown> => ({
  validated: true,
  frontend_version: V1_FRONTEND_VERSION,
});

/** "IPY_MODEL_<id>" references (children, layout, style, links) -> the id. */
export function refId(v: unknown): string | undefined {
  return typeof v === 'string' && v.startsWith('IPY_MODEL_') ? v.slice(10) : undefined;
}

/** The stderr warning ipywidgets 6 prints when a display comes before the version check has answered. */
export const V1_WARNING =
  'Widget Javascript not detected.  It may not be installed or enabled properly. Reconnecting the current kernel may help.\n';

export function base64(bytes: Uint8Array): string {
  let s = '';
  for (let i = 0; i < bytes.length; i += 0x8000) s += String.fromCharCode(...bytes.subarray(i, i + 0x8000));
  return btoa(s);
}
