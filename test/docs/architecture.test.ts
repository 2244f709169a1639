// docs/architecture.md has a module table per source folder ("### `folder/`" and a table whose first
// column names each module in backticks). This keeps the tables and the files in step: a module added,
// moved or removed without its row fails here.
import { readdirSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';

const ROOT = join(import.meta.dirname, '..', '..');
const doc = readFileSync(join(ROOT, 'docs/architecture.md'), 'utf8');

/** Every folder of sources under the layout's top-level folders (bench/ and test/ excepted). */
function folders(dir: string): string[] {
  const out = [dir];
  for (const name of readdirSync(join(ROOT, dir)).sort()) {
    const rel = `${dir}/${name}`;
    if (
      statSync(join(ROOT, rel)).isDirectory() &&
      name !== 'migrations' &&
      name !== 'public' &&
      name !== 'dist'
    )
      out.push(...folders(rel));
  }
  return out;
}

function modules(dir: string): string[] {
  return readdirSync(join(ROOT, dir))
    .filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts') && !f.endsWith('.config.ts'))
    .sort();
}

/** The first-column names of the table under "### `dir/`". */
function documented(dir: string): string[] | undefined {
  const at = doc.indexOf(`### \`${dir}/\``);
  if (at < 0) return undefined;
  const rest = doc.slice(at).split('\n').slice(1);
  const rows: string[] = [];
  let inTable = false;
  for (const line of rest) {
    if (line.startsWith('|')) {
      inTable = true;
      const m = /^\|\s*`([^`]+)`/.exec(line);
      if (m?.[1]) rows.push(m[1]);
    } else if (inTable || line.startsWith('#')) break;
  }
  return rows.sort();
}

const FOLDERS = ['kernel-manager', 'server', 'shared', 'web/src', 'sdk', 'cli'].flatMap(folders);

describe('docs/architecture.md', () => {
  it.each(FOLDERS.filter((d) => modules(d).length > 0))('has a row for each module of %s/', (dir) => {
    expect(documented(dir), `no "### \`${dir}/\`" table`).toBeDefined();
    expect(documented(dir)).toEqual(modules(dir));
  });
});
