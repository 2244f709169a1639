// Messages a client sends a kernel, in the legacy JSON framing of /api/kernels/:id/channels (Jupyter
// messaging spec 5.3, "General Message Format"; the execute_request content per "Execute"), built once for
// every client of ours (CLI, benches, tests). The server owns the header of whatever arrives (DESIGN.md
// "Messages from browsers"): it sets session, msg_id, username and date again, so these are the client's
// own bookkeeping, used to match replies.
export const PROTOCOL_VERSION = '5.3';

export type ClientChannel = 'shell' | 'control' | 'stdin';

export interface ClientHeader {
  msg_id: string;
  msg_type: string;
  session: string;
  username: string;
  version: string;
  date: string;
}

export interface ClientMessage<C extends object = Record<string, unknown>> {
  channel: ClientChannel;
  header: ClientHeader;
  parent_header: Record<string, never>;
  metadata: Record<string, never>;
  content: C;
}

/** execute_request's content (spec "Execute"). */
export interface ExecuteRequestContent {
  code: string;
  silent: boolean;
  store_history: boolean;
  user_expressions: Record<string, string>;
  allow_stdin: boolean;
  stop_on_error: boolean;
}

export function clientMessage<C extends object>(
  msgType: string,
  content: C,
  session: string,
  o: { channel?: ClientChannel; username?: string; msgId?: string } = {},
): ClientMessage<C> {
  return {
    channel: o.channel ?? 'shell',
    header: {
      // crypto.randomUUID is global in browsers and in Node 20.
      msg_id: o.msgId ?? crypto.randomUUID(),
      msg_type: msgType,
      session,
      username: o.username ?? 'runcell',
      version: PROTOCOL_VERSION,
      date: new Date().toISOString(),
    },
    parent_header: {},
    metadata: {},
    content,
  };
}

/** An execute_request for `code`, as a notebook cell sends it (stdin allowed only when asked). */
export function executeRequest(
  code: string,
  session: string,
  o: { allowStdin?: boolean; username?: string; msgId?: string } = {},
): ClientMessage<ExecuteRequestContent> {
  return clientMessage(
    'execute_request',
    {
      code,
      silent: false,
      store_history: true,
      user_expressions: {},
      allow_stdin: o.allowStdin ?? false,
      stop_on_error: true,
    },
    session,
    { username: o.username, msgId: o.msgId },
  );
}

/**
 * The status message a kernel's clients get when it ends (spec "Kernel status": execution_state), with
 * runcell's reason, and `idle_ms` when it was shut down for going unused that long (a new run then simply
 * starts a fresh kernel). The server sends it; the embed reads it.
 */
export type DeadStatus = {
  execution_state: 'dead';
  reason: string;
  idle_ms?: number;
};
