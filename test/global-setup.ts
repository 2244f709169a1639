// Runs once around the whole suite: afterwards no kernel process of any test may be left behind.
// Enforced when CI is set (nothing else runs kernels there); locally, other runs may share the machine,
// so it only warns.
import { readdirSync, readFileSync } from 'node:fs';

/** Every uid the tests hand to kernels: test files use blocks from 61000 (the security suite's slots
 * 50-59 map to 70000-70999), the default range otherwise. */
const RANGES: [number, number][] = [
  [61_000, 70_999],
  [1_800_000_000, 1_800_000_999],
];

function orphans(): string[] {
  const found: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      const uid = Number(/^Uid:\s+(\d+)/m.exec(status)?.[1]);
      if (/^State:\s+Z/m.test(status)) continue;
      if (RANGES.some(([lo, hi]) => uid >= lo && uid <= hi)) {
        const name = /^Name:\s+(.*)$/m.exec(status)?.[1];
        found.push(`pid ${d} uid ${uid} ${name}`);
      }
    } catch {
      // Exited meanwhile.
    }
  }
  return found;
}

function fail(message: string): void {
  if (process.env.CI) throw new Error(message);
  console.warn(`warning: ${message}`);
}

export function setup(): void {
  const left = orphans();
  if (left.length > 0) fail(`kernel processes are running before the suite: ${left.join('; ')}`);
}

export async function teardown(): Promise<void> {
  // Kernels are killed synchronously by their tests' afterAll; allow a moment for reaping.
  const deadline = Date.now() + 5_000;
  let left = orphans();
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 200));
    left = orphans();
  }
  if (left.length > 0) fail(`orphan kernel processes after the suite: ${left.join('; ')}`);
}
