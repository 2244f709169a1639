// What a kernelspec may show its kernels: prefixes derived from the interpreter (a venv and its base),
// and every path checked (writable by others, unreachable, a symlink out, runcell's or the sandbox's
// own trees). Also the probe's output parser: untrusted, capped.
import { chmodSync, chownSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { checkPath, interpreterPrefixes, specBinds } from '../../kernel-manager/env-paths.js';
import { parseProbe } from '../../kernel-manager/env-probe.js';
import { ENV_LIMITS } from '../../shared/environments.js';

const root = mkdtempSync(join(tmpdir(), 'runcell-env-paths-'));
chmodSync(root, 0o755);
afterAll(() => rmSync(root, { recursive: true, force: true }));
const policy = { uidRange: [77_000, 77_099] as [number, number], protect: [join(root, 'runcell')] };

function dir(name: string, mode = 0o755): string {
  const p = join(root, name);
  mkdirSync(p, { recursive: true });
  chmodSync(p, mode);
  return p;
}

describe('environment paths', () => {
  it("derives a venv's prefix and its base from pyvenv.cfg, and leaves out what /usr already shows", () => {
    const venv = dir('venv');
    dir('venv/bin');
    writeFileSync(join(venv, 'pyvenv.cfg'), 'home = /usr/bin\ninclude-system-site-packages = true\n');
    symlinkSync('/usr/bin/python3', join(venv, 'bin', 'python'));
    expect(interpreterPrefixes(join(venv, 'bin', 'python'))).toEqual([venv]);
    expect(interpreterPrefixes('/usr/bin/python3')).toEqual([]);
  });

  it('accepts a root-owned path under sticky /tmp, refuses world-writable and unreachable ones', () => {
    expect(checkPath(dir('ok'), [], policy)).toBeUndefined();
    expect(checkPath(dir('open', 0o777), [], policy)).toMatch(/writable by others \(mode 777\)/);
    const parent = dir('loose', 0o777);
    mkdirSync(join(parent, 'inner'), { mode: 0o755 });
    expect(checkPath(join(parent, 'inner'), [], policy)).toMatch(/loose is writable by others/);
    dir('closed', 0o700);
    const inner = dir('closed/inner');
    expect(checkPath(inner, [], policy)).toMatch(/not reachable by kernel uids/);
  });

  it('refuses a path a kernel uid owns', () => {
    const p = dir('owned');
    chownSync(p, 77_005, 0);
    expect(checkPath(p, [], policy)).toMatch(/writable by others/);
  });

  it('refuses a symlink out of the allowed trees, accepts one into them', () => {
    const target = dir('target');
    symlinkSync('/etc', join(root, 'to-etc'));
    symlinkSync(target, join(root, 'to-target'));
    expect(checkPath(join(root, 'to-etc'), [], policy)).toMatch(/symlink to \/etc, outside/);
    expect(checkPath(join(root, 'to-target'), [target], policy)).toBeUndefined();
    symlinkSync('/usr/lib', join(root, 'to-usr'));
    expect(checkPath(join(root, 'to-usr'), [], policy)).toBeUndefined();
  });

  it("refuses the sandbox's own mounts, broad trees, runcell's files, relative and missing paths", () => {
    for (const p of ['/', '/run', '/etc', '/etc/ssl', '/proc/1', '/home', '/tmp', '/usr', '/home/kernel/x']) {
      expect(checkPath(p, [], policy), p).toMatch(/must be absolute|would cover|too broad/);
    }
    expect(checkPath(dir('runcell'), [], policy)).toMatch(/runcell's own files/);
    expect(checkPath(root, [], policy)).toMatch(/runcell's own files/);
    expect(checkPath('relative/path', [], policy)).toMatch(/absolute/);
    expect(checkPath(join(root, 'missing'), [], policy)).toMatch(/does not exist/);
  });

  it('binds the outer tree once, and refuses the whole spec for one bad path', () => {
    const data = dir('data');
    const nested = dir('data/nested');
    const r = specBinds('/usr/bin/python3', '', { runcell: { paths: [nested, data] } }, {}, policy);
    expect(r).toEqual({ binds: [data] });
    expect(
      specBinds('/usr/bin/python3', '', { runcell: { paths: [data, join(root, 'open')] } }, {}, policy),
    ).toMatchObject({
      reason: expect.stringMatching(/writable by others/),
    });
    expect(specBinds('/usr/bin/python3', '', { runcell: { paths: 'x' } }, {}, policy)).toMatchObject({
      reason: expect.stringMatching(/list of absolute paths/),
    });
  });
});

describe('environment probe output', () => {
  const line = (o: unknown) => `noise\n@@runcell-env ${JSON.stringify(o)}\n`;

  it('reads the last summary line, keeping well-formed entries only', () => {
    const s = parseProbe(
      'python',
      line({ version: '3.11.2', packages: [['numpy', '1.24.2'], ['bad'], [1, 2], ['x'.repeat(200), '1']] }),
    );
    expect(s).toMatchObject({
      language: 'python',
      version: '3.11.2',
      packages: [{ name: 'numpy', version: '1.24.2' }],
      truncated: false,
    });
  });

  it('caps the list and says so', () => {
    const many = Array.from({ length: ENV_LIMITS.packages + 5 }, (_, i) => [`p${i}`, '1']);
    const s = parseProbe('python', line({ version: '3', packages: many }));
    expect(s.packages).toHaveLength(ENV_LIMITS.packages);
    expect(s.truncated).toBe(true);
  });

  it('fails without a summary line, and takes no version that is not a short string', () => {
    expect(() => parseProbe('python', 'Traceback…\n')).toThrow(/no summary/);
    expect(parseProbe('R', line({ version: { evil: 1 }, packages: null }))).toMatchObject({
      version: null,
      packages: null,
    });
  });
});
