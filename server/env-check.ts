// `node dist/server/env-check.js NAME`: validates one kernelspec as the server would run it (its
// configuration from the same RUNCELL_* variables and config file): its paths are checked, a sandboxed
// kernel of it is started and runs a cell, and its environment is probed. Prints one JSON line and
// exits 0, or prints why not and exits 1. `runcell env add` (cli/env.ts) runs it after writing a spec.
import { resolve } from 'node:path';
import { KernelManager } from '../kernel-manager/index.js';
import { ConfigError, kernelManagerConfig, loadConfig } from './config.js';
import { createLogger } from './logger.js';

export interface EnvCheck {
  name: string;
  ok: boolean;
  reason?: string;
  language?: string;
  version?: string | null;
  packages?: number | null;
  startMs?: number;
  binds?: string[];
}

async function check(name: string): Promise<EnvCheck> {
  const config = loadConfig();
  const logger = await createLogger('silent');
  const m = await KernelManager.create(
    {
      ...kernelManagerConfig(config),
      hidePaths: [resolve(config.dataDir)],
      // Only this spec, only once, here: no pool, no fork-server, no gateways.
      defaultSpec: 'python3',
      pool: { size: 0, specs: [] },
      fork: { specs: [] },
      gateways: [],
      placement: 'local',
    },
    logger,
  );
  try {
    const unavailable = m.unavailableSpecs().find((u) => u.name === name);
    const spec = m.specs().find((s) => s.name === name);
    if (!spec)
      return { name, ok: false, reason: unavailable?.reason ?? 'no kernelspec of that name was found' };
    const t0 = Date.now();
    const k = await m.start(name);
    const startMs = Date.now() - t0;
    let status = 'ok';
    for await (const msg of k.execute('1', { silent: true })) {
      if (msg.header.msg_type === 'execute_reply') status = String(msg.content.status);
    }
    await k.shutdown();
    if (status !== 'ok')
      return { name, ok: false, reason: `the kernel started but a cell failed (${status})` };
    const env = await m.environment(name);
    return {
      name,
      ok: true,
      language: env.language,
      version: env.version,
      packages: env.packages?.length ?? null,
      startMs,
      binds: spec.binds,
      ...(env.error ? { reason: `the environment probe failed: ${env.error}` } : {}),
    };
  } catch (e) {
    const output = (e as { output?: string }).output;
    return { name, ok: false, reason: `${(e as Error).message}${output ? `\n${output}` : ''}` };
  } finally {
    await m.close();
  }
}

const name = process.argv[2];
if (!name) {
  process.stderr.write('usage: env-check NAME\n');
  process.exit(2);
}
try {
  const r = await check(name);
  process.stdout.write(`${JSON.stringify(r)}\n`);
  process.exit(r.ok ? 0 : 1);
} catch (e) {
  process.stderr.write(`runcell: ${e instanceof ConfigError ? e.message : (e as Error).message}\n`);
  process.exit(2);
}
