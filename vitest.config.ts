import { defineConfig } from 'vitest/config';

// Three projects, run by `npm test` in turn:
// - unit: the fast tier (`npm run test:unit`): codecs, parsers, config, errors, framing, replay, limits,
//   the web renderers (in jsdom, by a `// @vitest-environment jsdom` line atop the file). No root, no network, no kernels, no database; test/unit-setup.ts
//   makes any process start or socket fail, so a test that needs them cannot hide here.
// - main: everything else, against real kernels in the real sandbox, real Postgres, a real browser.
// - isolated: files that load the machine heavily themselves (three server instances behind real
//   proxies, hostile code: fork bombs, floods): they run after the rest, one at a time, so their load
//   does not land on other suites.
// No test asserts a timing: figures are bench/'s (docs/performance.md).
const UNIT = [
  'test/shared/**/*.test.ts',
  'test/docs/**/*.test.ts',
  'test/web/**/*.test.ts',
  'test/cli/credentials.test.ts',
  'test/cli/output.test.ts',
  'test/kernel-manager/errors.test.ts',
  'test/kernel-manager/kernel-core.test.ts',
  'test/kernel-manager/wire.test.ts',
  'test/kernel-manager/specs.test.ts',
  'test/kernel-manager/pool-sizing.test.ts',
  'test/kernel-manager/pool.unit.test.ts',
  'test/kernel-manager/env-paths.test.ts',
  'test/kernel-manager/sandbox/tail.test.ts',
  'test/server/auth.test.ts',
  'test/server/config.test.ts',
  'test/server/logger.test.ts',
  'test/server/config/*.test.ts',
  'test/server/errors.test.ts',
  'test/server/error-handler.test.ts',
  'test/server/validation.test.ts',
  'test/server/limits.test.ts',
  'test/server/bridge/framing.test.ts',
  'test/server/bridge/headers.test.ts',
  'test/server/bridge/hold.test.ts',
  'test/server/bridge/hub.test.ts',
  'test/server/bridge/lifecycle.test.ts',
  'test/server/bridge/longpoll.unit.test.ts',
  'test/server/bridge/pages.test.ts',
  'test/server/bridge/pagepoll.unit.test.ts',
  'test/server/bridge/pagewake.test.ts',
  'test/server/bridge/refusals.test.ts',
  'test/server/bridge/replay.test.ts',
  'test/server/bridge/sessions.test.ts',
  'test/server/bridge/throttle.test.ts',
  'test/server/bridge/websocket.unit.test.ts',
  'test/server/store/filename.test.ts',
  'test/server/jobs/widgets.test.ts',
];
const ISOLATED = [
  'test/security/hostile-code.test.ts',
  // 10,000 widgets opened in one cell.
  'test/e2e/widgets-flood.test.ts',
  'test/scale/**/*.test.ts',
  // Stops and restarts the machine's Postgres, which every other suite uses.
  'test/faults/postgres.test.ts',
];

export default defineConfig({
  test: {
    // Real kernels start in ~1 s each on 2 cores; give suites room but fail loudly on hangs.
    testTimeout: 60_000,
    hookTimeout: 120_000,
    pool: 'forks',
    reporters: ['default'],
    projects: [
      {
        extends: true,
        test: {
          name: 'unit',
          include: UNIT,
          setupFiles: ['test/unit-setup.ts'],
          testTimeout: 10_000,
        },
      },
      {
        extends: true,
        test: {
          name: 'main',
          include: ['test/**/*.test.ts'],
          exclude: [...UNIT, ...ISOLATED],
          globalSetup: ['test/global-setup.ts'],
          // Files run in parallel (2 workers on CI's 2 cores); tests inside a file run in order.
          maxWorkers: 2,
        },
      },
      {
        extends: true,
        test: {
          name: 'isolated',
          include: ISOLATED,
          globalSetup: ['test/global-setup.ts'],
          maxWorkers: 1,
          fileParallelism: false,
        },
      },
    ],
  },
});
