// The page's decoder of Jupyter Server's legacy binary websocket frame, against frames built by the
// server's own encoder (server/bridge/framing.ts encodeLegacy), and hostile bytes.
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { encodeLegacy } from '../../../server/bridge/framing.js';
import { decodeBinaryFrame } from '../../../web/src/transport/binary.js';

const ab = (b: Buffer) => b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength) as ArrayBuffer;

describe('decodeBinaryFrame', () => {
  it('reads the message and its buffers as the server frames them', () => {
    const msg = {
      channel: 'iopub',
      header: { msg_id: 'a', msg_type: 'comm_msg' },
      parent_header: {},
      metadata: {},
      content: { data: { method: 'update', state: {}, buffer_paths: [['value']] } },
      buffers: [Buffer.from([1, 2, 3]), Buffer.from('png bytes')],
    };
    const frame = encodeLegacy(msg as never);
    expect(Buffer.isBuffer(frame)).toBe(true);
    const m = decodeBinaryFrame(ab(frame as Buffer));
    expect(m?.header.msg_id).toBe('a');
    expect(m?.content).toEqual(msg.content);
    expect((m?.buffers ?? []).map((b) => Buffer.from(b as ArrayBuffer).toString('hex'))).toEqual([
      '010203',
      Buffer.from('png bytes').toString('hex'),
    ]);
  });

  it('drops malformed frames instead of throwing', () => {
    expect(decodeBinaryFrame(new ArrayBuffer(3))).toBeUndefined();
    const bad = Buffer.alloc(16);
    bad.writeUInt32BE(2, 0);
    bad.writeUInt32BE(12, 4);
    bad.writeUInt32BE(400, 8);
    expect(decodeBinaryFrame(ab(bad))).toBeUndefined();
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 200 }), (bytes) => {
        const r = decodeBinaryFrame(ab(Buffer.from(bytes)));
        expect(r === undefined || typeof r === 'object').toBe(true);
      }),
    );
  });
});
