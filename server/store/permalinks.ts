// Permalinks: code + kernel (+ outputs and files) kept for good under a short, unguessable id.
// The id is a keyed hash of the content (HMAC-SHA256 with a secret per-database salt, 96 bits,
// base64url), so identical content shares one id, concurrent creations converge on one row, and
// nobody without the salt can derive or enumerate ids. Also here: the code-in-URL form, which
// needs no database at all.
import { createHmac } from 'node:crypto';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { type Static, Type } from 'typebox';
import { BadRequest, InlineCodeInvalidError, PermalinkTooLargeError } from '../errors.js';
import type { Events } from './events.js';
import { toDbJson } from './json.js';
import type { Sql } from './types.js';

export const limits = {
  /** Code in a stored permalink (UTF-8 bytes). */
  maxCodeBytes: 512 * 1024,
  /** Stored outputs, serialised as JSON. */
  maxOutputsBytes: 2 * 1024 * 1024,
  maxFiles: 64,
  /** The code-in-URL form: encoded length in the URL, and the inflated size. */
  maxInlineChars: 8 * 1024,
  maxInlineBytes: 64 * 1024,
} as const;

export const KernelName = Type.String({ pattern: '^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$' });
export const PermalinkId = Type.String({ pattern: '^[A-Za-z0-9_-]{16}$' });

export const PermalinkCreate = Type.Object(
  {
    code: Type.String({ maxLength: limits.maxCodeBytes }),
    kernel: KernelName,
    /** Outputs as the client shows them (Jupyter output objects); stored as given, size-bounded. */
    outputs: Type.Optional(Type.Array(Type.Unknown(), { maxItems: 1000 })),
    /** Ids of files (from /files/:id/:name) that the outputs show; kept as long as the permalink. */
    files: Type.Optional(
      Type.Array(Type.String({ pattern: '^[A-Za-z0-9_-]{22}$' }), { maxItems: limits.maxFiles }),
    ),
  },
  { additionalProperties: false },
);
export type PermalinkCreate = Static<typeof PermalinkCreate>;

export const Permalink = Type.Object({
  id: PermalinkId,
  code: Type.String(),
  kernel: Type.String(),
  created: Type.String({ format: 'date-time' }),
  outputs: Type.Union([Type.Array(Type.Unknown()), Type.Null()]),
  files: Type.Array(Type.String()),
});
export type Permalink = Static<typeof Permalink>;

export const InlineCode = Type.Object(
  { kernel: KernelName, code: Type.String() },
  { additionalProperties: false },
);
export type InlineCode = Static<typeof InlineCode>;

export interface Permalinks {
  /** Creates (or finds: same content, same id) a permalink; resolves once it is committed. */
  create(input: PermalinkCreate): Promise<Permalink>;
  get(id: string): Promise<Permalink | null>;
}

const idPattern = /^[A-Za-z0-9_-]{16}$/;
export function isPermalinkId(id: string): boolean {
  return idPattern.test(id);
}

/** 96 bits of HMAC-SHA256 over a canonical encoding of the content. */
export function permalinkId(salt: string, input: PermalinkCreate): string {
  const canonical = JSON.stringify([
    input.kernel,
    input.code,
    input.outputs ?? null,
    [...(input.files ?? [])].sort(),
  ]);
  return createHmac('sha256', salt).update(canonical).digest().subarray(0, 12).toString('base64url');
}

interface Row {
  id: string;
  kernel: string;
  code: string;
  outputs: unknown[] | null;
  created_at: Date;
  files: string[] | null;
}

const toPermalink = (r: Row): Permalink => ({
  id: r.id,
  code: r.code,
  kernel: r.kernel,
  created: r.created_at.toISOString(),
  outputs: r.outputs,
  files: r.files ?? [],
});

export function createPermalinks(sql: Sql, { salt, events }: { salt: string; events: Events }): Permalinks {
  async function get(id: string): Promise<Permalink | null> {
    if (!isPermalinkId(id)) return null;
    const [r] = await sql<Row[]>`
      select p.id, p.kernel, p.code, p.outputs, p.created_at,
             (select array_agg(file_id order by file_id) from permalink_files where permalink_id = p.id) as files
      from permalinks p where p.id = ${id}`;
    return r ? toPermalink(r) : null;
  }
  return {
    async create(input) {
      if (Buffer.byteLength(input.code) > limits.maxCodeBytes) throw new PermalinkTooLargeError('code');
      if (input.code.includes('\0')) throw new BadRequest('code contains a NUL character');
      const outputsJson = input.outputs === undefined ? null : toDbJson(input.outputs);
      if (outputsJson && Buffer.byteLength(outputsJson) > limits.maxOutputsBytes)
        throw new PermalinkTooLargeError('outputs');
      const id = permalinkId(salt, input);
      const files = [...new Set(input.files ?? [])];
      const created = await sql.begin(async (tx) => {
        const inserted = await tx`
          insert into permalinks (id, kernel, code, outputs)
          values (${id}, ${input.kernel}, ${input.code}, ${outputsJson}::text::jsonb)
          on conflict (id) do nothing returning id`;
        if (inserted.length && files.length) {
          const known = await tx<
            { id: string }[]
          >`select id from files where id = any(${files}::text[]) for key share`;
          if (known.length !== files.length) throw new BadRequest('unknown file id');
          await tx`insert into permalink_files ${tx(files.map((f) => ({ permalink_id: id, file_id: f })))}`;
        }
        return inserted.length > 0;
      });
      if (created) await events.publish('runcell_permalink', { id }).catch(() => {});
      const p = await get(id);
      if (!p) throw new Error('permalink vanished after insert');
      return p;
    },
    get,
  };
}

/** The code-in-URL form: base64url(deflate-raw(JSON {kernel, code})). */
export function encodeInline(input: InlineCode): string {
  const json = JSON.stringify({ kernel: input.kernel, code: input.code });
  const data = deflateRawSync(Buffer.from(json), { level: 9 }).toString('base64url');
  if (data.length > limits.maxInlineChars) throw new PermalinkTooLargeError('too large for a URL');
  return data;
}

const kernelPattern = /^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/;

/**
 * Decodes the code-in-URL form. The encoded length is checked first and inflation stops at
 * maxInlineBytes, so a small URL cannot expand into a large allocation (decompression bomb).
 */
export function decodeInline(data: string): InlineCode {
  if (data.length > limits.maxInlineChars) throw new PermalinkTooLargeError('URL too long');
  if (!/^[A-Za-z0-9_-]+$/.test(data)) throw new InlineCodeInvalidError();
  let json: string;
  try {
    json = inflateRawSync(Buffer.from(data, 'base64url'), {
      maxOutputLength: limits.maxInlineBytes,
    }).toString();
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE')
      throw new PermalinkTooLargeError('inflated code');
    throw new InlineCodeInvalidError({ cause: err });
  }
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch (err) {
    throw new InlineCodeInvalidError({ cause: err });
  }
  const o = v as { kernel?: unknown; code?: unknown };
  if (
    typeof v !== 'object' ||
    v === null ||
    typeof o.kernel !== 'string' ||
    typeof o.code !== 'string' ||
    !kernelPattern.test(o.kernel)
  )
    throw new InlineCodeInvalidError();
  return { kernel: o.kernel, code: o.code };
}
