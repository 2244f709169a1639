// Runs every benchmark under bench/ one after the other (each in its own process), or the ones named:
//   npm run bench [-- kernel-manager server-websocket ...]
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const skip = new Set(['run.ts', 'stats.ts']);
const all = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !skip.has(f))
  .map((f) => f.replace(/\.ts$/, ''));
const chosen = process.argv.length > 2 ? process.argv.slice(2) : all;
let failed = 0;
for (const name of chosen) {
  if (!all.includes(name)) {
    console.error(`no benchmark named ${name}; have: ${all.join(', ')}`);
    process.exit(2);
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`)], { stdio: 'inherit' });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
