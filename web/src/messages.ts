// Jupyter message shapes the embed uses: content types come from @jupyterlab/services (type-only, so
// nothing of it is bundled); the envelope is the legacy JSON framing of /api/kernels/:id/channels.
import type { KernelMessage } from '@jupyterlab/services';
import type { DeadStatus } from '../../shared/jupyter.js';

export type Channel = 'shell' | 'iopub' | 'stdin' | 'control';

export interface Header {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  date: string;
  version: string;
}

export interface Message<C = Record<string, unknown>> {
  channel: Channel;
  header: Header;
  /** Empty ({}) when the message answers nothing; the server restores our own header on replies. */
  parent_header: Partial<Header>;
  metadata: Record<string, unknown>;
  content: C;
  buffers?: unknown[];
}

export type MimeBundle = Record<string, unknown>;
export type StreamContent = KernelMessage.IStreamMsg['content'];
export type DisplayDataContent = KernelMessage.IDisplayDataMsg['content'];
export type UpdateDisplayDataContent = KernelMessage.IUpdateDisplayDataMsg['content'];
export type ExecuteResultContent = KernelMessage.IExecuteResultMsg['content'];
export type ErrorContent = KernelMessage.IErrorMsg['content'];
export type ClearOutputContent = KernelMessage.IClearOutputMsg['content'];
export type StatusContent = KernelMessage.IStatusMsg['content'] &
  Partial<Omit<DeadStatus, 'execution_state'>>;
export type InputRequestContent = KernelMessage.IInputRequestMsg['content'];
export type ExecuteReplyContent = {
  status: 'ok' | 'error' | 'aborted';
  execution_count?: number | null;
  /** IPython's payloads: `{source: "page", data}` carries the help text of `name?`. */
  payload?: { source?: string; data?: MimeBundle }[];
};

/** Outputs in nbformat 4 shape: what a cell shows, what a permalink stores. */
export type Output =
  | { output_type: 'stream'; name: 'stdout' | 'stderr'; text: string }
  | { output_type: 'display_data'; data: MimeBundle; metadata: Record<string, unknown> }
  | {
      output_type: 'execute_result';
      data: MimeBundle;
      metadata: Record<string, unknown>;
      execution_count: number | null;
    }
  | { output_type: 'error'; ename: string; evalue: string; traceback: string[] };

export function isOutput(v: unknown): v is Output {
  if (!v || typeof v !== 'object') return false;
  const o = v as Record<string, unknown>;
  switch (o.output_type) {
    case 'stream':
      return typeof o.text === 'string' && (o.name === 'stdout' || o.name === 'stderr');
    case 'display_data':
    case 'execute_result':
      return !!o.data && typeof o.data === 'object';
    case 'error':
      return typeof o.ename === 'string' && Array.isArray(o.traceback);
    default:
      return false;
  }
}

function uuid(): string {
  return typeof crypto.randomUUID === 'function'
    ? crypto.randomUUID()
    : Array.from(crypto.getRandomValues(new Uint8Array(16)), (b) => b.toString(16).padStart(2, '0')).join('');
}

export const newId = uuid;

/** A request from this client; the server replaces session, msg_id, username and date with its own. */
export function request<C extends object>(
  msgType: string,
  content: C,
  session: string,
  channel: Channel = 'shell',
  parent: Partial<Header> = {},
): Message<C> {
  return {
    channel,
    header: {
      msg_id: uuid(),
      msg_type: msgType,
      session,
      username: 'runcell',
      date: new Date().toISOString(),
      version: '5.3',
    },
    parent_header: parent,
    metadata: {},
    content,
  };
}

/**
 * What the page is told when the server's replay log moved on before this connection read some of
 * the kernel's messages (a long-poll answer's `lost`). Parentless, like the server's own notices: the
 * kernel connection shows it in every cell running at the time.
 */
export function lostNotice(lost: number, session: string): Message<{ name: 'stderr'; text: string }> {
  return request(
    'stream',
    {
      name: 'stderr' as const,
      text:
        `[runcell] ${lost} message(s) from the kernel were lost: this connection fell behind the ` +
        "server's replay log. Output shown may be incomplete.\n",
    },
    session,
    'iopub',
  );
}
