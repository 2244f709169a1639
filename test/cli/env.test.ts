// `runcell env add` as an operator runs it: the real CLI in a process of its own, writing a kernelspec
// and validating it with a real sandboxed kernel (server/env-check.ts), with the configuration from
// RUNCELL_* variables; bad names and unsafe paths are refused and leave nothing behind.
import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { pidsOfUids } from '../kernel-manager/helpers.js';

const SLOT = 163;
const LO = 61_000 + SLOT * 100;
const root = mkdtempSync(join(tmpdir(), 'runcell-env-cli-'));
chmodSync(root, 0o755);
const data = join(root, 'data');
mkdirSync(data, { mode: 0o755 });
const open = join(root, 'open');
mkdirSync(open);
chmodSync(open, 0o777);

afterAll(() => {
  rmSync(root, { recursive: true, force: true });
  expect(pidsOfUids(LO, LO + 99)).toEqual([]);
});

function cli(...args: string[]) {
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'cli/runcell.ts', 'env', ...args], {
    encoding: 'utf8',
    env: {
      PATH: process.env.PATH,
      RUNCELL_SANDBOX_UID_RANGE: `${LO}-${LO + 99}`,
      RUNCELL_SANDBOX_RUNTIME_ROOT: `/run/rc-t${SLOT}`,
      RUNCELL_DATA_DIR: join(root, 'server-data'),
    },
  });
  return { code: r.status, out: r.stdout, err: r.stderr };
}

describe('runcell env add', () => {
  it('writes the kernelspec, starts a sandboxed kernel of it and says what it found', () => {
    const r = cli(
      'add',
      'sci',
      '--python',
      '/usr/bin/python3',
      '--display-name',
      'Python (sci)',
      '--paths',
      data,
      '--dir',
      root,
    );
    expect(r.err).toBe('');
    expect(r.code).toBe(0);
    expect(r.out).toMatch(
      /^Added environment "sci" \(.*kernels\/sci\/kernel\.json\): Python 3\.\d+\.\d+, \d+ packages; a sandboxed kernel started in \d+\.\d s\.\nRestart the server to offer it\.\n$/,
    );
    const spec = JSON.parse(readFileSync(join(root, 'kernels', 'sci', 'kernel.json'), 'utf8'));
    expect(spec).toEqual({
      argv: ['/usr/bin/python3', '-m', 'ipykernel_launcher', '-f', '{connection_file}'],
      display_name: 'Python (sci)',
      language: 'python',
      metadata: { runcell: { paths: [data] } },
    });
    // An existing spec is kept unless --force.
    const again = cli('add', 'sci', '--python', '/usr/bin/python3', '--dir', root);
    expect(again.code).toBe(2);
    expect(again.err).toMatch(/exists \(--force replaces it\)/);
  });

  it('refuses a spec whose declared path kernels could write, and removes it', () => {
    const r = cli('add', 'unsafe', '--python', '/usr/bin/python3', '--paths', open, '--dir', root, '--json');
    expect(r.code).toBe(1);
    expect(JSON.parse(r.out)).toMatchObject({
      ok: false,
      reason: expect.stringMatching(/writable by others \(mode 777\)/),
    });
    expect(existsSync(join(root, 'kernels', 'unsafe'))).toBe(false);
  });

  it('answers bad usage with a message and exit code 2', () => {
    expect(cli('add', 'bad name!', '--python', '/usr/bin/python3', '--dir', root)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/NAME: letters/),
    });
    expect(cli('add', 'x', '--python', 'python3', '--dir', root)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/absolute path/),
    });
    expect(cli('add', 'x', '--python', '/nonexistent/python', '--dir', root)).toMatchObject({
      code: 2,
      err: expect.stringMatching(/not an executable/),
    });
    expect(cli('frobnicate')).toMatchObject({ code: 2, err: expect.stringMatching(/unknown env command/) });
    expect(existsSync(join(root, 'kernels', 'x'))).toBe(false);
  });
});
