// Websocket framings of Jupyter messages, as Jupyter Server and @jupyterlab/services speak them:
//  - legacy ('' subprotocol): a JSON text frame with `channel`, or, when there are buffers, a binary
//    frame: uint32 BE count n, n uint32 BE offsets, the JSON message (no buffers), then the buffers;
//  - v1.kernel.websocket.jupyter.org: uint64 LE count n, n uint64 LE offsets, then the channel name,
//    header, parent_header, metadata and content (JSON each) and the buffers; the last offset is the end.
// Everything from a client is untrusted: offsets are bounds-checked and the result schema-validated.
// Towards a client, a logged message is encoded once per variant (its own request's answer or not)
// and framing, and the encoding kept with it for the other clients.
import { Type } from 'typebox';
import { Compile } from 'typebox/compile';
import type { Outgoing } from './outgoing.js';
import type { LogEntry } from './replay.js';

export const V1_PROTOCOL = 'v1.kernel.websocket.jupyter.org';
export type Protocol = '' | typeof V1_PROTOCOL;

/** At most this many binary buffers per message (comm/widget messages use a handful). */
export const MAX_BUFFERS = 64;

export class FramingError extends Error {
  override name = 'FramingError';
}

/** A message as it travels between a client and the server. */
export interface WireMessage {
  channel: string;
  header: Record<string, unknown>;
  parent_header: Record<string, unknown>;
  metadata: Record<string, unknown>;
  content: Record<string, unknown>;
  buffers: Buffer[];
}

const Str = (max: number) => Type.String({ maxLength: max });
const Obj = Type.Record(Type.String(), Type.Unknown());

/** What the server relies on in a client's message; everything else is carried as is. */
export const ClientMessageSchema = Type.Object({
  channel: Str(32),
  header: Type.Object({
    msg_id: Str(256),
    msg_type: Type.String({ minLength: 1, maxLength: 64 }),
    session: Type.Optional(Str(256)),
    username: Type.Optional(Str(256)),
    version: Type.Optional(Str(32)),
    date: Type.Optional(Type.Unknown()),
  }),
  parent_header: Type.Optional(Type.Union([Obj, Type.Null()])),
  metadata: Type.Optional(Type.Union([Obj, Type.Null()])),
  content: Obj,
});
const checkClientMessage = Compile(ClientMessageSchema);

const isObj = (v: unknown): v is Record<string, unknown> =>
  typeof v === 'object' && v !== null && !Array.isArray(v);

function parseJson(bytes: Buffer | string, what: string): unknown {
  try {
    return JSON.parse(typeof bytes === 'string' ? bytes : bytes.toString('utf8'));
  } catch {
    throw new FramingError(`${what} is not valid JSON`);
  }
}

/** Validates a decoded value as a client message and normalizes optional parts. */
export function toWireMessage(value: unknown, buffers: Buffer[]): WireMessage {
  if (!checkClientMessage.Check(value)) {
    const first = checkClientMessage.Errors(value)[0];
    const where = first?.instancePath ? ` at ${first.instancePath}` : '';
    throw new FramingError(`invalid message${where}: ${first?.message ?? 'wrong shape'}`);
  }
  const v = value as Record<string, unknown>;
  return {
    channel: v.channel as string,
    header: v.header as Record<string, unknown>,
    parent_header: isObj(v.parent_header) ? v.parent_header : {},
    metadata: isObj(v.metadata) ? v.metadata : {},
    content: v.content as Record<string, unknown>,
    buffers,
  };
}

function checkOffsets(offsets: number[], start: number, total: number): void {
  let prev = start;
  for (const o of offsets) {
    if (!Number.isSafeInteger(o) || o < prev || o > total)
      throw new FramingError('bad offsets in binary frame');
    prev = o;
  }
}

/** Legacy binary framing (Jupyter Server's deserialize_binary_message). */
export function decodeLegacyBinary(buf: Buffer): WireMessage {
  if (buf.length < 8) throw new FramingError('binary frame too short');
  const n = buf.readUInt32BE(0);
  if (n < 1 || n > MAX_BUFFERS + 1)
    throw new FramingError(`binary frame has ${n} parts (1 to ${MAX_BUFFERS + 1})`);
  const headerLen = 4 * (n + 1);
  if (buf.length < headerLen) throw new FramingError('binary frame shorter than its offsets');
  const offsets: number[] = [];
  for (let i = 1; i <= n; i++) offsets.push(buf.readUInt32BE(4 * i));
  checkOffsets(offsets, headerLen, buf.length);
  const parts = offsets.map((o, i) => buf.subarray(o, offsets[i + 1] ?? buf.length));
  const json = parseJson(parts[0] ?? Buffer.alloc(0), 'the JSON part');
  if (isObj(json)) delete json.buffers;
  return toWireMessage(
    json,
    parts.slice(1).map((p) => Buffer.from(p)),
  );
}

/** v1.kernel.websocket.jupyter.org framing. */
export function decodeV1(buf: Buffer): WireMessage {
  if (buf.length < 8) throw new FramingError('binary frame too short');
  const nBig = buf.readBigUInt64LE(0);
  if (nBig < 6n || nBig > BigInt(6 + MAX_BUFFERS))
    throw new FramingError(`v1 frame has ${nBig} offsets (6 to ${6 + MAX_BUFFERS})`);
  const n = Number(nBig);
  const headerLen = 8 * (n + 1);
  if (buf.length < headerLen) throw new FramingError('v1 frame shorter than its offsets');
  const offsets: number[] = [];
  for (let i = 1; i <= n; i++) {
    const o = buf.readBigUInt64LE(8 * i);
    if (o > BigInt(buf.length)) throw new FramingError('bad offsets in v1 frame');
    offsets.push(Number(o));
  }
  checkOffsets(offsets, headerLen, buf.length);
  if (offsets[n - 1] !== buf.length)
    throw new FramingError('v1 frame: the last offset must be the frame length');
  const part = (i: number) => buf.subarray(offsets[i], offsets[i + 1]);
  const channel = part(0).toString('utf8');
  const value = {
    channel,
    header: parseJson(part(1), 'header'),
    parent_header: parseJson(part(2), 'parent_header'),
    metadata: parseJson(part(3), 'metadata'),
    content: parseJson(part(4), 'content'),
  };
  const buffers: Buffer[] = [];
  for (let i = 5; i < n - 1; i++) buffers.push(Buffer.from(part(i)));
  return toWireMessage(value, buffers);
}

/** Decodes one websocket frame from a client. Throws FramingError with a message fit for the client. */
export function decodeFrame(data: Buffer, isBinary: boolean, protocol: Protocol): WireMessage {
  if (protocol === V1_PROTOCOL) {
    if (!isBinary)
      throw new FramingError('the v1.kernel.websocket.jupyter.org protocol takes binary frames only');
    return decodeV1(data);
  }
  if (isBinary) return decodeLegacyBinary(data);
  const json = parseJson(data, 'the message');
  if (isObj(json)) {
    if (Array.isArray(json.buffers) && json.buffers.length > 0)
      throw new FramingError('buffers in a JSON text frame are not supported: use the binary framing');
    delete json.buffers;
  }
  return toWireMessage(json, []);
}

export interface OutMessage {
  channel: string;
  header: object;
  parent_header: object;
  metadata: object;
  content: object;
  buffers: readonly Buffer[];
}

/** Legacy framing: JSON text, or the binary framing when there are buffers. */
export function encodeLegacy(msg: OutMessage): string | Buffer {
  const { buffers, ...rest } = msg;
  if (buffers.length === 0) return JSON.stringify({ ...rest, buffers: [] });
  const json = Buffer.from(JSON.stringify(rest));
  const parts = [json, ...buffers];
  const n = parts.length;
  const head = Buffer.alloc(4 * (n + 1));
  head.writeUInt32BE(n, 0);
  let offset = head.length;
  parts.forEach((p, i) => {
    head.writeUInt32BE(offset, 4 * (i + 1));
    offset += p.length;
  });
  return Buffer.concat([head, ...parts]);
}

export function encodeV1(msg: OutMessage): Buffer {
  const parts = [
    Buffer.from(msg.channel),
    Buffer.from(JSON.stringify(msg.header)),
    Buffer.from(JSON.stringify(msg.parent_header ?? {})),
    Buffer.from(JSON.stringify(msg.metadata)),
    Buffer.from(JSON.stringify(msg.content)),
    ...msg.buffers,
  ];
  // Offsets: the start of every part, then the end of the frame.
  const n = parts.length + 1;
  const head = Buffer.alloc(8 * (n + 1));
  head.writeBigUInt64LE(BigInt(n), 0);
  let offset = head.length;
  for (let i = 0; i < parts.length; i++) {
    head.writeBigUInt64LE(BigInt(offset), 8 * (i + 1));
    offset += parts[i]?.length ?? 0;
  }
  head.writeBigUInt64LE(BigInt(offset), 8 * n);
  return Buffer.concat([head, ...parts]);
}

export function encodeFrame(msg: OutMessage, protocol: Protocol): string | Buffer {
  return protocol === V1_PROTOCOL ? encodeV1(msg) : encodeLegacy(msg);
}

// ---- encoding for a given client ------------------------------------------------------------------

/** The message as `sid` sees it: its own header restored as parent when it asked. */
export function view(o: Outgoing, sid: string): OutMessage {
  const own = o.origin?.sid === sid;
  return {
    channel: o.channel,
    header: o.header,
    parent_header: own && o.origin ? o.origin.header : o.parent_header,
    metadata: o.metadata,
    content: o.content,
    buffers: o.buffers,
  };
}

/** Websocket frame for this client, cached per (own parent or not, framing). */
export function frameFor(o: Outgoing, sid: string, protocol: Protocol): string | Buffer {
  const own = o.origin?.sid === sid;
  const key = `${own ? 1 : 0}${protocol === V1_PROTOCOL ? 'v1' : ''}`;
  o.cache ??= new Map();
  let f = o.cache.get(key);
  if (f === undefined) {
    f = encodeFrame(view(o, sid), protocol);
    o.cache.set(key, f);
  }
  return f;
}

/** Long-poll JSON for this client (buffers base64), cached per variant. */
export function jsonFor(e: LogEntry<Outgoing>, sid: string): string {
  const o = e.value;
  const own = o.origin?.sid === sid;
  const key = own ? 'j1' : 'j0';
  o.cache ??= new Map();
  let f = o.cache.get(key);
  if (typeof f !== 'string') {
    const v = view(o, sid);
    f = JSON.stringify({ seq: e.seq, ...v, buffers: v.buffers.map((b) => b.toString('base64')) });
    o.cache.set(key, f);
  }
  return f;
}
