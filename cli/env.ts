// `runcell env add NAME --python PATH [--display-name TEXT] [--paths P,…] [--dir DIR] [--force] [--json]`
// On the server's machine, as root: writes a kernelspec for an interpreter (a venv, a conda prefix,
// /usr/local's python) into runcell's kernelspec dir, then validates it as the server would run it
// (server/env-check.ts, in a process of its own: the CLI itself never loads the server or the sandbox):
// its paths checked, a sandboxed kernel started, its packages counted. A spec that fails is removed.
// docs/deploy.md "Environments" walks through venvs, /usr/local pip packages and conda prefixes.
import { spawnSync } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, rmSync, writeFileSync } from 'node:fs';
import { isAbsolute, join } from 'node:path';
import { parseArgs } from 'node:util';

const NAME = /^[a-zA-Z0-9._-]{1,64}$/;
/** Where `env add` writes specs when RUNCELL_KERNELSPEC_DIRS names none: the system-wide Jupyter dir. */
export const DEFAULT_SPEC_ROOT = '/usr/local/share/jupyter';

export const ENV_USAGE = `usage: runcell env add NAME --python PATH [--display-name TEXT] [--paths P,...] [--dir DIR] [--force] [--json]
  writes kernels/NAME/kernel.json under DIR (default: the first of RUNCELL_KERNELSPEC_DIRS, else ${DEFAULT_SPEC_ROOT}),
  starts a sandboxed kernel of it and prints what it found; restart the server to offer it`;

class EnvUsage extends Error {}

function specRoot(dir: string | undefined): string {
  if (dir) return dir;
  const first = (process.env.RUNCELL_KERNELSPEC_DIRS ?? '').split(',').find((d) => d.trim() !== '');
  return first?.trim() ?? DEFAULT_SPEC_ROOT;
}

function add(args: string[]): number {
  const { values: v, positionals } = parseArgs({
    args,
    options: {
      python: { type: 'string' },
      'display-name': { type: 'string' },
      paths: { type: 'string', multiple: true },
      dir: { type: 'string' },
      force: { type: 'boolean', default: false },
      json: { type: 'boolean', default: false },
    },
    allowPositionals: true,
    strict: true,
  });
  const name = positionals[0];
  if (!name || positionals.length > 1 || !NAME.test(name))
    throw new EnvUsage('NAME: letters, digits, . _ - (at most 64)');
  const python = v.python;
  if (!python || !isAbsolute(python))
    throw new EnvUsage('--python needs the absolute path of the interpreter');
  try {
    accessSync(python, constants.X_OK);
  } catch {
    throw new EnvUsage(`${python} is not an executable file`);
  }
  const paths = (v.paths ?? []).flatMap((p) => p.split(',')).filter((p) => p !== '');
  const bad = paths.find((p) => !isAbsolute(p));
  if (bad) throw new EnvUsage(`--paths takes absolute paths: ${bad}`);
  const root = specRoot(v.dir);
  const dir = join(root, 'kernels', name);
  if (existsSync(dir) && !v.force) throw new EnvUsage(`${dir} exists (--force replaces it)`);
  const spec = {
    argv: [python, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
    display_name: v['display-name'] ?? name,
    language: 'python',
    metadata: paths.length > 0 ? { runcell: { paths } } : {},
  };
  mkdirSync(dir, { recursive: true, mode: 0o755 });
  writeFileSync(join(dir, 'kernel.json'), `${JSON.stringify(spec, null, 1)}\n`, { mode: 0o644 });
  // The same configuration as the server: RUNCELL_* and RUNCELL_CONFIG pass through; the spec's dir
  // is searched first.
  const self = import.meta.url;
  const checker = new URL(`../server/env-check.${self.endsWith('.ts') ? 'ts' : 'js'}`, self).pathname;
  const dirs = [
    root,
    ...(process.env.RUNCELL_KERNELSPEC_DIRS ?? '').split(',').filter((d) => d && d !== root),
  ];
  const r = spawnSync(process.execPath, [...process.execArgv, checker, name], {
    env: { ...process.env, RUNCELL_KERNELSPEC_DIRS: dirs.join(',') },
    encoding: 'utf8',
  });
  let found: {
    ok?: boolean;
    reason?: string;
    version?: string | null;
    packages?: number | null;
    startMs?: number;
  };
  try {
    found = JSON.parse(r.stdout.trim().split('\n').at(-1) ?? '');
  } catch {
    found = { ok: false, reason: (r.stderr || r.stdout || 'the check failed').trim() };
  }
  if (!found.ok) rmSync(dir, { recursive: true, force: true });
  if (v.json) process.stdout.write(`${JSON.stringify({ ...found, spec: join(dir, 'kernel.json') })}\n`);
  else if (found.ok) {
    const pk =
      found.packages === null || found.packages === undefined
        ? 'packages unknown'
        : `${found.packages} packages`;
    process.stdout.write(
      `Added environment "${name}" (${join(dir, 'kernel.json')}): Python ${found.version ?? '?'}, ${pk}; ` +
        `a sandboxed kernel started in ${((found.startMs ?? 0) / 1000).toFixed(1)} s.` +
        `${found.reason ? `\nwarning: ${found.reason}` : ''}\nRestart the server to offer it.\n`,
    );
  } else process.stderr.write(`runcell: environment "${name}" not added: ${found.reason}\n`);
  return found.ok ? 0 : 1;
}

/** `runcell env …`; returns the exit code (2: usage). */
export function envCommand(args: string[]): number {
  try {
    if (args[0] === 'add') return add(args.slice(1));
    throw new EnvUsage(args[0] ? `unknown env command ${args[0]}` : 'env needs a command');
  } catch (e) {
    if (!(e instanceof EnvUsage) && !(e instanceof TypeError)) throw e;
    process.stderr.write(`runcell: ${e.message}\n${ENV_USAGE}\n`);
    return 2;
  }
}
