import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Message } from '../../kernel-manager/messages.js';
import { DELIMITER, newHeader, Signer, WireError } from '../../kernel-manager/wire.js';

const json = fc.dictionary(fc.string({ maxLength: 8 }), fc.jsonValue({ maxDepth: 2 }), { maxKeys: 5 });
const message = fc.record({
  msgType: fc.constantFrom('execute_request', 'stream', 'status', 'comm_msg'),
  session: fc.uuid(),
  content: json,
  metadata: json,
  buffers: fc.array(fc.uint8Array({ maxLength: 32 }), { maxLength: 3 }),
  identities: fc.array(fc.uint8Array({ minLength: 1, maxLength: 8 }), { maxLength: 2 }),
});

type Generated = typeof message extends fc.Arbitrary<infer T> ? T : never;

function build(m: Generated): { msg: Message; ids: Buffer[] } {
  const msg: Message = {
    header: newHeader(m.msgType, m.session),
    parent_header: {},
    metadata: m.metadata,
    content: m.content,
    buffers: m.buffers.map((b) => Buffer.from(b)),
  };
  return { msg, ids: m.identities.map((b) => Buffer.from(b)).filter((b) => !b.equals(DELIMITER)) };
}

describe('wire', () => {
  it('round-trips any message through serialize and parse', () => {
    fc.assert(
      fc.property(message, (m) => {
        const { msg, ids } = build(m);
        const tx = new Signer('k3y');
        const rx = new Signer('k3y');
        const { identities, message: back } = rx.parse(tx.serialize(msg, ids));
        expect(identities).toEqual(ids);
        expect(back.header).toEqual(msg.header);
        // Everything survives except `__proto__` keys, which parsing drops on purpose (see below).
        const expected = JSON.parse(JSON.stringify(msg.content), (k, v) =>
          k === '__proto__' ? undefined : v,
        );
        expect(back.content).toEqual(expected);
        expect(back.buffers.map((b) => [...b])).toEqual(msg.buffers.map((b) => [...b]));
      }),
    );
  });

  it('rejects any single flipped byte in the signed parts or the signature', () => {
    fc.assert(
      fc.property(message, fc.nat(), fc.integer({ min: 1, max: 255 }), (m, pos, xor) => {
        const { msg } = build(m);
        const frames = new Signer('k3y').serialize(msg);
        const at = frames.findIndex((f) => f.equals(DELIMITER));
        const signedFrames = frames.slice(at + 1, at + 6);
        const total = signedFrames.reduce((n, f) => n + f.length, 0);
        let p = pos % total;
        const target = signedFrames.find((f) => {
          if (p < f.length) return true;
          p -= f.length;
          return false;
        }) as Buffer;
        target[p] = (target[p] as number) ^ xor;
        const rx = new Signer('k3y');
        expect(() => rx.parse(frames)).toThrow(WireError);
      }),
    );
  });

  it('rejects a message signed with another key and counts it', () => {
    const msg: Message = {
      header: newHeader('status', 's'),
      parent_header: {},
      metadata: {},
      content: {},
      buffers: [],
    };
    const rx = new Signer('right');
    expect(() => rx.parse(new Signer('wrong').serialize(msg))).toThrow(/bad signature/);
    expect(rx.rejected).toBe(1);
  });

  it('rejects a replayed message', () => {
    const msg: Message = {
      header: newHeader('status', 's'),
      parent_header: {},
      metadata: {},
      content: {},
      buffers: [],
    };
    const frames = new Signer('k').serialize(msg);
    const rx = new Signer('k');
    rx.parse(frames);
    expect(() => rx.parse(frames)).toThrow(/replayed/);
    expect(rx.rejected).toBe(1);
  });

  it('rejects malformed frames without throwing anything but WireError', () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ maxLength: 40 }), { maxLength: 8 }), (raw) => {
        const frames = raw.map((b) => Buffer.from(b));
        try {
          new Signer('').parse(frames);
        } catch (e) {
          expect(e).toBeInstanceOf(WireError);
        }
      }),
    );
    const s = new Signer('');
    const ok = s.serialize({
      header: newHeader('x', 's'),
      parent_header: {},
      metadata: {},
      content: {},
      buffers: [],
    });
    const badJson = [...ok];
    badJson[3] = Buffer.from('{not json');
    expect(() => s.parse(badJson)).toThrow(/invalid JSON/);
    const arrayContent = [...ok];
    arrayContent[5] = Buffer.from('[1,2]');
    expect(() => s.parse(arrayContent)).toThrow(/must be objects/);
    const noHeader = [...ok];
    noHeader[2] = Buffer.from('{"msg_id": 5}');
    expect(() => s.parse(noHeader)).toThrow(/invalid header/);
  });

  it('drops __proto__ keys so parsed content cannot pollute prototypes when merged', () => {
    const s = new Signer('k');
    const frames = s.serialize({
      header: newHeader('x', 's'),
      parent_header: {},
      metadata: {},
      content: {},
      buffers: [],
    });
    frames[5] = Buffer.from('{"__proto__": {"polluted": true}, "a": {"__proto__": {"polluted": true}}}');
    frames[1] = Buffer.from(s.sign(frames.slice(2, 6)));
    const { message } = new Signer('k').parse(frames);
    const merged = Object.assign({}, message.content, message.content.a as object);
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    expect((merged as Record<string, unknown>).polluted).toBeUndefined();
  });
});
