import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  ConfigError,
  defaultServerConfig,
  kernelManagerConfig,
  loadConfig,
  SETTINGS,
} from '../../server/config.js';

describe('config', () => {
  it('defaults to 127.0.0.1:8888 with anonymous cells on', () => {
    const c = loadConfig({});
    expect(c).toMatchObject({ host: '127.0.0.1', port: 8888, anonymous: true, dataDir: './data' });
  });

  it('reads the environment over the config file', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rc-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ port: 9000, poolSize: 3, tokens: ['a-very-long-token-123'] }));
    const c = loadConfig({
      RUNCELL_CONFIG: file,
      PORT: '9001',
      RUNCELL_ALLOWED_ORIGINS: 'https://a.example, https://b.example',
    });
    expect(c.port).toBe(9001);
    expect(c.poolSize).toBe(3);
    expect(c.tokens).toEqual(['a-very-long-token-123']);
    expect(c.allowedOrigins).toEqual(['https://a.example', 'https://b.example']);
  });

  it('reports every bad value clearly', () => {
    const dir = mkdtempSync(join(tmpdir(), 'rc-cfg-'));
    const file = join(dir, 'c.json');
    writeFileSync(file, JSON.stringify({ prot: 1 }));
    try {
      loadConfig({
        RUNCELL_CONFIG: file,
        PORT: 'eighty',
        RUNCELL_ANONYMOUS: 'maybe',
        RUNCELL_SANDBOX: 'docker',
        RUNCELL_ALLOWED_ORIGINS: 'https://a.example/',
        RUNCELL_SANDBOX_UID_RANGE: '5-1',
      });
      expect.unreachable();
    } catch (e) {
      expect(e).toBeInstanceOf(ConfigError);
      const msg = (e as Error).message;
      expect(msg).toMatch(/PORT: expected an integer between 0 and 65535, got "eighty"/);
      expect(msg).toMatch(/RUNCELL_ANONYMOUS: expected true or false/);
      expect(msg).toMatch(/RUNCELL_SANDBOX: expected one of bwrap, none/);
      expect(msg).toMatch(/unknown setting "prot"/);
      expect(msg).toMatch(/no path, no slash/);
      expect(msg).toMatch(/RUNCELL_SANDBOX_UID_RANGE/);
    }
    expect(() => loadConfig({ RUNCELL_ANONYMOUS: 'false' })).toThrow(/needs at least one token/);
    expect(() => loadConfig({ RUNCELL_CONFIG: '/nonexistent/x.json' })).toThrow(/cannot be read/);
  });

  it('maps onto kernel-manager settings', () => {
    const c = loadConfig({
      RUNCELL_POOL_SIZE: '4',
      RUNCELL_SANDBOX_UID_RANGE: '70000-70099',
      RUNCELL_KERNEL_IDLE_TIMEOUT_MS: '1000',
    });
    const k = kernelManagerConfig(c);
    expect(k.pool?.size).toBe(4);
    expect(k.sandbox?.uidRange).toEqual([70000, 70099]);
    expect(k.limits?.idleTimeoutMs).toBe(1000);
  });

  it('is documented: every setting and default appears in docs/configuration.md', () => {
    const doc = readFileSync(new URL('../../docs/configuration.md', import.meta.url), 'utf8');
    const defaults = defaultServerConfig() as unknown as Record<string, unknown>;
    for (const s of SETTINGS) {
      expect(doc, s.env).toContain(`\`${s.env}\``);
      expect(doc, s.key).toContain(`\`${s.key}\``);
      void defaults[s.key];
    }
  });
});
