// Jupyter wire protocol: frames, HMAC signatures, parsing.
// Spec: https://jupyter-client.readthedocs.io/en/latest/messaging.html#the-wire-protocol
//   [identities..., b'<IDS|MSG>', signature, header, parent_header, metadata, content, buffers...]
import { createHmac, randomUUID, timingSafeEqual } from 'node:crypto';
import { WireError } from './errors.js';
import { type Header, type JsonObject, type Message, PROTOCOL_VERSION } from './messages.js';

export { WireError };

export const DELIMITER = Buffer.from('<IDS|MSG>');
const DIGEST_HISTORY = 65_536;

/** Drops keys that could reach an object's prototype if a consumer ever merged the object. */
function safeReviver(key: string, value: unknown): unknown {
  return key === '__proto__' ? undefined : value;
}

const isObject = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);

export function newHeader(msgType: string, session: string, username = 'runcell'): Header {
  return {
    msg_id: randomUUID(),
    session,
    username,
    date: new Date().toISOString(),
    msg_type: msgType,
    version: PROTOCOL_VERSION,
  };
}

/** Signs and verifies frames with one kernel's key; remembers recent digests to refuse replays. */
export class Signer {
  readonly #key: Buffer;
  readonly #seen = new Set<string>();
  readonly #order: string[] = [];
  #next = 0;
  /** Messages dropped because their signature did not verify, or was a replay. */
  rejected = 0;

  constructor(key: string) {
    this.#key = Buffer.from(key, 'utf8');
  }

  sign(parts: readonly Buffer[]): string {
    if (this.#key.length === 0) return '';
    const h = createHmac('sha256', this.#key);
    for (const p of parts) h.update(p);
    return h.digest('hex');
  }

  /** Serializes a message to frames (identities first). Keys and values are written as given. */
  serialize(msg: Message, identities: readonly Buffer[] = []): Buffer[] {
    const parts = [msg.header, msg.parent_header, msg.metadata, msg.content].map((p) =>
      Buffer.from(JSON.stringify(p)),
    );
    return [...identities, DELIMITER, Buffer.from(this.sign(parts)), ...parts, ...msg.buffers];
  }

  /**
   * Verifies and parses frames from a kernel. Throws WireError for anything malformed, badly
   * signed or replayed; the caller drops the message and counts it.
   */
  parse(frames: readonly Buffer[]): { identities: Buffer[]; message: Message } {
    const at = frames.findIndex((f) => f.equals(DELIMITER));
    if (at < 0) throw new WireError('no <IDS|MSG> delimiter', 'malformed');
    if (frames.length < at + 6) throw new WireError('too few frames', 'malformed');
    const signature = frames[at + 1] as Buffer;
    const parts = frames.slice(at + 2, at + 6);
    if (this.#key.length > 0) {
      const expected = Buffer.from(this.sign(parts));
      if (signature.length !== expected.length || !timingSafeEqual(signature, expected)) {
        this.rejected++;
        throw new WireError('bad signature', 'signature');
      }
      const digest = signature.toString('latin1');
      if (this.#seen.has(digest)) {
        this.rejected++;
        throw new WireError('replayed signature', 'replay');
      }
      this.#remember(digest);
    }
    const [header, parent, metadata, content] = parts.map((p) => {
      try {
        return JSON.parse(p.toString('utf8'), safeReviver) as unknown;
      } catch {
        throw new WireError('invalid JSON part', 'malformed');
      }
    });
    if (!isHeader(header)) throw new WireError('invalid header', 'malformed');
    if (!isObject(parent) || !isObject(metadata) || !isObject(content)) {
      throw new WireError('parent_header, metadata and content must be objects', 'malformed');
    }
    return {
      identities: frames.slice(0, at) as Buffer[],
      message: {
        header,
        parent_header: parent as Partial<Header>,
        metadata,
        content,
        buffers: frames.slice(at + 6) as Buffer[],
      },
    };
  }

  #remember(digest: string): void {
    if (this.#order.length < DIGEST_HISTORY) {
      this.#order.push(digest);
    } else {
      const old = this.#order[this.#next] as string;
      this.#seen.delete(old);
      this.#order[this.#next] = digest;
      this.#next = (this.#next + 1) % DIGEST_HISTORY;
    }
    this.#seen.add(digest);
  }
}

export function isHeader(v: unknown): v is Header {
  if (!isObject(v)) return false;
  return (
    typeof v.msg_id === 'string' &&
    typeof v.msg_type === 'string' &&
    typeof v.session === 'string' &&
    (v.username === undefined || typeof v.username === 'string') &&
    (v.date === undefined || typeof v.date === 'string') &&
    (v.version === undefined || typeof v.version === 'string')
  );
}
