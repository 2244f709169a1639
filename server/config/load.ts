// Reading the configuration: defaults, then the JSON file named by RUNCELL_CONFIG, then the
// environment, later ones winning. Everything is validated at once; a bad value, an unknown key in
// the file or an unknown RUNCELL_* variable stops start-up with every problem listed.
import { readFileSync } from 'node:fs';
import type { Setting } from './schema.js';
import { SETTINGS, type ServerConfig } from './settings.js';

type Key = keyof ServerConfig;
const ENTRIES = Object.entries(SETTINGS) as [Key, Setting<unknown>][];

const NGINX = "ops/nginx/runcell.conf's, filled in by envsubst; often kept in the server's environment file";

/**
 * RUNCELL_* variables that are not settings but are legitimately set where the server runs, each with
 * why (docs/configuration.md lists them). Every other RUNCELL_* variable is refused as a likely typo.
 * A name ending in `*` stands for every name it starts.
 */
export const NOT_SETTINGS: Readonly<Record<string, string>> = {
  RUNCELL_CONFIG: 'names the JSON config file',
  RUNCELL_SERVER: "the CLI's server URL (`runcell --server`)",
  RUNCELL_TOKEN: "the CLI's token (`runcell --token`)",
  RUNCELL_LISTEN: NGINX,
  RUNCELL_SERVER_NAME: NGINX,
  RUNCELL_CONTENT_SERVER_NAME: NGINX,
  RUNCELL_UPSTREAM: NGINX,
  RUNCELL_WEB_DIST: NGINX,
  RUNCELL_SECURITY_MARKER:
    "put in the server's environment by the security tests, to show kernels never see it",
  'RUNCELL_TEST_*':
    "the test suites' switches and markers (RUNCELL_TEST_LOG, RUNCELL_TEST_PG_URL, …), inherited by servers they start",
};

const SETTING_ENVS = new Set(ENTRIES.map(([, s]) => s.env));
const NOT_SETTING_NAMES = Object.keys(NOT_SETTINGS).filter((n) => !n.endsWith('*'));
const NOT_SETTING_PREFIXES = Object.keys(NOT_SETTINGS)
  .filter((n) => n.endsWith('*'))
  .map((n) => n.slice(0, -1));

function isKnownVariable(name: string): boolean {
  return (
    SETTING_ENVS.has(name) ||
    Object.hasOwn(NOT_SETTINGS, name) ||
    NOT_SETTING_PREFIXES.some((p) => name.startsWith(p))
  );
}

export class ConfigError extends Error {
  constructor(readonly problems: string[]) {
    super(`invalid configuration:\n  - ${problems.join('\n  - ')}`);
    this.name = 'ConfigError';
  }
}

/** Every setting at its default (fresh copies: callers may change them). */
export function defaultServerConfig(): ServerConfig {
  return Object.fromEntries(ENTRIES.map(([k, s]) => [k, structuredClone(s.default)])) as ServerConfig;
}

/** The keys loadConfig took from the file, the environment or its overrides, per config it returned. */
const EXPLICIT = new WeakMap<ServerConfig, ReadonlySet<Key>>();

/**
 * The settings the operator set (or the caller overrode) in a config loadConfig returned; for any
 * other object (built by hand, or a copy), every key: nothing can tell its defaults apart.
 */
export function explicitSettings(c: ServerConfig): ReadonlySet<Key> {
  return EXPLICIT.get(c) ?? new Set(ENTRIES.map(([k]) => k));
}

/**
 * Builds the configuration from defaults, the optional JSON file (RUNCELL_CONFIG) and the environment.
 * `overrides` (tests, embedding) win over everything. Throws ConfigError listing every problem.
 */
export function loadConfig(
  env: Record<string, string | undefined> = process.env,
  overrides: Partial<ServerConfig> = {},
): ServerConfig {
  const problems: string[] = [];
  const file = readConfigFile(env.RUNCELL_CONFIG, problems);
  for (const k of Object.keys(file)) {
    if (!Object.hasOwn(SETTINGS, k))
      problems.push(
        `config file: unknown setting "${k}"${didYouMean(k, Object.keys(SETTINGS), (s) => `"${s}"`)}`,
      );
  }
  for (const name of Object.keys(env)) {
    if (name.startsWith('RUNCELL_') && env[name] !== undefined && !isKnownVariable(name))
      problems.push(`unknown setting ${name}${didYouMean(name, [...SETTING_ENVS, ...NOT_SETTING_NAMES])}`);
  }

  const cfg = defaultServerConfig() as Record<Key, unknown>;
  const set = new Set<Key>();
  for (const [key, s] of ENTRIES) {
    const sources: [unknown, string][] = [
      [Object.hasOwn(file, key) ? file[key] : undefined, `config file "${key}"`],
      [env[s.env], s.env],
    ];
    for (const [raw, where] of sources) {
      if (raw === undefined || (raw === '' && s.emptyIsUnset)) continue;
      const v = s.parse(raw);
      if (v === undefined) problems.push(`${where}: expected ${s.expected}, got ${JSON.stringify(raw)}`);
      else {
        cfg[key] = v;
        set.add(key);
      }
    }
  }
  for (const [k, v] of Object.entries(overrides) as [Key, unknown][]) {
    if (v === undefined) continue;
    cfg[k] = v;
    set.add(k);
  }

  const config = cfg as ServerConfig;
  for (const [key, s] of ENTRIES) {
    const problem = s.check?.(config[key]);
    if (problem) problems.push(`${s.env}: ${problem}`);
  }
  if (!config.anonymous && config.tokens.length === 0)
    problems.push('RUNCELL_ANONYMOUS=false needs at least one token in RUNCELL_TOKENS');
  // The default floor yields to a smaller cap the operator set; a floor they set themselves does not.
  if (!set.has('poolSize')) config.poolSize = Math.min(config.poolSize, config.maxKernels);
  if (config.poolSize > config.maxKernels)
    problems.push('RUNCELL_POOL_SIZE cannot exceed RUNCELL_MAX_KERNELS');
  if (problems.length > 0) throw new ConfigError(problems);
  EXPLICIT.set(config, set);
  return config;
}

function readConfigFile(path: string | undefined, problems: string[]): Record<string, unknown> {
  if (!path) return {};
  try {
    const parsed: unknown = JSON.parse(readFileSync(path, 'utf8'));
    if (typeof parsed === 'object' && parsed !== null && !Array.isArray(parsed))
      return parsed as Record<string, unknown>;
    problems.push('RUNCELL_CONFIG: the file must hold a JSON object');
  } catch (e) {
    const why = e instanceof SyntaxError ? 'is not valid JSON' : 'cannot be read';
    problems.push(`RUNCELL_CONFIG: the config file ${why} (${(e as Error).message.split('\n')[0]})`);
  }
  return {};
}

/**
 * "; did you mean X?" for the known name closest to `name`, when it is near enough to be a typo.
 * Case, `_`, `-` and a RUNCELL_ prefix are ignored: RUNCELL_POOLSIZE is RUNCELL_POOL_SIZE,
 * RUNCELL_PORT is PORT, "PoolSize" is "poolSize".
 */
export function didYouMean(name: string, known: readonly string[], quote = (s: string) => s): string {
  const norm = (s: string) =>
    s
      .toLowerCase()
      .replace(/^runcell_/, '')
      .replace(/[_-]/g, '');
  const n = norm(name);
  let best: string | undefined;
  let bestDistance = Infinity;
  for (const k of known) {
    const d = distance(n, norm(k));
    if (d < bestDistance && d <= Math.max(1, Math.floor(norm(k).length / 4))) {
      best = k;
      bestDistance = d;
    }
  }
  return best === undefined ? '' : `; did you mean ${quote(best)}?`;
}

/** Edit distance counting a swap of two neighbours as one edit (optimal string alignment). */
function distance(a: string, b: string): number {
  const w = b.length + 1;
  const d = new Array<number>((a.length + 1) * w).fill(0);
  const at = (i: number, j: number) => d[i * w + j] ?? 0;
  for (let i = 0; i <= a.length; i++) d[i * w] = i;
  for (let j = 0; j <= b.length; j++) d[j] = j;
  for (let i = 1; i <= a.length; i++) {
    for (let j = 1; j <= b.length; j++) {
      const swap = i > 1 && j > 1 && a[i - 1] === b[j - 2] && a[i - 2] === b[j - 1];
      d[i * w + j] = Math.min(
        at(i - 1, j) + 1,
        at(i, j - 1) + 1,
        at(i - 1, j - 1) + (a[i - 1] === b[j - 1] ? 0 : 1),
        swap ? at(i - 2, j - 2) + 1 : Infinity,
      );
    }
  }
  return at(a.length, b.length);
}
