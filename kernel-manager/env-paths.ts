// What a kernelspec needs to see of the host beyond the sandbox's minimal /usr: its interpreter's
// prefix (a venv and the base it was made from, a conda prefix, /usr/local), its own directory and the
// paths its metadata declares. Each is checked before the spec is offered: a path a kernel uid could
// write, a symlink out of the allowed trees, or one that would uncover runcell's own files disables
// the spec with a reason (specs.ts logs it). The sandbox binds these read-only (sandbox/bwrap.ts).
import { lstatSync, readFileSync, realpathSync, statSync } from 'node:fs';
import { dirname, isAbsolute, join, normalize } from 'node:path';
import type { JsonObject } from './messages.js';

/** Sub-trees of /usr the sandbox hides (sandbox/bwrap.ts masks them); a spec may uncover one. */
export const USR_MASKS = [
  '/usr/local',
  '/usr/etc',
  '/usr/src',
  '/usr/lib/node_modules',
  '/usr/share/nodejs',
  '/usr/include/node',
  '/usr/lib/google-cloud-sdk',
];

/** Host secrets and other runtimes' code that stay hidden even inside a tree a spec declares. */
export const SECRET_MASKS = [
  '/usr/local/etc',
  '/usr/local/lib/node_modules',
  '/usr/local/share/nodejs',
  '/usr/local/include/node',
  '/usr/lib/node_modules',
  '/usr/share/nodejs',
  '/usr/include/node',
];

/** Places inside the sandbox a spec's path must not cover or sit in (the sandbox's own mounts). */
const RESERVED = [
  '/proc',
  '/dev',
  '/sys',
  '/run/kernel',
  '/run/conn',
  '/run/runcell',
  '/home/kernel',
  '/etc',
];
/** Mounts the sandbox makes itself: a spec's path may sit inside /tmp but never be /tmp or above it. */
const NOT_ABOVE = ['/tmp', '/usr', '/run', '/home'];

export interface PathPolicy {
  /** Kernel uids: a path one of them owns or may write disables the spec. */
  uidRange: readonly [number, number];
  /** runcell's own trees (runtime root, install, data dir): never bound, never above a bound path. */
  protect: readonly string[];
}

export const inside = (p: string, root: string): boolean =>
  p === root || p.startsWith(root.endsWith('/') ? root : `${root}/`);

/** True when the sandbox already shows `p` through its read-only /usr (not one of the masks). */
export function inSystemView(p: string): boolean {
  return inside(p, '/usr') && !USR_MASKS.some((m) => inside(p, m));
}

/** The interpreter's prefixes: a venv and its base, a conda prefix, or the tree above bin/. */
export function interpreterPrefixes(interpreter: string): string[] {
  const out: string[] = [];
  const bin = dirname(interpreter);
  const prefix = dirname(bin);
  // A venv: bin/python is a link to the base interpreter; pyvenv.cfg names the base's bin dir.
  try {
    const cfg = readFileSync(join(prefix, 'pyvenv.cfg'), 'utf8');
    out.push(prefix);
    const home = /^\s*home\s*=\s*(.+?)\s*$/m.exec(cfg)?.[1];
    if (home && isAbsolute(home)) out.push(dirname(normalize(home)));
  } catch {
    // not a venv
  }
  const real = realpathSync(interpreter);
  const realPrefix = dirname(dirname(real));
  // A conda prefix (conda-meta/), /usr/local, /opt/…: the whole tree the interpreter came from.
  out.push(realPrefix);
  if (prefix !== realPrefix && !out.includes(prefix)) out.push(prefix);
  return [...new Set(out)].filter((p) => p !== '/' && !inSystemView(p));
}

/** Paths named in the spec's `metadata.runcell.paths`; a reason when the list is malformed. */
export function declaredPaths(metadata: JsonObject): string[] | { reason: string } {
  const rc = metadata.runcell;
  if (rc === undefined) return [];
  if (typeof rc !== 'object' || rc === null || Array.isArray(rc))
    return { reason: 'metadata.runcell must be an object' };
  const paths = (rc as JsonObject).paths;
  if (paths === undefined) return [];
  if (!Array.isArray(paths) || !paths.every((p) => typeof p === 'string')) {
    return { reason: 'metadata.runcell.paths must be a list of absolute paths' };
  }
  return paths as string[];
}

/** Entries of a PYTHONPATH the spec sets: the kernel needs them just as it needs its prefix. */
export function envPaths(env: Record<string, string>): string[] {
  return (env.PYTHONPATH ?? '').split(':').filter((p) => p !== '');
}

function writableByKernel(
  st: { mode: number; uid: number; gid: number },
  p: PathPolicy,
  dir: boolean,
): boolean {
  const [lo, hi] = p.uidRange;
  const ours = (id: number) => id >= lo && id <= hi;
  if (ours(st.uid)) return true;
  if (st.mode & 0o020 && ours(st.gid)) return true;
  // World-writable: a sticky directory above the path lets nobody replace the entries it holds.
  return (st.mode & 0o002) !== 0 && !(dir && st.mode & 0o1000);
}

/**
 * Checks one path a spec would bind; returns why it cannot be, or undefined. `allowed` are the spec's
 * other trees: a symlink may lead into one of them (or into the system view), never elsewhere.
 */
export function checkPath(path: string, allowed: readonly string[], policy: PathPolicy): string | undefined {
  if (
    !isAbsolute(path) ||
    path.includes('\0') ||
    normalize(path) !== path.replace(/\/+$/, '') ||
    path === '/'
  ) {
    return `path ${JSON.stringify(path)} must be absolute and normalized`;
  }
  for (const r of RESERVED) {
    if (inside(path, r) || inside(r, path)) return `path ${path} would cover the sandbox's own ${r}`;
  }
  for (const r of NOT_ABOVE) if (inside(r, path)) return `path ${path} is too broad (it holds ${r})`;
  for (const r of policy.protect) {
    if (inside(path, r) || inside(r, path)) return `path ${path} would show runcell's own files (${r})`;
  }
  let real: string;
  try {
    real = realpathSync(path);
    statSync(real);
  } catch {
    return `path ${path} does not exist`;
  }
  if (real !== path) {
    const ok = inside(real, path) || inSystemView(real) || allowed.some((a) => a !== path && inside(real, a));
    if (!ok) return `path ${path} is a symlink to ${real}, outside the trees this spec may show`;
  }
  // The path and every directory above it: whoever may write one could swap what the kernel sees.
  for (let p = real; ; p = dirname(p)) {
    const st = lstatSync(p);
    const mode = (st.mode & 0o7777).toString(8);
    if (writableByKernel(st, policy, p !== real && st.isDirectory())) {
      return `path ${path} is not safe to show kernels: ${p} is writable by others (mode ${mode})`;
    }
    // The sandbox binds it as the kernel's uid, which must be able to reach it.
    if (st.isDirectory() && !(st.mode & 0o001)) {
      return `path ${path} is not reachable by kernel uids: ${p} has mode ${mode} (others need x)`;
    }
    if (p === '/') break;
  }
  return undefined;
}

/** The read-only binds a spec needs, or why it cannot be offered. */
export function specBinds(
  interpreter: string,
  specDir: string,
  metadata: JsonObject,
  env: Record<string, string>,
  policy: PathPolicy,
): { binds: string[] } | { reason: string } {
  const declared = declaredPaths(metadata);
  if ('reason' in declared) return declared;
  let prefixes: string[];
  try {
    prefixes = interpreterPrefixes(interpreter);
  } catch {
    return { reason: `interpreter ${interpreter} cannot be resolved` };
  }
  const wanted = [...prefixes, ...(specDir ? [specDir] : []), ...declared, ...envPaths(env)];
  const binds: string[] = [];
  for (const p of wanted) {
    if (binds.includes(p)) continue;
    const why = checkPath(p, wanted, policy);
    if (why) return { reason: why };
    if (inSystemView(p)) continue;
    binds.push(p);
  }
  // Outer trees first: a bind inside another must be mounted after it.
  binds.sort((a, b) => a.split('/').length - b.split('/').length || a.localeCompare(b));
  return { binds: binds.filter((p, i) => !binds.slice(0, i).some((q) => inside(p, q))) };
}
