// The server owns the headers of what clients send (DESIGN.md "Messages from browsers"): every message
// goes to the kernel with a fresh msg_id, the client session's own server-side session id, a username
// that says how the caller authenticated, and the server's date. Whatever the client put there is
// ignored, except that the client's own header is kept so that replies can be given back to it with
// that header as parent_header (clients match replies by it).
import { randomUUID } from 'node:crypto';
import type { Header, OutgoingMessage } from '../../kernel-manager/index.js';
import { PROTOCOL_VERSION } from '../../kernel-manager/index.js';
import type { Caller } from '../auth.js';
import type { Transport } from '../store/records.js';
import type { Origin } from './outgoing.js';

/** Requests remembered at most (the oldest is forgotten first; its replies then reach no client). */
export const MAX_REQUESTS = 4_096;

/** The header a client's message carries to the kernel. Only msg_type and version are the client's. */
export function serverHeader(
  client: Record<string, unknown>,
  serverSession: string,
  caller: Pick<Caller, 'kind'>,
): OutgoingMessage['header'] {
  return {
    msg_id: randomUUID(),
    session: serverSession,
    username: caller.kind === 'token' ? 'runcell-token' : 'anonymous',
    date: new Date().toISOString(),
    msg_type: String(client.msg_type),
    version: typeof client.version === 'string' ? client.version : PROTOCOL_VERSION,
  };
}

/** A client's message as sent to the kernel. */
export interface Request {
  /** The client session that sent it. */
  sid: string;
  /** The client's own header. */
  header: Record<string, unknown>;
  /** The header the kernel got. */
  server: Header;
  /** performance.now() when it was sent. */
  at: number;
  transport: Transport;
}

/** Requests sent to the kernel, by the server's msg_id: where the kernel's answers go back to. */
export class Requests {
  readonly #byId = new Map<string, Request>();

  constructor(readonly max = MAX_REQUESTS) {}

  add(r: Request): void {
    this.#byId.set(r.server.msg_id, r);
    if (this.#byId.size > this.max) {
      const oldest = this.#byId.keys().next().value;
      if (oldest !== undefined) this.#byId.delete(oldest);
    }
  }

  get(msgId: string | undefined): Request | undefined {
    return msgId ? this.#byId.get(msgId) : undefined;
  }

  has(msgId: string | undefined): boolean {
    return msgId ? this.#byId.has(msgId) : false;
  }

  /** The client a kernel message answers (by its parent's msg_id), with that client's own header. */
  origin(parentMsgId: string | undefined): Origin | undefined {
    const r = this.get(parentMsgId);
    return r ? { sid: r.sid, header: r.header } : undefined;
  }

  get size(): number {
    return this.#byId.size;
  }

  clear(): void {
    this.#byId.clear();
  }
}

/**
 * input_request headers waiting for the one client allowed to answer (Jupyter messaging, "Messages
 * on the stdin ROUTER/DEALER channel"). The client's input_reply goes to the kernel with that
 * input_request as its parent, whatever parent the client named.
 */
export class PendingInput {
  readonly #bySession = new Map<string, Header>();

  /** The kernel asked this client session for input. */
  asked(sid: string, request: Header): void {
    this.#bySession.set(sid, request);
  }

  /** The pending input_request of this session (now answered), or undefined when none is pending. */
  take(sid: string): Header | undefined {
    const h = this.#bySession.get(sid);
    this.#bySession.delete(sid);
    return h;
  }

  clear(): void {
    this.#bySession.clear();
  }
}
