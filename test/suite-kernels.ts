// Kernel settings every test server uses unless a test sets its own: the suite's CPU budget on 2 cores.
// Plain sandboxed starts (no fork-server zygote per test file), no prelude (numpy and matplotlib in
// every kernel), and a pool that stays at its size instead of growing with demand. The product's
// defaults (fork-server, prelude, demand-sized pool) run in test/kernel-manager/pool-burst.test.ts and
// test/kernel-manager/fork.test.ts.
import type { ServerConfig } from '../server/config.js';

export const SUITE_KERNELS = { forkSpecs: [], kernelPrelude: [], poolMax: 0 } satisfies Partial<ServerConfig>;
