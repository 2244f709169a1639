import { deflateRawSync } from 'node:zlib';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Store } from '../../../server/store/db.js';
import {
  decodeInline,
  encodeInline,
  isPermalinkId,
  limits,
  permalinkId,
} from '../../../server/store/permalinks.js';
import { backends, type TestDb } from './helpers.js';

describe('permalink ids and the code-in-URL form', () => {
  it('derives 96-bit base64url ids from content and a secret salt', () => {
    const a = permalinkId('salt-a', { code: 'x=1', kernel: 'python3' });
    expect(a).toMatch(/^[A-Za-z0-9_-]{16}$/);
    expect(isPermalinkId(a)).toBe(true);
    expect(permalinkId('salt-a', { code: 'x=1', kernel: 'python3' })).toBe(a);
    expect(permalinkId('salt-b', { code: 'x=1', kernel: 'python3' })).not.toBe(a);
    expect(permalinkId('salt-a', { code: 'x=1', kernel: 'ir' })).not.toBe(a);
    expect(permalinkId('salt-a', { code: 'x=1', kernel: 'python3', outputs: [] })).not.toBe(a);
  });

  it('round-trips any code through the URL form', () => {
    fc.assert(
      fc.property(
        fc.string({ maxLength: 2000, unit: 'grapheme' }),
        fc.constantFrom('python3', 'ir', 'julia-1.9'),
        (code, kernel) => {
          expect(decodeInline(encodeInline({ code, kernel }))).toEqual({ code, kernel });
        },
      ),
    );
  });

  it('refuses decompression bombs and garbage', () => {
    const bomb = deflateRawSync(
      Buffer.from(JSON.stringify({ kernel: 'python3', code: 'a'.repeat(1024 * 1024) })),
    );
    const data = bomb.toString('base64url');
    expect(data.length).toBeLessThan(limits.maxInlineChars);
    expect(() => decodeInline(data)).toThrow(
      expect.objectContaining({ code: 'RUNCELL_ERR_PERMALINK_TOO_LARGE', statusCode: 413 }),
    );
    expect(() => decodeInline('A'.repeat(limits.maxInlineChars + 1))).toThrow(
      expect.objectContaining({ statusCode: 413 }),
    );
    expect(() => decodeInline('not*base64')).toThrow(
      expect.objectContaining({ code: 'RUNCELL_ERR_INLINE_CODE_INVALID' }),
    );
    expect(() => decodeInline('AAAA')).toThrow(
      expect.objectContaining({ code: 'RUNCELL_ERR_INLINE_CODE_INVALID' }),
    );
    const wrong = deflateRawSync(Buffer.from(JSON.stringify({ kernel: '../x', code: '' }))).toString(
      'base64url',
    );
    expect(() => decodeInline(wrong)).toThrow(
      expect.objectContaining({ code: 'RUNCELL_ERR_INLINE_CODE_INVALID' }),
    );
    fc.assert(
      fc.property(fc.string({ maxLength: 300 }), (s) => {
        try {
          decodeInline(s);
        } catch (err) {
          expect((err as { statusCode: number }).statusCode).toBeGreaterThanOrEqual(400);
          expect((err as { statusCode: number }).statusCode).toBeLessThan(500);
        }
      }),
    );
  });
});

describe.each(backends)('permalinks on $name', (backend) => {
  let db: TestDb;
  let store: Store;
  beforeAll(async () => {
    db = await backend.create();
    store = await db.open();
  });
  afterAll(async () => {
    await store?.close();
    await db?.cleanup();
  });

  it('round-trips code, kernel and outputs', async () => {
    const outputs = [{ output_type: 'stream', name: 'stdout', text: 'hi\u0000\n' }];
    const p = await store.permalinks.create({ code: 'print("hi")', kernel: 'python3', outputs });
    expect(await store.permalinks.get(p.id)).toEqual({
      id: p.id,
      code: 'print("hi")',
      kernel: 'python3',
      created: p.created,
      outputs: [{ output_type: 'stream', name: 'stdout', text: 'hi\uFFFD\n' }],
      files: [],
    });
    expect(await store.permalinks.get('AAAAAAAAAAAAAAAA')).toBeNull();
    expect(await store.permalinks.get('../../etc/passwd')).toBeNull();
  });

  it('gives concurrent creations of the same code one id and one row', async () => {
    const input = { code: `x = ${Math.random()}`, kernel: 'python3' };
    const all = await Promise.all(Array.from({ length: 20 }, () => store.permalinks.create(input)));
    expect(new Set(all.map((p) => p.id)).size).toBe(1);
    expect(new Set(all.map((p) => p.created)).size).toBe(1);
  });

  it('keeps the files a permalink references, and refuses unknown ones', async () => {
    const f = await store.files.put({ name: 'plot.png', mediaType: 'image/png', data: Buffer.from('png') });
    const p = await store.permalinks.create({ code: 'plot()', kernel: 'python3', files: [f.id] });
    expect(p.files).toEqual([f.id]);
    await expect(
      store.permalinks.create({ code: 'plot()', kernel: 'python3', files: ['AAAAAAAAAAAAAAAAAAAAAA'] }),
    ).rejects.toMatchObject({ code: 'RUNCELL_ERR_BAD_REQUEST', statusCode: 400 });
    await expect(store.permalinks.create({ code: 'a\0b', kernel: 'python3' })).rejects.toMatchObject({
      statusCode: 400,
    });
  });
});
