// Resumable uploads (the storage side of tus 1.0; the HTTP side is routes/uploads.ts). The bytes
// go into a pending blob chunk by chunk; `offset` in the uploads row is what is committed, and it
// advances in the same transaction as each chunk, so an upload cut off halfway resumes from
// exactly what was stored. On the last byte the blob is hashed and sealed (content-addressed).
import { createHash, type Hash, randomBytes } from 'node:crypto';
import {
  UploadBusyError,
  UploadChecksumMismatchError,
  UploadIncompleteError,
  UploadInterruptedError,
  UploadNotFoundError,
  UploadOffsetMismatchError,
  UploadQuotaError,
  UploadTooLargeError,
} from '../errors.js';
import type { BlobRef, Files, Tx } from './blobs.js';
import type { Events } from './events.js';
import { toDbJson } from './json.js';
import type { Sql } from './types.js';

export interface UploadInfo {
  id: string;
  length: number;
  offset: number;
  metadata: Record<string, string>;
  /** Set once the last byte is in. */
  sha256: string | null;
  createdAt: Date;
}

export interface CreateUpload {
  length: number;
  metadata?: Record<string, string>;
  clientHash: string;
  /** Refuse when this client's uploads created within `windowMs` would exceed `maxBytes`. */
  quota?: { maxBytes: number; windowMs: number };
}

export type ChecksumAlgorithm = 'sha1' | 'sha256';

export interface WriteUpload {
  /** Where the client says its bytes start; must equal the committed offset. */
  offset: number;
  body: AsyncIterable<Uint8Array>;
  /** tus checksum extension: the body is committed only if its digest matches. */
  checksum?: { algorithm: ChecksumAlgorithm; digest: Buffer };
}

export interface Uploads {
  create(input: CreateUpload): Promise<UploadInfo>;
  get(id: string): Promise<UploadInfo | null>;
  /** Appends a request body; resolves with the upload as committed (also after a cut-off body). */
  write(id: string, input: WriteUpload): Promise<UploadInfo>;
  /** tus termination. False if there was no such upload. */
  remove(id: string): Promise<boolean>;
  /** A complete upload's bytes, for placing it in a kernel's work dir. */
  read(id: string): Promise<{ info: UploadInfo; data: AsyncGenerator<Buffer> }>;
}

export interface UploadsOptions {
  chunkBytes: number;
  files: Files;
  events: Events;
  /** How long a PATCH waits for another one on the same upload to end before 423. */
  lockWaitMs?: number;
}

const idPattern = /^[A-Za-z0-9_-]{22}$/;

interface Row {
  id: string;
  length: number;
  offset: number;
  metadata: Record<string, string>;
  blob_id: number;
  sha256: string | null;
  created_at: Date;
}

const toInfo = (r: Row): UploadInfo => ({
  id: r.id,
  length: r.length,
  offset: r.offset,
  metadata: r.metadata,
  sha256: r.sha256,
  createdAt: r.created_at,
});

export function createUploads(sql: Sql, options: UploadsOptions): Uploads {
  const q = sql as unknown as Tx;
  const { blobs } = options.files;
  const { chunkBytes } = options;
  const lockWaitMs = options.lockWaitMs ?? 5000;
  /** One writer per upload in this process; the conditional UPDATE guards across processes. */
  const writers = new Map<string, Promise<void>>();
  /**
   * sha256 of each upload's committed bytes, kept between PATCHes handled here, so completing
   * needs no second read of the data. Missing (another instance wrote, restart): seal re-reads.
   */
  const digests = new Map<string, { hash: Hash; offset: number }>();
  const maxDigests = 10_000;

  async function row(id: string): Promise<Row | null> {
    if (!idPattern.test(id)) return null;
    const [r] = await q<Row[]>`
      select u.id, u.length, u."offset", u.metadata, u.blob_id, b.sha256, u.created_at
      from uploads u join blobs b on b.id = u.blob_id where u.id = ${id}`;
    return r ?? null;
  }

  async function lock(id: string): Promise<() => void> {
    const deadline = Date.now() + lockWaitMs;
    for (let held = writers.get(id); held; held = writers.get(id)) {
      const left = deadline - Date.now();
      if (left <= 0) throw new UploadBusyError();
      let t: NodeJS.Timeout | undefined;
      await Promise.race([held, new Promise((r) => (t = setTimeout(r, left)))]);
      clearTimeout(t);
    }
    let release!: () => void;
    writers.set(id, new Promise<void>((r) => (release = r)));
    return () => {
      writers.delete(id);
      release();
    };
  }

  /** Commits one chunk at `at` and, unless a checksum defers it, the new offset with it. */
  async function commitChunk(r: Row, at: number, data: Buffer, advance: boolean): Promise<void> {
    await sql.begin(async (t) => {
      const tx = t as unknown as Tx;
      await blobs.append(r.blob_id, at, data, tx);
      if (!advance) return;
      const moved = await tx`
        update uploads set "offset" = ${at + data.byteLength}, updated_at = now()
        where id = ${r.id} and "offset" = ${at} returning id`;
      if (moved.length !== 1) throw new UploadOffsetMismatchError(at);
    });
  }

  async function complete(r: Row, known?: { sha256: string; size: number }): Promise<BlobRef> {
    digests.delete(r.id);
    const ref = await sql.begin(async (t) => {
      const tx = t as unknown as Tx;
      const ref = await blobs.seal(r.blob_id, tx, known);
      await tx`update uploads set blob_id = ${ref.id}, completed_at = now(), updated_at = now()
               where id = ${r.id}`;
      if (ref.id !== r.blob_id) await tx`delete from blobs where id = ${r.blob_id}`;
      return ref;
    });
    await options.events.publish('runcell_upload', { id: r.id, sha256: ref.sha256 }).catch(() => {});
    return ref as BlobRef;
  }

  const uploads: Uploads = {
    async create({ length, metadata = {}, clientHash, quota }) {
      const id = randomBytes(16).toString('base64url');
      const r = await sql.begin(async (t) => {
        const tx = t as unknown as Tx;
        if (quota) {
          // Serialise one client's creations so concurrent ones cannot overrun the quota together.
          await tx`select pg_advisory_xact_lock(hashtextextended(${clientHash}, 7))`;
          const [used] = await tx<{ bytes: number }[]>`
            select coalesce(sum(length), 0)::int8 as bytes from uploads
            where client_hash = ${clientHash} and created_at > now() - ${`${quota.windowMs} milliseconds`}::interval`;
          if ((used?.bytes ?? 0) + length > quota.maxBytes) throw new UploadQuotaError();
        }
        const [blob] = await tx<{ id: number }[]>`insert into blobs default values returning id`;
        const [r] = await tx<Row[]>`
          insert into uploads (id, length, metadata, client_hash, blob_id)
          values (${id}, ${length}, ${toDbJson(metadata)}::text::jsonb, ${clientHash}, ${blob?.id ?? null})
          returning id, length, "offset", metadata, blob_id, null::text as sha256, created_at`;
        return r;
      });
      if (!r) throw new Error('insert returned no row');
      const info = toInfo(r as Row);
      // A zero-length upload is complete on creation (tus: Upload-Length 0 is valid).
      if (length === 0) info.sha256 = (await complete(r as Row)).sha256;
      return info;
    },

    async get(id) {
      const r = await row(id);
      return r && toInfo(r);
    },

    async write(id, { offset, body, checksum }) {
      const release = await lock(id);
      try {
        const r = await row(id);
        if (!r) throw new UploadNotFoundError();
        if (offset !== r.offset) throw new UploadOffsetMismatchError(r.offset);
        // Anything past the committed offset is left from a cut-off or refused write.
        await blobs.truncate(r.blob_id, r.offset);
        const hash = checksum ? createHash(checksum.algorithm) : null;
        const prior = digests.get(id);
        digests.delete(id);
        let running: Hash | null =
          prior?.offset === r.offset ? prior.hash : r.offset === 0 ? createHash('sha256') : null;
        let at = r.offset;
        let parts: Buffer[] = [];
        let held = 0;
        const flush = async () => {
          if (!held) return;
          const data = parts.length === 1 ? (parts[0] as Buffer) : Buffer.concat(parts, held);
          parts = [];
          held = 0;
          await commitChunk(r, at, data, !checksum);
          running?.update(data);
          at += data.byteLength;
        };
        let cutOff: unknown = null;
        try {
          for await (const piece of body) {
            let p = Buffer.from(piece.buffer, piece.byteOffset, piece.byteLength);
            if (at + held + p.byteLength > r.length) throw new UploadTooLargeError('past Upload-Length');
            hash?.update(p);
            while (held + p.byteLength >= chunkBytes) {
              const take = chunkBytes - held;
              parts.push(p.subarray(0, take));
              held += take;
              p = p.subarray(take);
              await flush();
            }
            if (p.byteLength) {
              parts.push(Buffer.from(p)); // the stream may reuse its buffer
              held += p.byteLength;
            }
          }
        } catch (err) {
          if ((err as { code?: string }).code?.startsWith('RUNCELL_ERR_')) throw err;
          cutOff = err;
        }
        if (checksum) {
          // tus checksum: a cut-off or mismatching body is discarded whole (460 for a mismatch).
          const ok = !cutOff && hash?.digest().equals(checksum.digest);
          if (ok) {
            await flush();
            const moved = await q`update uploads set "offset" = ${at}, updated_at = now()
                                  where id = ${id} and "offset" = ${r.offset} returning id`;
            if (moved.length !== 1) throw new UploadOffsetMismatchError(r.offset);
          } else {
            await blobs.truncate(r.blob_id, r.offset);
            running = null; // it saw discarded bytes
            if (!cutOff) throw new UploadChecksumMismatchError();
            at = r.offset;
          }
        } else {
          // tus core: keep every byte received, even from a body cut off halfway.
          await flush();
        }
        const info = toInfo({ ...r, offset: at });
        if (at === r.length && r.length > 0) {
          const known = running ? { sha256: running.digest('hex'), size: at } : undefined;
          info.sha256 = (await complete(r, known)).sha256;
        } else if (running) {
          digests.set(id, { hash: running, offset: at });
          if (digests.size > maxDigests) digests.delete(digests.keys().next().value as string);
        }
        if (cutOff) throw new UploadInterruptedError({ cause: cutOff });
        return info;
      } finally {
        release();
      }
    },

    async remove(id) {
      const r = await row(id);
      if (!r) return false;
      digests.delete(id);
      await sql.begin(async (t) => {
        const tx = t as unknown as Tx;
        await tx`delete from uploads where id = ${id}`;
        // A sealed blob may be shared; retention removes it once nothing refers to it.
        await tx`delete from blobs where id = ${r.blob_id} and sha256 is null`;
      });
      return true;
    },

    async read(id) {
      let r = await row(id);
      if (!r) throw new UploadNotFoundError();
      if (r.offset !== r.length) throw new UploadIncompleteError();
      if (!r.sha256) {
        // All bytes are in but sealing failed (database lost right then): seal now.
        const release = await lock(id);
        try {
          r = await row(id);
          if (r && !r.sha256) await complete(r);
          r = await row(id);
        } finally {
          release();
        }
        if (!r?.sha256) throw new UploadNotFoundError();
      }
      return { info: toInfo(r), data: blobs.read(r.blob_id) };
    },
  };
  return uploads;
}
