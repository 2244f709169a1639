// Jupyter Server's legacy binary websocket frame, server -> page (server/bridge/framing.ts
// encodeLegacy, after jupyter_server's serialize_binary_message): uint32 BE count n, n uint32 BE
// offsets, the JSON message, then the message's buffers (widget values: images, arrays). Untrusted:
// anything malformed is dropped (undefined), never thrown.
import type { Message } from '../messages.js';

/** At most this many parts (the JSON message and its buffers), as the server allows. */
const MAX_PARTS = 17;

export function decodeBinaryFrame(data: ArrayBuffer): Message | undefined {
  if (data.byteLength < 8) return undefined;
  const view = new DataView(data);
  const n = view.getUint32(0);
  if (n < 1 || n > MAX_PARTS || data.byteLength < 4 * (n + 1)) return undefined;
  const offsets: number[] = [];
  for (let i = 1; i <= n; i++) offsets.push(view.getUint32(4 * i));
  for (let i = 0; i < n; i++) {
    const start = offsets[i] as number;
    const end = offsets[i + 1] ?? data.byteLength;
    if (start < 4 * (n + 1) || end < start || end > data.byteLength) return undefined;
  }
  const part = (i: number) => data.slice(offsets[i] as number, offsets[i + 1] ?? data.byteLength);
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder().decode(part(0)));
  } catch {
    return undefined;
  }
  if (typeof m !== 'object' || m === null || Array.isArray(m)) return undefined;
  const msg = m as Message;
  msg.buffers = Array.from({ length: n - 1 }, (_, i) => part(i + 1));
  return msg;
}
