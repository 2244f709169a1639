import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    globalSetup: ['test/global-setup.ts'],
    // Real kernels start in ~1 s each on 2 cores; give suites room but fail loudly on hangs.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    // Files run in parallel (2 workers on CI's 2 cores); tests inside a file run in order.
    maxWorkers: 2,
    reporters: ['default'],
  },
});
