import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { DEBIAN_PYTHON, discoverSpecs, jupyterDataDirs } from '../../kernel-manager/specs.js';

const root = mkdtempSync(join(tmpdir(), 'runcell-specs-'));
// Kernel uids bind a spec's paths themselves: they must be able to reach them.
chmodSync(root, 0o755);
const policy = { uidRange: [77_000, 77_099] as [number, number], protect: [] };
afterAll(() => rmSync(root, { recursive: true, force: true }));

function spec(dir: string, name: string, json: unknown): void {
  mkdirSync(join(dir, 'kernels', name), { recursive: true });
  writeFileSync(
    join(dir, 'kernels', name, 'kernel.json'),
    typeof json === 'string' ? json : JSON.stringify(json),
  );
}

describe('kernelspecs', () => {
  const a = join(root, 'a');
  const b = join(root, 'b');
  spec(a, 'py', {
    argv: [DEBIAN_PYTHON, '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
    display_name: 'Py A',
    language: 'python',
    interrupt_mode: 'message',
    env: { FOO: 'bar' },
  });
  writeFileSync(join(a, 'kernels', 'py', 'logo-64x64.png'), 'png');
  spec(b, 'py', { argv: ['/nonexistent/python', '{connection_file}'], display_name: 'Py B' });
  spec(b, 'ghost', { argv: ['/nonexistent/python', '-f', '{connection_file}'], display_name: 'Ghost' });
  spec(b, 'broken', '{not json');
  spec(b, 'noconn', { argv: [DEBIAN_PYTHON, '-m', 'x'] });
  spec(b, 'badenv', { argv: [DEBIAN_PYTHON, '{connection_file}'], env: { A: 1 } });
  spec(b, 'bare', { argv: ['python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}'] });
  mkdirSync(join(root, 'opt', 'bin'), { recursive: true });
  const outsider = join(root, 'opt', 'bin', 'python');
  writeFileSync(outsider, '#!/bin/sh\n');
  chmodSync(outsider, 0o755);
  mkdirSync(join(root, 'private', 'bin'), { recursive: true, mode: 0o700 });
  chmodSync(join(root, 'private'), 0o700);
  const hidden = join(root, 'private', 'bin', 'python');
  writeFileSync(hidden, '#!/bin/sh\n');
  chmodSync(hidden, 0o755);
  spec(b, 'private', { argv: [hidden, '{connection_file}'] });
  spec(b, 'outside', { argv: [outsider, '{connection_file}'] });

  const env = { JUPYTER_PATH: b, JUPYTER_DATA_DIR: join(root, 'user'), HOME: root };
  const scan = discoverSpecs([a], policy, env);

  it('searches configured dirs, then JUPYTER_PATH, the user dir and the system dirs, in that order', () => {
    expect(jupyterDataDirs([a], env)).toEqual([
      a,
      b,
      join(root, 'user'),
      '/usr/local/share/jupyter',
      '/usr/share/jupyter',
    ]);
  });

  it('reads name, display name, language, argv, env, interrupt mode and resources; first dir wins', () => {
    const py = scan.specs.get('py');
    expect(py).toMatchObject({
      name: 'py',
      display_name: 'Py A',
      language: 'python',
      interrupt_mode: 'message',
      env: { FOO: 'bar' },
      dir: join(a, 'kernels', 'py'),
    });
    expect(py?.resources['logo-64x64']).toBe(join(a, 'kernels', 'py', 'logo-64x64.png'));
  });

  it('reports specs it cannot offer, with a reason, instead of offering them', () => {
    const reasons = Object.fromEntries(scan.unavailable.map((u) => [u.name, u.reason]));
    expect(reasons.ghost).toMatch(/interpreter \/nonexistent\/python not found/);
    expect(reasons.broken).toMatch(/not valid JSON/);
    expect(reasons.noconn).toMatch(/connection_file/);
    expect(reasons.badenv).toMatch(/env/);
    // A kernel uid could not even reach it (a dir of mode 0700 on the way).
    expect(reasons.private).toMatch(/not reachable by kernel uids: .*private has mode 700/);
    for (const n of ['ghost', 'broken', 'noconn', 'badenv', 'private']) expect(scan.specs.has(n)).toBe(false);
  });

  it("binds an interpreter's prefix outside /usr and the spec's own dir, read-only", () => {
    expect(scan.specs.get('outside')?.binds).toEqual([join(root, 'opt'), join(b, 'kernels', 'outside')]);
    // In the system view already: nothing to bind.
    expect(scan.specs.get('bare')?.binds).toEqual([join(b, 'kernels', 'bare')]);
  });

  it('resolves a bare interpreter name on the sandbox PATH, not the server PATH', () => {
    expect(scan.specs.get('bare')?.argv[0]).toBe('python3');
  });

  it('offers a python3 spec for Debian ipykernel when none is installed', () => {
    const empty = discoverSpecs([], policy, {
      JUPYTER_PATH: join(root, 'none'),
      JUPYTER_DATA_DIR: join(root, 'none'),
    });
    const py = empty.specs.get('python3');
    expect(py?.argv[0]).toBe(DEBIAN_PYTHON);
    expect(py?.language).toBe('python');
  });
});
