// Framings against @jupyterlab/services' own serializer (the client's ground truth), round trips
// (fast-check), and hostile frames.
import { deserialize, serialize } from '@jupyterlab/services/lib/kernel/serialize.js';
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  decodeFrame,
  encodeLegacy,
  encodeV1,
  FramingError,
  type OutMessage,
  V1_PROTOCOL,
} from '../../../server/bridge/framing.js';
import type { Json } from '../helpers.js';

const jsonObj = fc.dictionary(
  fc.string({ maxLength: 8 }).filter((k) => k !== '__proto__'),
  fc.oneof(fc.string(), fc.integer(), fc.boolean(), fc.constant(null)),
  { maxKeys: 5 },
);
const message = fc.record({
  channel: fc.constantFrom('shell', 'iopub', 'stdin', 'control'),
  header: fc.record({
    msg_id: fc.uuid(),
    msg_type: fc.constantFrom('execute_request', 'comm_msg', 'stream'),
    session: fc.uuid(),
    username: fc.string({ maxLength: 10 }),
    version: fc.constant('5.3'),
    date: fc.constant('2024-01-01T00:00:00Z'),
  }),
  parent_header: jsonObj,
  metadata: jsonObj,
  content: jsonObj,
  buffers: fc
    .array(fc.uint8Array({ maxLength: 64 }), { maxLength: 3 })
    .map((bs) => bs.map((b) => Buffer.from(b))),
});

const toArrayBuffer = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;
const asBuffer = (x: string | ArrayBuffer) =>
  typeof x === 'string' ? Buffer.from(x) : Buffer.from(new Uint8Array(x));
const strip = (m: Json) => ({
  ...m,
  buffers: (m.buffers ?? []).map((b: Json) => Buffer.from(b.buffer ?? b)),
});

describe('framing', () => {
  it('decodes what @jupyterlab/services sends, in both protocols', () => {
    fc.assert(
      fc.property(message, (m) => {
        for (const protocol of ['', V1_PROTOCOL] as const) {
          const wire = serialize(
            { ...m, buffers: m.buffers.map((b) => new DataView(toArrayBuffer(b))) } as Json,
            protocol,
          );
          const decoded = decodeFrame(asBuffer(wire), typeof wire !== 'string', protocol);
          expect(decoded.channel).toBe(m.channel);
          expect(decoded.header).toEqual(m.header);
          expect(decoded.content).toEqual(m.content);
          expect(decoded.metadata).toEqual(m.metadata);
          expect(decoded.buffers.map((b) => [...b])).toEqual(m.buffers.map((b) => [...b]));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('encodes what @jupyterlab/services can read, in both protocols', () => {
    fc.assert(
      fc.property(message, (m: OutMessage) => {
        const legacy = encodeLegacy(m);
        const wire = (typeof legacy === 'string' ? legacy : toArrayBuffer(legacy)) as ArrayBuffer;
        const fromLegacy = deserialize(wire, '') as Json;
        const fromV1 = deserialize(toArrayBuffer(encodeV1(m)), V1_PROTOCOL) as Json;
        for (const d of [fromLegacy, fromV1]) {
          expect(d.channel).toBe(m.channel);
          expect(d.header).toEqual(m.header);
          expect(d.parent_header).toEqual(m.parent_header);
          expect(d.content).toEqual(m.content);
          expect(strip(d).buffers.map((b: Buffer) => [...b])).toEqual(m.buffers.map((b) => [...b]));
        }
      }),
      { numRuns: 200 },
    );
  });

  it('never throws anything but FramingError on arbitrary bytes', () => {
    fc.assert(
      fc.property(
        fc.uint8Array({ maxLength: 256 }),
        fc.boolean(),
        fc.constantFrom('', V1_PROTOCOL),
        (bytes, bin, p) => {
          try {
            decodeFrame(Buffer.from(bytes), bin, p as '' | typeof V1_PROTOCOL);
          } catch (e) {
            expect(e).toBeInstanceOf(FramingError);
          }
        },
      ),
      { numRuns: 2000 },
    );
  });

  it('rejects lying offsets, missing parts and text frames in v1', () => {
    const ok = encodeV1({
      channel: 'shell',
      header: { msg_id: 'a', msg_type: 'x' },
      parent_header: {},
      metadata: {},
      content: {},
      buffers: [],
    });
    const huge = Buffer.from(ok);
    huge.writeBigUInt64LE(2n ** 40n, 8 * 3);
    expect(() => decodeFrame(huge, true, V1_PROTOCOL)).toThrow(/offsets/);
    const count = Buffer.from(ok);
    count.writeBigUInt64LE(10_000n, 0);
    expect(() => decodeFrame(count, true, V1_PROTOCOL)).toThrow(/offsets/);
    expect(() => decodeFrame(Buffer.from('{}'), false, V1_PROTOCOL)).toThrow(/binary frames only/);
    const legacy = Buffer.alloc(8);
    legacy.writeUInt32BE(0, 0);
    expect(() => decodeFrame(legacy, true, '')).toThrow(/parts/);
  });

  it('keeps prototype-polluting keys inert', () => {
    const raw =
      '{"channel":"shell","header":{"msg_id":"1","msg_type":"kernel_info_request"},"content":{"__proto__":{"polluted":1}}}';
    const m = decodeFrame(Buffer.from(raw), false, '');
    expect(({} as Json).polluted).toBeUndefined();
    expect(Object.getPrototypeOf(m.content)).toBe(Object.prototype);
  });
});
