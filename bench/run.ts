// Runs every benchmark under bench/ one after the other (each in its own process), or the ones named:
//   npm run bench [-- kernel-manager server-websocket ...]
// Arguments from the first `--flag` on are passed to each benchmark named (npm run bench -- soak --minutes 3).
import { spawnSync } from 'node:child_process';
import { readdirSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const here = dirname(fileURLToPath(import.meta.url));
const skip = new Set(['run.ts', 'stats.ts']);
const all = readdirSync(here)
  .filter((f) => f.endsWith('.ts') && !skip.has(f))
  .map((f) => f.replace(/\.ts$/, ''));
// Run only when named: the soak run takes 30 minutes.
const onlyNamed = new Set(['soak']);
const args = process.argv.slice(2);
const flagsAt = args.findIndex((a) => a.startsWith('--'));
const names = flagsAt < 0 ? args : args.slice(0, flagsAt);
const flags = flagsAt < 0 ? [] : args.slice(flagsAt);
const chosen = names.length > 0 ? names : all.filter((n) => !onlyNamed.has(n));
let failed = 0;
for (const name of chosen) {
  if (!all.includes(name)) {
    console.error(`no benchmark named ${name}; have: ${all.join(', ')}`);
    process.exit(2);
  }
  const r = spawnSync(process.execPath, ['--import', 'tsx', join(here, `${name}.ts`), ...flags], {
    stdio: 'inherit',
  });
  if (r.status !== 0) failed++;
}
process.exit(failed ? 1 : 0);
