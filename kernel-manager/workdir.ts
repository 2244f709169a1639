// The kernel's work dir as the server sees it: list, read and write top-level regular files.
// The directory is writable by sandboxed code, so nothing here follows a link the kernel could plant:
// the path up to the work dir is fixed (/proc/<pid>/root/home/kernel: the sandbox's root is read-only
// and the work dir is a mount point the kernel cannot replace), and every file is opened with
// O_NOFOLLOW, then checked with fstat on the open descriptor.

import { spawn } from 'node:child_process';
import {
  closeSync,
  constants,
  fstatSync,
  lstatSync,
  openSync,
  readdirSync,
  readFileSync,
  readSync,
} from 'node:fs';
import { open, statfs, unlink } from 'node:fs/promises';
import { join } from 'node:path';
import { KernelManagerError } from './errors.js';

export interface FileStat {
  name: string;
  size: number;
  mtimeMs: number;
}

export interface KernelFiles {
  /** True when the server reaches the work dir from the host side (list/read/write/grow work). */
  readonly hostSide: boolean;
  /**
   * Raises the work dir's quota by `bytes` (room for input files about to be written); a no-op where
   * the work dir has no quota of its own (unsandboxed kernels).
   */
  grow(bytes: number): Promise<void>;
  /** Top-level regular files, dot files left out, at most `max` (sorted by name). [] if unavailable. */
  list(max?: number): FileStat[];
  /** A file's bytes; refuses links, non-regular files and files over `maxBytes`. */
  read(name: string, maxBytes: number): Buffer;
  /** Creates a new file (never replaces one); refuses over `maxBytes`. Resolves with its size. */
  write(name: string, data: AsyncIterable<Uint8Array> | Uint8Array, maxBytes: number): Promise<number>;
}

/** A single path component we are willing to touch. */
export function plainName(name: string): boolean {
  return (
    name.length > 0 &&
    name.length <= 255 &&
    !name.startsWith('.') &&
    !name.includes('/') &&
    !name.includes('\0')
  );
}

function refuse(message: string): never {
  throw new KernelManagerError('FILE_REFUSED', message);
}

export class WorkDir implements KernelFiles {
  /** Resolves the directory now, or undefined while the kernel is not running. */
  readonly #locate: () => string | undefined;
  readonly #uid: () => number | undefined;
  readonly #asKernelUser: boolean;
  readonly #pid: () => number | undefined;
  readonly hostSide = true;

  /**
   * `asKernelUser`: create files as the kernel's uid (a sandboxed kernel's work dir is a tmpfs owned by
   * its user namespace, where root cannot create inodes: EOVERFLOW). The writer then runs with no
   * capabilities, so it can do nothing the kernel's own uid could not.
   */
  constructor(
    locate: () => string | undefined,
    uid: () => number | undefined,
    asKernelUser: boolean,
    pid: () => number | undefined = () => undefined,
  ) {
    this.#locate = locate;
    this.#uid = uid;
    this.#asKernelUser = asKernelUser;
    this.#pid = pid;
  }

  async grow(bytes: number): Promise<void> {
    if (!Number.isSafeInteger(bytes) || bytes < 0) refuse('not a byte count');
    if (bytes === 0 || !this.#asKernelUser) return;
    const dir = this.#dir();
    const pid = this.#pid();
    const uid = this.#uid();
    if (pid === undefined || uid === undefined) refuse('the kernel is not running');
    await growTmpfs(pid, uid, dir, bytes);
  }

  #dir(): string {
    const d = this.#locate();
    if (!d) refuse('the kernel is not running');
    return d;
  }

  list(max = 100): FileStat[] {
    const dir = this.#locate();
    if (!dir) return [];
    let names: string[];
    try {
      names = readdirSync(dir);
    } catch {
      return [];
    }
    const out: FileStat[] = [];
    for (const name of names.sort()) {
      if (!plainName(name)) continue;
      try {
        const st = lstatSync(join(dir, name));
        if (st.isFile()) out.push({ name, size: st.size, mtimeMs: st.mtimeMs });
      } catch {
        // Removed meanwhile.
      }
      if (out.length >= max) break;
    }
    return out;
  }

  read(name: string, maxBytes: number): Buffer {
    if (!plainName(name)) refuse('not a plain file name');
    let fd: number;
    try {
      fd = openSync(
        join(this.#dir(), name),
        constants.O_RDONLY | constants.O_NOFOLLOW | constants.O_NONBLOCK,
      );
    } catch {
      refuse(`cannot open ${JSON.stringify(name)} (missing, or a link)`);
    }
    try {
      const st = fstatSync(fd);
      if (!st.isFile()) refuse(`${JSON.stringify(name)} is not a regular file`);
      if (st.size > maxBytes) refuse(`${JSON.stringify(name)} is larger than ${maxBytes} bytes`);
      const buf = Buffer.alloc(st.size);
      let at = 0;
      while (at < buf.length) {
        const n = readSync(fd, buf, at, buf.length - at, at);
        if (n === 0) break;
        at += n;
      }
      return buf.subarray(0, at);
    } finally {
      closeSync(fd);
    }
  }

  async write(name: string, data: AsyncIterable<Uint8Array> | Uint8Array, maxBytes: number): Promise<number> {
    if (!plainName(name)) refuse('not a plain file name');
    const uid = this.#uid();
    const path = join(this.#dir(), name);
    if (this.#asKernelUser) {
      if (uid === undefined) refuse('the kernel is not running');
      return writeAs(uid, path, name, data, maxBytes);
    }
    let fh: Awaited<ReturnType<typeof open>>;
    try {
      fh = await open(
        path,
        constants.O_WRONLY | constants.O_CREAT | constants.O_EXCL | constants.O_NOFOLLOW,
        0o644,
      );
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      refuse(
        code === 'EEXIST'
          ? `${JSON.stringify(name)} already exists`
          : `cannot create ${JSON.stringify(name)}`,
      );
    }
    let size = 0;
    try {
      if (uid !== undefined) await fh.chown(uid, uid);
      const chunks = data instanceof Uint8Array ? [data] : data;
      for await (const c of chunks) {
        size += c.length;
        if (size > maxBytes) refuse(`the file is larger than ${maxBytes} bytes`);
        await fh.write(c);
      }
      return size;
    } catch (e) {
      await fh.close().catch(() => undefined);
      // Leave nothing half-written behind (unlink never follows links).
      await import('node:fs/promises').then((fs) => fs.unlink(path)).catch(() => undefined);
      if (e instanceof KernelManagerError) throw e;
      const code = (e as NodeJS.ErrnoException).code;
      refuse(
        code === 'ENOSPC' || code === 'EFBIG'
          ? "the kernel's work dir is full"
          : 'the file could not be written',
      );
    } finally {
      await fh.close().catch(() => undefined);
    }
  }
}

/** Where the work dir is mounted inside the sandbox (bwrap.ts binds a sized tmpfs there). */
const INSIDE_HOME = '/home/kernel';

/**
 * Grows the sandbox's work-dir tmpfs by `bytes`. The remount runs as root in the kernel's own mount
 * namespace (nsenter), on a path the kernel cannot replace (its root is read-only and the work dir is
 * a mount point), and repeats the mount's nosuid and nodev flags (a remount resets what it omits).
 * tmpfs pages are charged to whoever writes them: inputs the server writes never count against the
 * kernel's memory limit.
 */
async function growTmpfs(pid: number, uid: number, dir: string, bytes: number): Promise<void> {
  let size: number;
  try {
    const st = await statfs(dir);
    size = st.blocks * st.bsize;
  } catch {
    refuse('the kernel is not running');
  }
  const kib = Math.ceil((size + bytes) / 1024);
  // Checked right before entering: the pid is still the kernel's (never a recycled one).
  if (!pidOwnedBy(pid, uid)) refuse('the kernel is not running');
  const child = spawn(
    '/usr/bin/nsenter',
    [
      `--mount=/proc/${pid}/ns/mnt`,
      '--',
      '/usr/bin/mount',
      '-o',
      `remount,nosuid,nodev,size=${kib}k`,
      INSIDE_HOME,
    ],
    { env: {}, stdio: ['ignore', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 2_000) stderr += d.toString();
  });
  const code = await new Promise<number | null>((resolve) => {
    child.once('error', () => resolve(-1));
    child.once('close', (c) => resolve(c));
  });
  if (code !== 0)
    refuse(`could not make room for the input files in the work dir (${stderr.trim() || code})`);
}

/** True when /proc/<pid> still belongs to `uid` (guards against a recycled pid). */
export function pidOwnedBy(pid: number, uid: number): boolean {
  try {
    const m = /^Uid:\s+(\d+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'));
    return Number(m?.[1]) === uid;
  } catch {
    return false;
  }
}

/**
 * Creates `path` as `uid` with GNU dd: O_CREAT|O_EXCL (conv=excl) and O_NOFOLLOW (oflag=nofollow),
 * fed from our stdin with the byte limit enforced here. No capabilities, an empty environment.
 */
async function writeAs(
  uid: number,
  path: string,
  name: string,
  data: AsyncIterable<Uint8Array> | Uint8Array,
  maxBytes: number,
): Promise<number> {
  const child = spawn(
    '/usr/bin/setpriv',
    [
      `--reuid=${uid}`,
      `--regid=${uid}`,
      '--clear-groups',
      '--inh-caps=-all',
      '--bounding-set=-all',
      '--',
      '/usr/bin/dd',
      `of=${path}`,
      'oflag=nofollow',
      'conv=excl',
      'status=none',
      'bs=65536',
    ],
    { env: {}, stdio: ['pipe', 'ignore', 'pipe'] },
  );
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => {
    if (stderr.length < 2_000) stderr += d.toString();
  });
  const exited = new Promise<number | null>((resolve) => child.once('close', (code) => resolve(code)));
  child.stdin.on('error', () => undefined);
  let size = 0;
  let tooLarge = false;
  try {
    const chunks = data instanceof Uint8Array ? [data] : data;
    for await (const c of chunks) {
      size += c.length;
      if (size > maxBytes) {
        tooLarge = true;
        break;
      }
      // dd may have exited already (the name exists, or is a link): then stdin is gone and no
      // 'drain' will ever come, so also stop waiting when the process ends.
      if (child.exitCode !== null || child.stdin.destroyed) break;
      if (!child.stdin.write(c)) {
        await Promise.race([new Promise<void>((r) => child.stdin.once('drain', () => r())), exited]);
      }
    }
  } finally {
    if (tooLarge) child.kill('SIGKILL');
    child.stdin.end();
  }
  const code = await exited;
  if (tooLarge || code !== 0) {
    // Only our own partial file: dd with conv=excl never opened an existing one.
    if (tooLarge || !/File exists/.test(stderr)) await unlink(path).catch(() => undefined);
    if (tooLarge) refuse(`the file is larger than ${maxBytes} bytes`);
    if (/File exists/.test(stderr)) refuse(`${JSON.stringify(name)} already exists`);
    if (/symbolic links/.test(stderr)) refuse(`${JSON.stringify(name)} is a link`);
    if (/No space left|too large/i.test(stderr)) refuse("the kernel's work dir is full");
    refuse('the file could not be written');
  }
  return size;
}
