// GET /api/kernelspecs, /api/kernelspecs/:name and the spec's resource files (/kernelspecs/:name/:file),
// in Jupyter Server's shapes. argv and env are hidden by default: they describe the host, not the kernel.
import { createReadStream } from 'node:fs';
import { basename, extname } from 'node:path';
import type { FastifyInstance } from 'fastify';
import type { KernelSpecInfo } from '../../kernel-manager/index.js';
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

function specModel(s: KernelSpecInfo, hideArgv: boolean) {
  const resources = resourceUrls(s);
  return {
    name: s.name,
    spec: {
      argv: hideArgv ? [] : s.argv,
      env: hideArgv ? {} : s.env,
      display_name: s.display_name,
      language: s.language,
      interrupt_mode: s.interrupt_mode,
      metadata: s.metadata,
    },
    resources,
  };
}

export function registerKernelspecs(app: FastifyInstance, ctx: AppContext): void {
  const config = { access: { auth: 'cell' as const } };
  const find = (name: string) => ctx.manager.specs().find((s) => s.name === name);

  app.get('/api/kernelspecs', { config }, async () => {
    const kernelspecs: Record<string, unknown> = {};
    for (const s of ctx.manager.specs()) kernelspecs[s.name] = specModel(s, ctx.config.hideArgv);
    return { default: ctx.manager.defaultSpec, kernelspecs };
  });

  app.get<{ Params: { name: string } }>('/api/kernelspecs/:name', { config }, async (req) => {
    const s = find(req.params.name);
    if (!s) throw new NoSuchSpec(`no kernelspec named "${req.params.name}"`);
    return specModel(s, ctx.config.hideArgv);
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
