// Content-addressed data in the database, in chunks: a blob is written while pending (sha256
// null), then sealed with the sha256 of its bytes; sealing content that already exists keeps the
// existing blob and drops the new copy. Files (what a kernel wrote) are named references to blobs
// with unguessable ids; uploads (uploads.ts) write into pending blobs the same way.
import { createHash, randomBytes } from 'node:crypto';
import type { Sql } from './types.js';

/** A transaction or the pool: both run tagged queries. */
export type Tx = Pick<Sql, 'unsafe'> &
  (<T extends readonly object[]>(s: TemplateStringsArray, ...v: unknown[]) => Promise<T>);

export interface BlobRef {
  id: number;
  sha256: string;
  size: number;
}

export interface FileInfo {
  id: string;
  name: string;
  mediaType: string;
  sha256: string;
  size: number;
  kernelId: string | null;
  createdAt: Date;
}

export interface PutFile {
  name: string;
  mediaType: string;
  data: Uint8Array | AsyncIterable<Uint8Array>;
  kernelId?: string | null;
}

export interface Blobs {
  /** A new, empty pending blob. */
  create(): Promise<number>;
  /** Writes one chunk (at most chunkBytes) at `offset` of a pending blob. */
  append(blobId: number, offset: number, data: Uint8Array, tx?: Tx): Promise<void>;
  /** Drops chunks at or past `offset` (what an interrupted write left beyond the committed end). */
  truncate(blobId: number, offset: number, tx?: Tx): Promise<void>;
  /**
   * Hashes a pending blob and seals it; returns the existing blob instead when the content is known.
   * `known` skips the re-read when the writer hashed the committed bytes as they went in.
   */
  seal(blobId: number, tx: Tx, known?: { sha256: string; size: number }): Promise<BlobRef>;
  /** Bytes [start, end] (inclusive) of a blob, chunk by chunk. */
  read(blobId: number, start?: number, end?: number): AsyncGenerator<Buffer>;
  /** Stores data (buffer or stream) and returns its sealed blob. */
  put(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<BlobRef>;
}

export interface Files {
  readonly blobs: Blobs;
  put(file: PutFile): Promise<FileInfo>;
  get(id: string): Promise<FileInfo | null>;
  /** The file's bytes [start, end] (inclusive; defaults: the whole file). */
  read(id: string, start?: number, end?: number): AsyncGenerator<Buffer>;
}

export interface FilesOptions {
  chunkBytes: number;
}

/** 128 bits from the CSPRNG, base64url: 22 characters. */
export function newFileId(): string {
  return randomBytes(16).toString('base64url');
}

const fileIdPattern = /^[A-Za-z0-9_-]{22}$/;
export function isFileId(id: string): boolean {
  return fileIdPattern.test(id);
}

interface ChunkRow {
  offset: number;
  size: number;
  data: Buffer;
}

interface BlobsInternal extends Blobs {
  write(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<number>;
  sealed<T>(pending: number, then: (tx: Tx, ref: BlobRef) => Promise<T>): Promise<BlobRef & { result: T }>;
}

export function createBlobs(sql: Sql, { chunkBytes }: FilesOptions): BlobsInternal {
  const q = sql as unknown as Tx;
  /** Chunks of a blob from `from` on, a few per round trip so memory stays bounded. */
  async function* chunks(blobId: number, from: number, to: number, db: Tx = q): AsyncGenerator<ChunkRow> {
    // A chunk holding `from` starts at most chunkBytes - 1 before it.
    let lo = Math.max(0, from - chunkBytes + 1);
    for (;;) {
      const rows = await db<ChunkRow[]>`
        select "offset", size, data from blob_chunks
        where blob_id = ${blobId} and "offset" >= ${lo} and "offset" <= ${to}
        order by "offset" limit 4`;
      for (const r of rows) yield r;
      const last = rows.at(-1);
      if (rows.length < 4 || !last) return;
      lo = last.offset + 1;
    }
  }

  const blobs: Blobs = {
    async create() {
      const [row] = await q<{ id: number }[]>`insert into blobs default values returning id`;
      if (!row) throw new Error('insert returned no row');
      return row.id;
    },
    async append(blobId, offset, data, tx = q) {
      if (data.byteLength > chunkBytes) throw new RangeError('chunk larger than chunkBytes');
      const buf = Buffer.from(data.buffer, data.byteOffset, data.byteLength);
      await tx`insert into blob_chunks (blob_id, "offset", size, data)
               values (${blobId}, ${offset}, ${buf.byteLength}, ${buf})`;
    },
    async truncate(blobId, offset, tx = q) {
      await tx`delete from blob_chunks where blob_id = ${blobId} and "offset" >= ${offset}`;
    },
    async seal(blobId, tx, known) {
      let { sha256, size } = known ?? { sha256: '', size: 0 };
      if (!known) {
        const hash = createHash('sha256');
        // Read through the transaction: on PGlite the pool has a single connection, which it holds.
        for await (const c of chunks(blobId, 0, Number.MAX_SAFE_INTEGER, tx)) {
          if (c.offset !== size) throw new Error(`blob ${blobId} has a gap at ${size}`);
          hash.update(c.data);
          size += c.size;
        }
        sha256 = hash.digest('hex');
      }
      // Serialise sealers of the same content so exactly one blob ends up holding it.
      await tx`select pg_advisory_xact_lock(hashtextextended(${sha256}, 0))`;
      // "for key share" holds the existing blob against retention until the caller references it.
      const [existing] = await tx<{ id: number; size: number }[]>`
        select id, size from blobs where sha256 = ${sha256} for key share`;
      if (existing) return { id: existing.id, sha256, size: existing.size };
      await tx`update blobs set sha256 = ${sha256}, size = ${size} where id = ${blobId}`;
      return { id: blobId, sha256, size };
    },
    async *read(blobId, start = 0, end = Number.MAX_SAFE_INTEGER) {
      for await (const c of chunks(blobId, start, end)) {
        const from = Math.max(start - c.offset, 0);
        const to = Math.min(end - c.offset + 1, c.size);
        if (to > from) yield from === 0 && to === c.size ? c.data : c.data.subarray(from, to);
      }
    },
    async put(data) {
      return sealed(await write(data), async () => {});
    },
  };

  /** Writes data into a new pending blob; returns its id. */
  async function write(data: Uint8Array | AsyncIterable<Uint8Array>): Promise<number> {
    const pending = await blobs.create();
    try {
      let offset = 0;
      for await (const chunk of rechunk(data, chunkBytes)) {
        await blobs.append(pending, offset, chunk);
        offset += chunk.byteLength;
      }
      return pending;
    } catch (err) {
      await q`delete from blobs where id = ${pending}`.catch(() => {});
      throw err;
    }
  }

  /** Seals a pending blob and, in the same transaction, runs `then` (which references the result). */
  async function sealed<T>(
    pending: number,
    then: (tx: Tx, ref: BlobRef) => Promise<T>,
  ): Promise<BlobRef & { result: T }> {
    try {
      return (await sql.begin(async (t) => {
        const tx = t as unknown as Tx;
        const ref = await blobs.seal(pending, tx);
        if (ref.id !== pending) await tx`delete from blobs where id = ${pending}`;
        const result = await then(tx, ref);
        return { ...ref, result };
      })) as BlobRef & { result: T };
    } catch (err) {
      await q`delete from blobs where id = ${pending} and sha256 is null`.catch(() => {});
      throw err;
    }
  }
  return Object.assign(blobs, { write, sealed });
}

/** Turns a buffer or a stream of arbitrary pieces into chunks of exactly `size` bytes (the last shorter). */
export async function* rechunk(
  data: Uint8Array | AsyncIterable<Uint8Array>,
  size: number,
): AsyncGenerator<Buffer> {
  if (data instanceof Uint8Array) {
    for (let i = 0; i < data.byteLength; i += size) yield Buffer.from(data.subarray(i, i + size));
    return;
  }
  let parts: Buffer[] = [];
  let held = 0;
  for await (const piece of data) {
    let p = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
    while (held + p.byteLength >= size) {
      const take = size - held;
      parts.push(p.subarray(0, take));
      yield Buffer.concat(parts);
      parts = [];
      held = 0;
      p = p.subarray(take);
    }
    if (p.byteLength) {
      parts.push(Buffer.from(p));
      held += p.byteLength;
    }
  }
  if (held) yield Buffer.concat(parts);
}

interface FileRow {
  id: string;
  name: string;
  media_type: string;
  sha256: string;
  size: number;
  kernel_id: string | null;
  created_at: Date;
  blob_id: number;
}

function toInfo(r: FileRow): FileInfo {
  return {
    id: r.id,
    name: r.name,
    mediaType: r.media_type,
    sha256: r.sha256,
    size: r.size,
    kernelId: r.kernel_id,
    createdAt: r.created_at,
  };
}

export function createFiles(sql: Sql, options: FilesOptions): Files {
  const q = sql as unknown as Tx;
  const blobs = createBlobs(sql, options);
  async function row(id: string): Promise<FileRow | null> {
    if (!isFileId(id)) return null;
    const [r] = await q<FileRow[]>`
      select f.id, f.name, f.media_type, b.sha256, b.size, f.kernel_id, f.created_at, f.blob_id
      from files f join blobs b on b.id = f.blob_id where f.id = ${id}`;
    return r ?? null;
  }
  return {
    blobs,
    async put(file) {
      const pending = await blobs.write(file.data);
      const id = newFileId();
      // The file row goes in with the seal, so retention never sees the blob unreferenced.
      const { result: r } = await blobs.sealed(pending, async (tx, ref) => {
        const [r] = await tx<FileRow[]>`
          insert into files (id, blob_id, name, media_type, kernel_id)
          values (${id}, ${ref.id}, ${file.name}, ${file.mediaType}, ${file.kernelId ?? null})
          returning id, name, media_type, ${ref.sha256}::text as sha256, ${ref.size}::int8 as size,
                    kernel_id, created_at, blob_id`;
        return r;
      });
      if (!r) throw new Error('insert returned no row');
      return toInfo(r);
    },
    async get(id) {
      const r = await row(id);
      return r && toInfo(r);
    },
    async *read(id, start, end) {
      const r = await row(id);
      if (!r) return;
      yield* blobs.read(r.blob_id, start, end);
    },
  };
}
