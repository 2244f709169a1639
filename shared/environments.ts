// What a kernelspec's environment holds, as GET /api/kernelspecs/:name, GET /api/environments, the SDK
// and the embed's "Packages" list show it: gathered once per spec by a sandboxed probe at start-up
// (kernel-manager/env-probe.ts), size-capped.
import { type Static, Type } from 'typebox';

/** Caps on a summary: a conda prefix may hold thousands of packages; the answer stays small. */
export const ENV_LIMITS = { packages: 2_000, name: 128, version: 64 } as const;

export const EnvPackage = Type.Object({
  name: Type.String({ maxLength: ENV_LIMITS.name }),
  version: Type.String({ maxLength: ENV_LIMITS.version }),
});
export type EnvPackage = Static<typeof EnvPackage>;

export const EnvironmentSummary = Type.Object({
  /** The kernelspec's language (python, R, …). */
  language: Type.String(),
  /** The language's version inside the sandbox (e.g. 3.11.2); null when it could not be learnt. */
  version: Type.Union([Type.String({ maxLength: ENV_LIMITS.version }), Type.Null()]),
  /** Installed packages (distributions for Python, installed.packages() for R), sorted by name;
   * null for a language runcell has no probe for, or when the probe failed. */
  packages: Type.Union([Type.Array(EnvPackage, { maxItems: ENV_LIMITS.packages }), Type.Null()]),
  /** More packages than ENV_LIMITS.packages: the list holds the first ones. */
  truncated: Type.Boolean(),
  /** When the probe ran (ISO 8601). */
  probed_at: Type.String(),
  /** Why the probe failed, if it did (host paths removed). */
  error: Type.Optional(Type.String()),
});
export type EnvironmentSummary = Static<typeof EnvironmentSummary>;

/** One environment as GET /api/environments lists it. */
export const EnvironmentInfo = Type.Object({
  name: Type.String(),
  display_name: Type.String(),
  language: Type.String(),
  /** null while the probe has not finished. */
  environment: Type.Union([EnvironmentSummary, Type.Null()]),
});
export type EnvironmentInfo = Static<typeof EnvironmentInfo>;
