// The bubblewrap argument list: what a kernel sees of the system. Options reach bwrap NUL-separated
// through `--args FD`, so they (the kernel's env included) never show in /proc/<pid>/cmdline and need
// no quoting; a NUL inside one would split it, so every string is checked.
import { existsSync, lstatSync, readdirSync, readlinkSync } from 'node:fs';
import { inside, SECRET_MASKS, USR_MASKS } from '../env-paths.js';
import { HOOKS_INSIDE, IPYTHON_CONFIG_INSIDE } from './hooks.js';

/** Where things are inside the sandbox. */
export const INSIDE = {
  home: '/home/kernel',
  runtime: '/run/kernel',
  /** ipc sockets are `${ipcPrefix}-${port}` */
  ipcPrefix: '/run/kernel/k',
  connectionFile: '/run/conn/kernel.json',
  user: 'kernel',
} as const;

/** What the interpreter needs from /etc (read-only); nothing else of the host's /etc is visible. */
const ETC_FILES = [
  'ld.so.cache',
  'ld.so.conf',
  'ld.so.conf.d',
  'localtime',
  'timezone',
  'matplotlibrc',
  'fonts',
  'mime.types',
  'ssl/certs',
  'ssl/openssl.cnf',
  'alternatives',
  'os-release',
  // Debian's R: /usr/lib/R/etc links its Renviron, ldpaths and Rprofile.site here.
  'R',
];

/**
 * The fixed, host-dependent part of the view: computed once per Sandbox. The masks over /usr (USR_MASKS:
 * other packages' code, config and secrets) are empty tmpfs, made read-only by buildBwrapArgs after a
 * kernelspec's own binds, which may lie inside one (/usr/local/lib/python3.11/dist-packages).
 */
export function systemView(): string[] {
  const args = ['--ro-bind', '/usr', '/usr'];
  for (const p of USR_MASKS) {
    if (existsSync(p)) args.push('--tmpfs', p);
  }
  // Merged /usr: /bin, /lib… are symlinks into /usr; on older layouts, bind the directory read-only.
  for (const top of ['bin', 'sbin', 'lib', 'lib32', 'lib64', 'libx32']) {
    const p = `/${top}`;
    let st: ReturnType<typeof lstatSync>;
    try {
      st = lstatSync(p);
    } catch {
      continue;
    }
    if (st.isSymbolicLink()) args.push('--symlink', readlinkSync(p), p);
    else if (st.isDirectory()) args.push('--ro-bind', p, p);
  }
  const etc = [...ETC_FILES, ...readdirSync('/etc').filter((n) => /^python3(\.\d+)?$/.test(n))];
  for (const name of etc) {
    const p = `/etc/${name}`;
    if (existsSync(p)) args.push('--ro-bind', p, p);
  }
  return args;
}

export interface BwrapFds {
  connection: number;
  info: number;
  seccomp?: number;
  passwd: number;
  group: number;
  hosts: number;
  nsswitch: number;
}

/**
 * The kernel's command line. bwrap takes only options through --args FD; the command follows `--` on
 * its argv (it is the kernelspec's argv, nothing secret, and shows in /proc/1/cmdline inside anyway).
 */
export function kernelArgv(argv: readonly string[]): string[] {
  if (argv.length === 0) throw new Error('kernel argv is empty');
  if (argv.some((a) => a.includes('\0'))) throw new Error('a kernel argument contains a NUL byte');
  return argv.map((a) => a.replaceAll('{connection_file}', INSIDE.connectionFile));
}

export interface BwrapOptions {
  uid: number;
  runtimeDir: string;
  tmpBytes: number;
  homeBytes: number;
  shmBytes: number;
  /** From systemView(). */
  view: readonly string[];
  /** The kernelspec's host paths, shown read-only at the same place (checked by env-paths.ts). */
  binds?: readonly string[];
  /** Host dir of the start-up hooks (hooks.ts), shown read-only; none: no hooks. */
  hooksDir?: string;
  env: Record<string, string>;
  fds: BwrapFds;
}

/** Variables every kernel gets; the kernelspec's env may override the locale and thread counts. */
const DEFAULT_ENV: Record<string, string> = {
  LANG: 'C.UTF-8',
  // RLIMIT_AS and many threads each reserving arenas and stacks do not mix: keep BLAS single-threaded.
  OPENBLAS_NUM_THREADS: '1',
  OMP_NUM_THREADS: '1',
  MKL_NUM_THREADS: '1',
};

const ENV_NAME = /^[A-Za-z_][A-Za-z0-9_]*$/;

export function kernelEnv(env: Record<string, string>): Record<string, string> {
  for (const name of Object.keys(env)) {
    if (!ENV_NAME.test(name)) throw new Error(`invalid environment variable name ${JSON.stringify(name)}`);
  }
  return { ...DEFAULT_ENV, ...env, HOME: INSIDE.home, PATH: '/usr/bin:/bin', USER: INSIDE.user };
}

/**
 * The kernelspec's part of the view: its binds (after the tmpfs mounts, so a venv under /tmp shows),
 * the host secrets inside them masked again, the hooks, then the /usr masks made read-only.
 */
function specView(binds: readonly string[], hooksDir: string | undefined): string[] {
  const args: string[] = [];
  for (const b of binds) args.push('--ro-bind', b, b);
  for (const m of SECRET_MASKS) {
    if (binds.some((b) => inside(m, b) && m !== b) && existsSync(m))
      args.push('--tmpfs', m, '--remount-ro', m);
  }
  if (hooksDir) {
    args.push('--ro-bind', hooksDir, HOOKS_INSIDE);
    args.push('--ro-bind', `${hooksDir}/ipython_kernel_config.py`, IPYTHON_CONFIG_INSIDE);
  }
  for (const m of USR_MASKS) if (existsSync(m)) args.push('--remount-ro', m);
  return args;
}

export function buildBwrapArgs(o: BwrapOptions): string[] {
  const size = (n: number) => String(Math.max(4096, Math.floor(n)));
  const args = [
    // Namespaces: a user namespace owned by the (already unprivileged) uid, everything else new too,
    // network included (only `lo`); no nested user namespaces; no controlling terminal (TIOCSTI).
    '--unshare-user',
    '--disable-userns',
    '--unshare-all',
    '--die-with-parent',
    '--new-session',
    '--hostname',
    'runcell',
    ...o.view,
    '--ro-bind-data',
    String(o.fds.passwd),
    '/etc/passwd',
    '--ro-bind-data',
    String(o.fds.group),
    '/etc/group',
    '--ro-bind-data',
    String(o.fds.hosts),
    '/etc/hosts',
    '--ro-bind-data',
    String(o.fds.nsswitch),
    '/etc/nsswitch.conf',
    '--proc',
    '/proc',
    '--dev',
    '/dev',
    // --size applies to the next --tmpfs and must precede it.
    '--size',
    size(o.shmBytes),
    '--tmpfs',
    '/dev/shm',
    '--size',
    size(o.tmpBytes),
    '--tmpfs',
    '/tmp',
    '--size',
    size(o.homeBytes),
    '--tmpfs',
    INSIDE.home,
    '--bind',
    o.runtimeDir,
    INSIDE.runtime,
    // ipykernel rewrites its connection file: a private writable copy that never touches the host disk.
    '--perms',
    '0600',
    '--bind-data',
    String(o.fds.connection),
    INSIDE.connectionFile,
    ...specView(o.binds ?? [], o.hooksDir),
    '--chdir',
    INSIDE.home,
    '--clearenv',
  ];
  for (const [k, v] of Object.entries(kernelEnv(o.env))) args.push('--setenv', k, v);
  args.push('--info-fd', String(o.fds.info));
  if (o.fds.seccomp !== undefined) args.push('--seccomp', String(o.fds.seccomp));
  // Last, so every mount point above could still be created in the root tmpfs.
  args.push('--remount-ro', '/');
  for (const a of args) {
    if (a.includes('\0')) throw new Error('a sandbox argument contains a NUL byte');
  }
  return args;
}

/** /etc/passwd, /etc/group, /etc/hosts and /etc/nsswitch.conf of the sandbox. */
export function generatedEtc(uid: number): Record<'passwd' | 'group' | 'hosts' | 'nsswitch', Buffer> {
  return {
    passwd: Buffer.from(
      `root:x:0:0:root:/root:/usr/sbin/nologin\n${INSIDE.user}:x:${uid}:${uid}:runcell kernel:${INSIDE.home}:/bin/sh\n` +
        'nobody:x:65534:65534:nobody:/nonexistent:/usr/sbin/nologin\n',
    ),
    group: Buffer.from(`root:x:0:\n${INSIDE.user}:x:${uid}:\nnogroup:x:65534:\n`),
    hosts: Buffer.from('127.0.0.1\tlocalhost\n::1\tlocalhost ip6-localhost ip6-loopback\n'),
    nsswitch: Buffer.from('passwd: files\ngroup: files\nshadow: files\nhosts: files\n'),
  };
}
