import { defineConfig } from 'vitest/config';

// Files whose assertions compare timings against a quiet machine (a victim's round trip during an
// attack) or that load the machine heavily themselves (three server instances behind real proxies):
// they run after the rest, one at a time. `npm test` runs both projects in turn.
const ISOLATED = ['test/security/hostile-code.test.ts', 'test/scale/**/*.test.ts'];

export default defineConfig({
  test: {
    globalSetup: ['test/global-setup.ts'],
    // Real kernels start in ~1 s each on 2 cores; give suites room but fail loudly on hangs.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: ISOLATED,
          // Files run in parallel (2 workers on CI's 2 cores); tests inside a file run in order.
          maxWorkers: 2,
        },
      },
      {
        extends: true,
        test: { name: 'isolated', include: ISOLATED, maxWorkers: 1, fileParallelism: false },
      },
    ],
  },
});
