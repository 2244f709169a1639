// Kernelspec discovery on the standard Jupyter data paths.
// https://jupyter-client.readthedocs.io/en/latest/kernels.html#kernel-specs
import { accessSync, constants, readdirSync, readFileSync, statSync } from 'node:fs';
import { homedir } from 'node:os';
import { delimiter, isAbsolute, join } from 'node:path';
import { type PathPolicy, specBinds } from './env-paths.js';
import type { JsonObject } from './messages.js';
import { specPrelude } from './prelude.js';
import type { KernelSpecInfo, UnavailableSpec } from './types.js';

/** Debian's interpreter with python3-ipykernel; the `python3` on PATH may be another one. */
export const DEBIAN_PYTHON = '/usr/bin/python3';
const SANDBOX_PATH = ['/usr/bin', '/bin'];
const NAME = /^[a-zA-Z0-9._-]{1,64}$/;

export function jupyterDataDirs(extra: readonly string[], env = process.env): string[] {
  const dirs = [...extra];
  for (const d of (env.JUPYTER_PATH ?? '').split(delimiter)) if (d) dirs.push(d);
  dirs.push(env.JUPYTER_DATA_DIR ?? join(env.XDG_DATA_HOME ?? join(homedir(), '.local', 'share'), 'jupyter'));
  dirs.push('/usr/local/share/jupyter', '/usr/share/jupyter');
  return [...new Set(dirs)];
}

function executable(path: string): boolean {
  try {
    accessSync(path, constants.X_OK);
    return statSync(path).isFile();
  } catch {
    return false;
  }
}

/** Resolves argv[0] the way the kernel's clean PATH inside the sandbox would. */
function resolveInterpreter(cmd: string): string | undefined {
  if (isAbsolute(cmd)) return executable(cmd) ? cmd : undefined;
  for (const dir of SANDBOX_PATH) if (executable(join(dir, cmd))) return join(dir, cmd);
  return undefined;
}

const strRecord = (v: unknown): v is Record<string, string> =>
  typeof v === 'object' &&
  v !== null &&
  !Array.isArray(v) &&
  Object.values(v).every((x) => typeof x === 'string');

/** IRkernel beats only between executions; `metadata.runcell.heartbeat` ("idle" | "always") overrides. */
function heartbeatWhileBusy(metadata: JsonObject, language: string): boolean {
  const rc = metadata.runcell;
  const hb =
    typeof rc === 'object' && rc !== null && !Array.isArray(rc) ? (rc as JsonObject).heartbeat : undefined;
  if (hb === 'idle') return false;
  if (hb === 'always') return true;
  return language.toLowerCase() !== 'r';
}

/** `{resource_dir}` in argv and env is the spec's own directory, as in jupyter_client. */
const withResourceDir = (s: string, dir: string) => s.replaceAll('{resource_dir}', dir);

function readSpec(
  name: string,
  dir: string,
  policy: PathPolicy | undefined,
): { spec: KernelSpecInfo } | { reason: string } {
  let raw: unknown;
  try {
    raw = JSON.parse(readFileSync(join(dir, 'kernel.json'), 'utf8'));
  } catch {
    return { reason: 'kernel.json is missing or not valid JSON' };
  }
  if (typeof raw !== 'object' || raw === null) return { reason: 'kernel.json is not an object' };
  const j = raw as JsonObject;
  const argv = j.argv;
  if (!Array.isArray(argv) || argv.length === 0 || !argv.every((a) => typeof a === 'string')) {
    return { reason: 'argv must be a non-empty list of strings' };
  }
  if (!argv.includes('{connection_file}')) return { reason: 'argv does not take {connection_file}' };
  const args = (argv as string[]).map((a) => withResourceDir(a, dir));
  const interpreter = resolveInterpreter(args[0] as string);
  if (!interpreter) return { reason: `interpreter ${argv[0]} not found` };
  const rawEnv = j.env ?? {};
  if (!strRecord(rawEnv)) return { reason: 'env must map names to strings' };
  const env = Object.fromEntries(Object.entries(rawEnv).map(([k, v]) => [k, withResourceDir(v, dir)]));
  const metadata = typeof j.metadata === 'object' && j.metadata !== null ? (j.metadata as JsonObject) : {};
  let binds: string[] = [];
  if (policy) {
    const r = specBinds(interpreter, dir, metadata, env, policy);
    if ('reason' in r) return r;
    binds = r.binds;
  }
  const prelude = specPrelude(metadata);
  if ('reason' in prelude) return prelude;
  const language = typeof j.language === 'string' ? j.language : 'unknown';
  const resources: Record<string, string> = {};
  for (const f of readdirSync(dir)) {
    if (/^logo-(32x32|64x64|svg)\.(png|svg)$/.test(f) || f === 'kernel.js')
      resources[f.replace(/\.\w+$/, '')] = join(dir, f);
  }
  return {
    spec: {
      name,
      display_name: typeof j.display_name === 'string' ? j.display_name : name,
      language,
      argv: args,
      env,
      interrupt_mode: j.interrupt_mode === 'message' ? 'message' : 'signal',
      metadata,
      resources,
      dir,
      binds,
      heartbeatWhileBusy: heartbeatWhileBusy(metadata, language),
    },
  };
}

/** The spec runcell offers when no usable `python3` spec is installed. */
export function builtinPythonSpec(): KernelSpecInfo {
  return {
    name: 'python3',
    display_name: 'Python 3 (ipykernel)',
    language: 'python',
    argv: [DEBIAN_PYTHON, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
    env: {},
    interrupt_mode: 'message',
    metadata: {},
    resources: {},
    dir: '',
    binds: [],
    heartbeatWhileBusy: true,
  };
}

export interface SpecScan {
  specs: Map<string, KernelSpecInfo>;
  unavailable: UnavailableSpec[];
}

/**
 * Finds kernelspecs; the first directory that has a name wins, as in jupyter_client. With a policy
 * (sandboxed kernels), each spec's binds are derived and checked (env-paths.ts).
 */
export function discoverSpecs(
  extraDirs: readonly string[],
  policy: PathPolicy | undefined,
  env = process.env,
): SpecScan {
  const specs = new Map<string, KernelSpecInfo>();
  const unavailable: UnavailableSpec[] = [];
  const seen = new Set<string>();
  for (const data of jupyterDataDirs(extraDirs, env)) {
    const kernels = join(data, 'kernels');
    let names: string[];
    try {
      names = readdirSync(kernels);
    } catch {
      continue;
    }
    for (const name of names.sort()) {
      if (!NAME.test(name) || seen.has(name)) continue;
      seen.add(name);
      const dir = join(kernels, name);
      const r = readSpec(name, dir, policy);
      if ('spec' in r) specs.set(name, r.spec);
      else unavailable.push({ name, dir, reason: r.reason });
    }
  }
  if (!specs.has('python3') && executable(DEBIAN_PYTHON)) specs.set('python3', builtinPythonSpec());
  return { specs, unavailable };
}
