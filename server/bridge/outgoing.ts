// Messages on their way to clients. Each is appended once to the kernel's replay log and encoded
// lazily per client (framing.ts: frameFor, jsonFor). Most come from the kernel; the server makes up
// the rest (status on restart and death, refusals, notices, the list of files a cell wrote).
import { randomUUID } from 'node:crypto';
import type { ChannelMessage, Header } from '../../kernel-manager/index.js';
import { PROTOCOL_VERSION } from '../../kernel-manager/index.js';

/** The client a message answers, and that client's own header (restored as parent_header for it). */
export interface Origin {
  sid: string;
  header: Record<string, unknown>;
}

/** A message on its way to clients: logged once, encoded lazily per variant and framing. */
export interface Outgoing {
  channel: string;
  header: Header | Record<string, unknown>;
  parent_header: Record<string, unknown>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers: Buffer[];
  /** Only this client session sees it (replies); undefined: every client (iopub). */
  target?: string;
  /** The client whose request this answers, and its own header (restored as parent_header for it). */
  origin?: Origin;
  cache?: Map<string, string | Buffer>;
}

/** Who a made-up message answers and who sees it. */
export interface Route {
  origin?: Origin | undefined;
  target?: string | undefined;
  /** parent_header for every client but the origin (default: the origin's header, else none). */
  parent?: Record<string, unknown> | undefined;
}

/**
 * A message the server makes up. It carries the kernel's session (`kernelSession`) so clients
 * accept it as current.
 */
export function synthetic(
  kernelSession: string,
  channel: string,
  msgType: string,
  content: Record<string, unknown>,
  route: Route = {},
): Outgoing {
  const o: Outgoing = {
    channel,
    header: {
      msg_id: randomUUID(),
      msg_type: msgType,
      session: kernelSession,
      username: 'runcell',
      date: new Date().toISOString(),
      version: PROTOCOL_VERSION,
    },
    parent_header: route.parent ?? route.origin?.header ?? {},
    metadata: {},
    content,
    buffers: [],
  };
  if (route.origin) o.origin = route.origin;
  if (route.target !== undefined) o.target = route.target;
  return o;
}

/** A stderr stream message: how the user is told about refusals, dropped output, lost messages and limits. */
export function notice(kernelSession: string, text: string, route: Route = {}): Outgoing {
  return synthetic(kernelSession, 'iopub', 'stream', { name: 'stderr', text }, route);
}

/** A message from the kernel as it goes to clients, answering `origin` when a client asked for it. */
export function fromKernel(m: ChannelMessage, origin?: Origin): Outgoing {
  const o: Outgoing = {
    channel: m.channel,
    header: m.header,
    parent_header: m.parent_header as Record<string, unknown>,
    metadata: m.metadata,
    content: m.content,
    buffers: m.buffers,
  };
  if (origin) o.origin = origin;
  return o;
}

/** What an entry is charged in the replay log: its buffers and text, plus a fixed overhead. */
export function logBytes(o: Outgoing): number {
  let bytes = 512;
  for (const b of o.buffers) bytes += b.length;
  const text = (o.content as { text?: unknown }).text;
  bytes += typeof text === 'string' ? text.length : 0;
  const data = (o.content as { data?: unknown }).data;
  if (data && typeof data === 'object')
    for (const v of Object.values(data)) if (typeof v === 'string') bytes += v.length;
  return bytes;
}
