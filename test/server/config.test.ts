import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveConfig } from '../../kernel-manager/config.js';
import { defaultConfig } from '../../kernel-manager/index.js';
import { withSettingsDoc } from '../../server/config/docs.js';
import { didYouMean } from '../../server/config/load.js';
import {
  ConfigError,
  defaultServerConfig,
  explicitSettings,
  jobLimits,
  kernelManagerConfig,
  loadConfig,
  NOT_SETTINGS,
  SETTINGS,
} from '../../server/config.js';
import { defaultJobLimits } from '../../server/jobs/limits.js';

function configFile(content: unknown): string {
  const file = join(mkdtempSync(join(tmpdir(), 'rc-cfg-')), 'c.json');
  writeFileSync(file, JSON.stringify(content));
  return file;
}

function problems(env: Record<string, string>): string {
  try {
    loadConfig(env);
  } catch (e) {
    expect(e).toBeInstanceOf(ConfigError);
    return (e as Error).message;
  }
  return expect.unreachable('loadConfig accepted it');
}

describe('config', () => {
  it('defaults to 127.0.0.1:8888 with anonymous cells on', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8888, anonymous: true, dataDir: './data' });
  });

  it('reads the environment over the config file', () => {
    const c = loadConfig({
      RUNCELL_CONFIG: configFile({ port: 9000, poolSize: 3, tokens: ['a-very-long-token-123'] }),
      PORT: '9001',
      RUNCELL_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
    });
    expect(c.port).toBe(9001);
    expect(c.poolSize).toBe(3);
    expect(c.tokens).toEqual(['a-very-long-token-123']);
    expect(c.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  it('reports every bad value clearly', () => {
    const msg = problems({
      RUNCELL_CONFIG: configFile({ prot: 1 }),
      PORT: 'eighty',
      RUNCELL_ANONYMOUS: 'maybe',
      RUNCELL_SANDBOX: 'docker',
      RUNCELL_ALLOWED_ORIGINS: 'https://a.example/',
      RUNCELL_SANDBOX_UID_RANGE: '5-1',
    });
    expect(msg).toMatch(/PORT: expected an integer between 0 and 65535, got "eighty"/);
    expect(msg).toMatch(/RUNCELL_ANONYMOUS: expected true or false/);
    expect(msg).toMatch(/RUNCELL_SANDBOX: expected one of bwrap, none/);
    expect(msg).toMatch(/unknown setting "prot"/);
    expect(msg).toMatch(/no path, no slash/);
    expect(msg).toMatch(/RUNCELL_SANDBOX_UID_RANGE/);
    expect(() => loadConfig({ RUNCELL_ANONYMOUS: 'false' })).toThrow(/needs at least one token/);
    expect(() => loadConfig({ RUNCELL_CONFIG: '/nonexistent/x.json' })).toThrow(/cannot be read/);
  });

  it('checks values across settings and after overrides', () => {
    expect(problems({ RUNCELL_ALLOWED_ORIGINS: 'https://a.example/,*,http://b/c' })).toContain(
      'RUNCELL_ALLOWED_ORIGINS: "https://a.example/", "http://b/c" are not origins like https://example.org',
    );
    expect(problems({ RUNCELL_TOKENS: 'short' })).toMatch(/RUNCELL_TOKENS: every token needs 16 characters/);
    expect(problems({ RUNCELL_CONTENT_ORIGIN: 'https://u.example/x' })).toMatch(/RUNCELL_CONTENT_ORIGIN: "/);
    expect(problems({ RUNCELL_FORK_SPECS: 'auto,python3' })).toMatch(/'auto' cannot be combined/);
    expect(problems({ RUNCELL_STATS_SAMPLE_MS: '50' })).toMatch(
      /RUNCELL_STATS_SAMPLE_MS: 0 \(off\) or at least 100/,
    );
    expect(problems({ RUNCELL_POOL_SIZE: '5', RUNCELL_MAX_KERNELS: '4' })).toMatch(/cannot exceed/);
    expect(() => loadConfig({}, { poolSize: 60 })).toThrow(/RUNCELL_POOL_SIZE cannot exceed/);
  });

  it('accepts the same syntax as before: bools, lists, ranges, JSON, blanks', () => {
    const c = loadConfig({
      RUNCELL_TRUST_PROXY: ' Yes ',
      RUNCELL_HIDE_ARGV: 'off',
      RUNCELL_POOL_SPECS: ' python3 , ,ir ',
      RUNCELL_SANDBOX_UID_RANGE: ' 70000 - 70099 ',
      RUNCELL_MAX_KERNELS: ' 12 ',
      RUNCELL_GATEWAYS: '[{"url":"http://eg:8888","capacity":2}]',
      // An empty variable leaves a setting unset, except a string, which it sets to ''.
      RUNCELL_POOL_SIZE: '',
      RUNCELL_KERNEL_ID_PREFIX: '',
    });
    expect(c).toMatchObject({
      trustProxy: true,
      hideArgv: false,
      poolSpecs: ['python3', 'ir'],
      sandboxUidRange: [70000, 70099],
      maxKernels: 12,
      gateways: [{ url: 'http://eg:8888', token: '', capacity: 2 }],
      poolSize: defaultConfig().pool.size,
    });
    expect(explicitSettings(c).has('poolSize')).toBe(false);
    expect(explicitSettings(c).has('kernelIdPrefix')).toBe(true);
    const f = loadConfig({ RUNCELL_CONFIG: configFile({ sandboxUidRange: [70000, 70001], maxKernels: 3 }) });
    // The default pool floor (4) yields to the smaller cap; an explicit floor above the cap is refused.
    expect(f).toMatchObject({ sandboxUidRange: [70000, 70001], maxKernels: 3, poolSize: 3 });
    expect(resolveConfig(kernelManagerConfig(f)).pool.size).toBe(3);
    expect(() => loadConfig({ RUNCELL_MAX_KERNELS: '3', RUNCELL_POOL_SIZE: '4' })).toThrow(
      /RUNCELL_POOL_SIZE cannot exceed RUNCELL_MAX_KERNELS/,
    );
  });

  it('every default is a value its own setting accepts', () => {
    for (const [key, s] of Object.entries(SETTINGS)) {
      expect(s.parse(s.default as never), key).toEqual(s.default);
      expect(s.check?.(s.default as never), key).toBeUndefined();
    }
    // Plain data: nothing beyond the settings, and fresh copies every time.
    const a = defaultServerConfig();
    expect(Object.keys(a)).toEqual(Object.keys(SETTINGS));
    a.tokens.push('changed');
    expect(defaultServerConfig().tokens).toEqual([]);
    expect(Object.keys(loadConfig({ RUNCELL_POOL_SIZE: '1' }))).toEqual(Object.keys(SETTINGS));
  });

  it("kernel-manager's and the jobs service's settings default to their own defaults", () => {
    // A config not from loadConfig passes every setting on: the result is kernel-manager's defaults.
    expect(resolveConfig(kernelManagerConfig(defaultServerConfig()))).toEqual(defaultConfig());
    expect(jobLimits(defaultServerConfig())).toEqual(defaultJobLimits());
  });
});

describe('unknown settings', () => {
  it('refuses an unknown RUNCELL_* variable, suggesting the setting it is close to', () => {
    expect(problems({ RUNCELL_POOLSIZE: '3' })).toContain(
      'unknown setting RUNCELL_POOLSIZE; did you mean RUNCELL_POOL_SIZE?',
    );
    expect(problems({ RUNCELL_MAX_KERNEL: '3' })).toContain('did you mean RUNCELL_MAX_KERNELS?');
    expect(problems({ RUNCELL_PORT: '80' })).toContain('unknown setting RUNCELL_PORT; did you mean PORT?');
    expect(problems({ RUNCELL_TOKNES: 'x' })).toContain('did you mean RUNCELL_TOKENS?');
    expect(problems({ RUNCELL_FROBNICATE: '1' })).toMatch(/unknown setting RUNCELL_FROBNICATE$/m);
  });

  it('refuses an unknown key in the file the same way', () => {
    const msg = problems({ RUNCELL_CONFIG: configFile({ prot: 1, PoolSize: 2, frobnicate: 3 }) });
    expect(msg).toContain('config file: unknown setting "prot"; did you mean "port"?');
    expect(msg).toContain('config file: unknown setting "PoolSize"; did you mean "poolSize"?');
    expect(msg).toMatch(/unknown setting "frobnicate"$/m);
  });

  it('accepts the RUNCELL_* variables that are not settings, and names outside RUNCELL_*', () => {
    const env: Record<string, string> = { RUNCELL_CONFIG: configFile({}), PATH: '/usr/bin', POOLSIZE: '1' };
    for (const name of Object.keys(NOT_SETTINGS)) {
      if (name !== 'RUNCELL_CONFIG') env[name.replace(/\*$/, 'ANYTHING')] = 'x';
    }
    for (const name of ['RUNCELL_TEST_LOG', 'RUNCELL_TEST_PG_URL', 'RUNCELL_TEST_SECRET']) env[name] = 'x';
    expect(() => loadConfig(env)).not.toThrow();
  });

  it('suggests only what is near: case, _ and - ignored, a few edits at most', () => {
    const known = ['RUNCELL_POOL_SIZE', 'RUNCELL_POOL_SPECS', 'PORT'];
    expect(didYouMean('RUNCELL_POOL_SIZ', known)).toBe('; did you mean RUNCELL_POOL_SIZE?');
    expect(didYouMean('RUNCELL_POLO_SIZE', known)).toBe('; did you mean RUNCELL_POOL_SIZE?');
    expect(didYouMean('RUNCELL_PROT', known)).toBe('; did you mean PORT?');
    expect(didYouMean('RUNCELL_PIPE', known)).toBe('');
    expect(didYouMean('RUNCELL_POOL', known)).toBe('');
  });
});

describe('kernel-manager receives only what the operator set', () => {
  it('passes nothing when nothing is set, so its own defaults apply', () => {
    expect(kernelManagerConfig(loadConfig({}))).toEqual({});
  });

  it('passes what the environment, the file or an override set, even when equal to the default', () => {
    const c = loadConfig(
      {
        RUNCELL_CONFIG: configFile({ kernelIdleTimeoutMs: 1000, maxKernels: defaultConfig().maxKernels }),
        RUNCELL_POOL_SIZE: '4',
        RUNCELL_SANDBOX_UID_RANGE: '70000-70099',
        RUNCELL_FORK_SPECS: 'auto',
      },
      { sandboxRuntimeRoot: '/run/rc-t', kernelNice: 5, port: 0 },
    );
    expect(kernelManagerConfig(c)).toEqual({
      maxKernels: defaultConfig().maxKernels,
      pool: { size: 4 },
      limits: { idleTimeoutMs: 1000 },
      sandbox: { uidRange: [70000, 70099], runtimeRoot: '/run/rc-t', nice: 5 },
      fork: { specs: 'auto' },
    });
    expect([...explicitSettings(c)].sort()).toEqual(
      [
        'forkSpecs',
        'kernelIdleTimeoutMs',
        'kernelNice',
        'maxKernels',
        'poolSize',
        'port',
        'sandboxRuntimeRoot',
        'sandboxUidRange',
      ].sort(),
    );
  });

  it('turns the fork-server and the prelude off with an empty variable, and passes the pool bounds on', () => {
    const c = loadConfig({
      RUNCELL_FORK_SPECS: '',
      RUNCELL_KERNEL_PRELUDE: '',
      RUNCELL_POOL_MAX: '3',
      RUNCELL_POOL_PARALLEL_STARTS: '1',
    });
    expect(kernelManagerConfig(c)).toEqual({
      fork: { specs: [] },
      prelude: { python: [] },
      pool: { max: 3, parallel: 1 },
    });
    // Unset, they are kernel-manager's defaults: forks where the host allows, the Python prelude.
    const d = resolveConfig(kernelManagerConfig(loadConfig({})));
    expect(d.fork.specs).toBe('auto');
    expect(d.prelude.python).toEqual(['numpy', 'matplotlib.pyplot']);
    expect(() => loadConfig({ RUNCELL_KERNEL_PRELUDE: 'numpy,os;rm' })).toThrow(/RUNCELL_KERNEL_PRELUDE/);
  });

  it("leaves out '' and 0 where they stand for kernel-manager's default", () => {
    const c = loadConfig({ RUNCELL_SANDBOX_RUNTIME_ROOT: '', RUNCELL_SANDBOX_MEMORY_BYTES: '0' });
    expect(kernelManagerConfig(c)).toEqual({});
    expect(kernelManagerConfig(loadConfig({}, { sandboxUidRange: null }))).toEqual({});
  });

  it('maps every setting onto kernel-manager', () => {
    const c = loadConfig({
      RUNCELL_DEFAULT_KERNEL: 'ir',
      RUNCELL_KERNELSPEC_DIRS: '/k',
      RUNCELL_KERNEL_ID_PREFIX: 'r1-',
      RUNCELL_POOL_SPECS: 'ir',
      RUNCELL_QUEUE_MAX: '7',
      RUNCELL_QUEUE_TIMEOUT_MS: '8',
      RUNCELL_KERNEL_STARTUP_TIMEOUT_MS: '900',
      RUNCELL_KERNEL_MAX_LIFETIME_MS: '10',
      RUNCELL_EXECUTION_TIMEOUT_MS: '11',
      RUNCELL_EXECUTION_OUTPUT_BYTES: '12',
      RUNCELL_KERNEL_MESSAGE_BYTES: '2048',
      RUNCELL_SANDBOX: 'none',
      RUNCELL_SANDBOX_MEMORY_BYTES: '4096',
      RUNCELL_FORK_SPECS: 'ir',
      RUNCELL_PLACEMENT: 'remote',
      RUNCELL_GATEWAYS: '[]',
    });
    expect(kernelManagerConfig(c)).toEqual({
      defaultSpec: 'ir',
      specDirs: ['/k'],
      idPrefix: 'r1-',
      placement: 'remote',
      gateways: [],
      pool: { specs: ['ir'], queueMax: 7, queueTimeoutMs: 8 },
      limits: {
        startupTimeoutMs: 900,
        maxLifetimeMs: 10,
        executionWallMs: 11,
        executionOutputBytes: 12,
        maxMessageBytes: 2048,
      },
      sandbox: { mode: 'none', memoryBytes: 4096 },
      fork: { specs: ['ir'] },
    });
  });

  it('a copy of a loaded config passes everything on, to the same effect', () => {
    const c = loadConfig({ RUNCELL_POOL_SIZE: '1' });
    const copy = { ...c };
    expect(explicitSettings(copy).size).toBe(Object.keys(SETTINGS).length);
    expect(resolveConfig(kernelManagerConfig(copy))).toEqual(resolveConfig(kernelManagerConfig(c)));
  });
});

describe('docs/configuration.md', () => {
  it('holds the settings table generated from the schema (npm run docs:config)', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    expect(withSettingsDoc(doc), 'run `npm run docs:config`').toBe(doc);
  });
});
