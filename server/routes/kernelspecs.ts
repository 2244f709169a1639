// GET /api/kernelspecs, /api/kernelspecs/:name and the spec's resource files (/kernelspecs/:name/:file),
// in Jupyter Server's shapes. argv, env and the spec's declared host paths are hidden by default: they
// describe the host, not the kernel. Each model also carries `environment`, what the spec's environment
// holds (shared/environments.ts); GET /api/environments lists just those, for one-shot and SDK users.
import { createReadStream } from 'node:fs';
import { basename, extname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { JsonObject, KernelManager, KernelSpecInfo } from '../../kernel-manager/index.js';
import type { EnvironmentInfo, EnvironmentSummary } from '../../shared/environments.js';
import type { AppContext } from '../context.js';
import { NoSuchSpec, NotFound } from '../errors.js';

const TYPES: Record<string, string> = {
  '.png': 'image/png',
  '.svg': 'image/svg+xml',
  '.js': 'text/javascript',
};

/**
 * The spec's resources as Jupyter Server lists them: logos under their name without extension, other
 * files (kernel.js) under their file name, each with the URL of the file, extension included.
 */
function resourceUrls(s: KernelSpecInfo): Record<string, string> {
  const resources: Record<string, string> = {};
  for (const path of Object.values(s.resources)) {
    const file = basename(path);
    const key = file.startsWith('logo-') ? file.replace(/\.[^.]+$/, '') : file;
    resources[key] = `/kernelspecs/${encodeURIComponent(s.name)}/${encodeURIComponent(file)}`;
  }
  return resources;
}

/** A resource's file: by its file name (Jupyter Server's URLs) or, as before, by its name without extension. */
function resourceFile(s: KernelSpecInfo | undefined, file: string): string | undefined {
  if (!s) return undefined;
  if (Object.hasOwn(s.resources, file)) return s.resources[file];
  return Object.values(s.resources).find((path) => basename(path) === file);
}

/** How long a request waits for a probe still running (they start with the server and take ~0.3 s):
 * the list, which Jupyter clients fetch as they connect, only briefly; one spec's model longer. */
const LIST_WAIT_MS = 2_000;
const PROBE_WAIT_MS = 10_000;

/** The spec's environment summary, or null if its probe has not finished within `waitMs`. */
async function environmentOf(
  m: KernelManager,
  name: string,
  waitMs: number,
): Promise<EnvironmentSummary | null> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<null>((r) => {
    timer = setTimeout(() => r(null), waitMs);
  });
  try {
    return await Promise.race([m.environment(name).catch(() => null), late]);
  } finally {
    clearTimeout(timer);
  }
}

/** metadata without `runcell.paths` (host paths) when argv is hidden. */
function publicMetadata(metadata: JsonObject, hide: boolean): JsonObject {
  const rc = metadata.runcell;
  if (!hide || typeof rc !== 'object' || rc === null || Array.isArray(rc) || !('paths' in rc))
    return metadata;
  const { paths: _, ...rest } = rc as JsonObject;
  return { ...metadata, runcell: rest };
}

function specModel(s: KernelSpecInfo, hideArgv: boolean, environment: EnvironmentSummary | null) {
  const resources = resourceUrls(s);
  return {
    name: s.name,
    spec: {
      argv: hideArgv ? [] : s.argv,
      env: hideArgv ? {} : s.env,
      display_name: s.display_name,
      language: s.language,
      interrupt_mode: s.interrupt_mode,
      metadata: publicMetadata(s.metadata, hideArgv),
    },
    resources,
    environment,
  };
}

export function registerKernelspecs(app: FastifyInstance, ctx: AppContext): void {
  const config = { access: { auth: 'cell' as const } };
  const find = (name: string) => ctx.manager.specs().find((s) => s.name === name);

  const environments = (specs: KernelSpecInfo[]) =>
    Promise.all(specs.map((s) => environmentOf(ctx.manager, s.name, LIST_WAIT_MS)));

  app.get('/api/kernelspecs', { config }, async () => {
    const specs = ctx.manager.specs();
    const envs = await environments(specs);
    const kernelspecs: Record<string, unknown> = {};
    specs.forEach((s, i) => {
      kernelspecs[s.name] = specModel(s, ctx.config.hideArgv, envs[i] ?? null);
    });
    return { default: ctx.manager.defaultSpec, kernelspecs };
  });

  app.get<{ Params: { name: string } }>('/api/kernelspecs/:name', { config }, async (req) => {
    const s = find(req.params.name);
    if (!s) throw new NoSuchSpec(`no kernelspec named "${req.params.name}"`);
    return specModel(s, ctx.config.hideArgv, await environmentOf(ctx.manager, s.name, PROBE_WAIT_MS));
  });

  app.get('/api/environments', { config }, async () => {
    const specs = ctx.manager.specs();
    const envs = await environments(specs);
    const list: EnvironmentInfo[] = specs.map((s, i) => ({
      name: s.name,
      display_name: s.display_name,
      language: s.language,
      environment: envs[i] ?? null,
    }));
    return { default: ctx.manager.defaultSpec, environments: list };
  });

  app.get<{ Params: { name: string; file: string } }>(
    '/kernelspecs/:name/:file',
    { config: { access: { auth: 'public' } } },
    async (req, reply) => {
      // Only files kernel-manager listed as the spec's resources: never a path from the request.
      const path = resourceFile(find(req.params.name), req.params.file);
      if (!path) throw new NotFound('no such kernelspec resource');
      reply.header('content-type', TYPES[extname(path)] ?? 'application/octet-stream');
      reply.header('cache-control', 'public, max-age=3600');
      return reply.send(createReadStream(path));
    },
  );
}
