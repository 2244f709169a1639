// The building blocks of the settings table (settings.ts): one builder per kind of value. A setting
// knows its environment variable, its default, its meaning, and how to read a value from the
// environment (always a string) or from the JSON config file (JSON), with the message for a bad one.
import type { GatewayConfig } from '../../kernel-manager/index.js';

export interface Setting<T> {
  /** The environment variable. */
  readonly env: string;
  readonly default: T;
  /** What it does, for docs/configuration.md. */
  readonly doc: string;
  /** The docs' default column, where the value alone would say too little. */
  readonly shown?: string;
  /** The values it accepts, for messages ("an integer >= 0"). */
  readonly expected: string;
  /** The same, short, for the docs' table ("integer ≥ 0"). */
  readonly accepts: string;
  /** A value as the docs show it. */
  format(v: T): string;
  /** An empty environment variable leaves the setting unset (for every kind but strings). */
  readonly emptyIsUnset: boolean;
  /** The value, or undefined when `raw` is not one. */
  parse(raw: unknown): T | undefined;
  /** A further check of the final value: the problem, or undefined. */
  check?(v: T): string | undefined;
}

export type Settings = { readonly [key: string]: Setting<unknown> };

/** The configuration a table of settings describes: one field per setting, of the setting's type. */
export type ConfigOf<S extends Settings> = {
  -readonly [K in keyof S]: S[K] extends Setting<infer T> ? T : never;
};

interface Options<T> {
  env: string;
  default: T;
  doc: string;
  shown?: string;
  check?(v: T): string | undefined;
}

function setting<T>(
  o: Options<T>,
  kind: Pick<Setting<T>, 'expected' | 'accepts' | 'parse'> & Partial<Pick<Setting<T>, 'format'>>,
): Setting<T> {
  return { ...o, emptyIsUnset: true, format: String, ...kind };
}

export function int(o: Options<number> & { min: number; max?: number }): Setting<number> {
  const { min, max } = o;
  return setting(o, {
    expected: `an integer ${max === undefined ? `>= ${min}` : `between ${min} and ${max}`}`,
    accepts: `integer ${max === undefined ? `≥ ${min}` : `${min}–${max}`}`,
    parse(raw) {
      const n =
        typeof raw === 'number' ? raw : typeof raw === 'string' && /^\s*-?\d+\s*$/.test(raw) ? +raw : NaN;
      return Number.isSafeInteger(n) && n >= min && (max === undefined || n <= max) ? n : undefined;
    },
  });
}

const TRUE = ['1', 'true', 'yes', 'on'];
const FALSE = ['0', 'false', 'no', 'off'];

export function bool(o: Options<boolean>): Setting<boolean> {
  return setting(o, {
    expected: 'true or false',
    accepts: 'boolean',
    parse(raw) {
      if (typeof raw === 'boolean') return raw;
      const t = typeof raw === 'string' ? raw.trim().toLowerCase() : '';
      return TRUE.includes(t) ? true : FALSE.includes(t) ? false : undefined;
    },
  });
}

/** A string; an empty environment variable sets it to '' (or is refused with `nonEmpty`). */
export function text(o: Options<string> & { nonEmpty?: boolean }): Setting<string> {
  const s = setting(o, {
    expected: o.nonEmpty ? 'a non-empty string' : 'a string',
    accepts: o.nonEmpty ? 'non-empty string' : 'string',
    parse: (raw) => (typeof raw === 'string' && !(o.nonEmpty && raw.trim() === '') ? raw : undefined),
    format: (v) => v || '(empty)',
  });
  return { ...s, emptyIsUnset: false };
}

/**
 * Comma-separated in the environment, an array of strings in the file; blanks dropped. An empty
 * environment variable is unset, unless `emptyIsNone`: then it is the empty list (a way to turn off a
 * list whose default is not empty).
 */
export function list(o: Options<string[]> & { emptyIsNone?: boolean }): Setting<string[]> {
  const s = setting(o, {
    expected: 'a comma-separated list (or an array of strings in the file)',
    accepts: 'list',
    parse(raw) {
      const items = typeof raw === 'string' ? raw.split(',') : raw;
      if (!Array.isArray(items) || !items.every((x) => typeof x === 'string')) return undefined;
      return items.map((x) => x.trim()).filter(Boolean);
    },
    format: (v) => v.join(',') || '(empty)',
  });
  return { ...s, emptyIsUnset: !o.emptyIsNone };
}

export function oneOf<const V extends string>(values: readonly V[], o: Options<V>): Setting<V> {
  return setting(o, {
    expected: `one of ${values.join(', ')}`,
    accepts: values.map((v) => `\`${v}\``).join(', '),
    parse: (raw) => values.find((v) => v === raw),
  });
}

type UidRange = [number, number] | null;

/** FIRST-LAST in the environment, [FIRST, LAST] in the file. */
export function uidRange(o: Options<UidRange>): Setting<UidRange> {
  return setting(o, {
    expected: 'a uid range FIRST-LAST with 1000 <= FIRST <= LAST',
    accepts: 'FIRST-LAST (uids ≥ 1000)',
    parse(raw) {
      const m =
        typeof raw === 'string'
          ? /^\s*(\d+)\s*-\s*(\d+)\s*$/.exec(raw)
          : Array.isArray(raw) && raw.length === 2
            ? ['', String(raw[0]), String(raw[1])]
            : null;
      const lo = Number(m?.[1]);
      const hi = Number(m?.[2]);
      const ok = m && Number.isSafeInteger(lo) && Number.isSafeInteger(hi) && lo >= 1000 && hi >= lo;
      return ok ? [lo, hi] : undefined;
    },
    format: (v) => (v ? `${v[0]}-${v[1]}` : '(none)'),
  });
}

function isGateway(g: unknown): g is GatewayConfig {
  if (typeof g !== 'object' || g === null) return false;
  const o = g as Record<string, unknown>;
  return (
    typeof o.url === 'string' &&
    /^https?:\/\/[^\s]+$/.test(o.url) &&
    (o.token === undefined || typeof o.token === 'string') &&
    Number.isSafeInteger(o.capacity) &&
    (o.capacity as number) >= 1 &&
    (o.specs === undefined || (Array.isArray(o.specs) && o.specs.every((x) => typeof x === 'string')))
  );
}

/** A JSON list in the environment, a list in the file; a missing token is ''. */
export function gateways(o: Options<GatewayConfig[]>): Setting<GatewayConfig[]> {
  return setting(o, {
    expected: 'a JSON list of {"url": "http(s)://…", "token", "capacity" >= 1, "specs"?}',
    accepts: 'JSON list',
    parse(raw) {
      let v = raw;
      if (typeof raw === 'string') {
        try {
          v = JSON.parse(raw);
        } catch {
          return undefined;
        }
      }
      if (!Array.isArray(v) || !v.every(isGateway)) return undefined;
      return v.map((g) => ({
        url: g.url,
        token: g.token ?? '',
        capacity: g.capacity,
        ...(g.specs ? { specs: g.specs } : {}),
      }));
    },
    format: (v) => JSON.stringify(v),
  });
}
