// Each kernel's runtime dir on the host: where its ipc sockets live, bound at /run/kernel inside.
// Preferably a small tmpfs mounted per kernel (bounded: a kernel cannot fill the host's /run, and
// removal is an unmount, which follows nothing); otherwise a plain directory, removed without ever
// following a link the kernel planted.
import { execFile } from 'node:child_process';
import { chmod, chown, lstat, mkdir, readFile, rmdir } from 'node:fs/promises';
import { promisify } from 'node:util';
import { removeTreeNoFollow } from './procs.js';

const run = promisify(execFile);

/** Longest ipc socket path the kernel may bind: `${prefix}-${port}`, sun_path holds 107 bytes. */
export const MAX_SOCKET_PATH = 107;
const RUNTIME_TMPFS = 'size=1m,nr_inodes=256,mode=0700,nosuid,nodev,noexec';

/** Creates the root-owned runtime root (0711: kernels traverse to their own dir, list nothing). */
export async function prepareRuntimeRoot(root: string): Promise<void> {
  if (!root.startsWith('/')) throw new Error(`sandbox runtimeRoot must be absolute: ${root}`);
  await mkdir(root, { recursive: true, mode: 0o711 });
  const st = await lstat(root);
  if (!st.isDirectory() || st.uid !== 0)
    throw new Error(`sandbox runtimeRoot ${root} must be a directory owned by root`);
  await chmod(root, 0o711);
}

async function isMountPoint(dir: string): Promise<boolean> {
  const mounts = await readFile('/proc/self/mountinfo', 'utf8');
  // Field 5 is the mount point, with spaces and the like octal-escaped.
  return mounts
    .split('\n')
    .some(
      (l) =>
        l.split(' ')[4]?.replace(/\\(\d{3})/g, (_, o) => String.fromCharCode(Number.parseInt(o, 8))) === dir,
    );
}

async function unmount(dir: string): Promise<void> {
  while (await isMountPoint(dir)) {
    // Lazy: the sandbox's own mount namespace may still be going away.
    await run('/usr/bin/umount', ['-l', dir], { env: {} });
  }
}

/** Whether per-kernel tmpfs runtime dirs work here (mount and unmount a probe). */
export async function probeTmpfs(root: string): Promise<boolean> {
  const dir = `${root}/probe-${process.pid}`;
  try {
    await mkdir(dir, { mode: 0o700 });
    await run('/usr/bin/mount', ['-t', 'tmpfs', '-o', RUNTIME_TMPFS, 'runcell-kernel', dir], { env: {} });
    await unmount(dir);
    return true;
  } catch {
    return false;
  } finally {
    await rmdir(dir).catch(() => {});
  }
}

export class RuntimeDir {
  readonly path: string;
  readonly #tmpfs: boolean;

  private constructor(path: string, tmpfs: boolean) {
    this.path = path;
    this.#tmpfs = tmpfs;
  }

  /** Host path prefix of the kernel's ipc sockets. */
  get ipcPrefix(): string {
    return `${this.path}/k`;
  }

  /** Creates `${root}/${uid}` owned by uid, mode 0700, replacing a leftover of a crashed run. */
  static async create(root: string, uid: number, tmpfs: boolean): Promise<RuntimeDir> {
    const dir = new RuntimeDir(`${root}/${uid}`, tmpfs);
    if (Buffer.byteLength(`${dir.ipcPrefix}-65535`) > MAX_SOCKET_PATH) {
      throw new Error(
        `sandbox runtimeRoot ${root} is too long for ipc socket paths (max ${MAX_SOCKET_PATH} bytes)`,
      );
    }
    await dir.remove();
    await mkdir(dir.path, { mode: 0o700 });
    if (tmpfs) {
      await run(
        '/usr/bin/mount',
        ['-t', 'tmpfs', '-o', `${RUNTIME_TMPFS},uid=${uid},gid=${uid}`, 'runcell-kernel', dir.path],
        { env: {} },
      );
    } else {
      await chown(dir.path, uid, uid);
      await chmod(dir.path, 0o700);
    }
    return dir;
  }

  /** Unmounts or removes the dir; call only once nothing of the kernel runs any more. */
  async remove(): Promise<void> {
    await unmount(this.path);
    await removeTreeNoFollow(this.path);
  }

  describe(): string {
    return this.#tmpfs ? 'tmpfs (1 MiB)' : 'plain directory (not size-limited)';
  }
}
