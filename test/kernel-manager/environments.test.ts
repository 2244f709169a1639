// Environments an operator adds, in the real sandbox: a venv made with --system-site-packages and a
// module of its own, offered as a spec and importable, while a sibling dir nobody declared stays
// invisible; a declared data path shown read-only; a declared world-writable path refused; a kernel
// module beside kernel.json (an echo kernel); the environment summary; the start-up hook's notes.
import { execFileSync } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelManager } from '../../kernel-manager/index.js';
import { NETWORK_NOTE, PIP_NOTE } from '../../kernel-manager/sandbox/hooks.js';
import type { Kernel } from '../../kernel-manager/types.js';
import { pidsOfUids, run, testManager } from './helpers.js';

const SLOT = 162;
const LO = 61_000 + SLOT * 100;
// Kernel uids reach these paths themselves: everything on the way is 0755.
const root = mkdtempSync(join(tmpdir(), 'runcell-envs-'));
chmodSync(root, 0o755);
const venv = join(root, 'venv');
const secret = join(root, 'secret');
const data = join(root, 'data');
const open = join(root, 'open');
const jupyter = join(root, 'jupyter');

function spec(name: string, json: object, files: Record<string, string> = {}): void {
  const dir = join(jupyter, 'kernels', name);
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'kernel.json'), JSON.stringify(json));
  for (const [f, text] of Object.entries(files)) writeFileSync(join(dir, f), text);
}

const ECHO_KERNEL = `from ipykernel.kernelbase import Kernel

class EchoKernel(Kernel):
    implementation = "echo"
    implementation_version = "1.0"
    language_info = {"name": "echo", "mimetype": "text/plain", "file_extension": ".txt"}
    banner = "echo"

    def do_execute(self, code, silent, store_history=True, user_expressions=None, allow_stdin=False):
        if not silent:
            self.send_response(self.iopub_socket, "stream", {"name": "stdout", "text": code})
        return {"status": "ok", "execution_count": self.execution_count, "payload": [], "user_expressions": {}}

if __name__ == "__main__":
    from ipykernel.kernelapp import IPKernelApp
    IPKernelApp.launch_instance(kernel_class=EchoKernel)
`;

/** The execute_reply's content (empty when none came). */
const reply = (r: { reply?: { content: unknown } }) =>
  ({ traceback: [], ...(r.reply?.content ?? {}) }) as {
    status?: string;
    ename?: string;
    traceback: string[];
  };

let m: KernelManager;
let py: Kernel;

beforeAll(async () => {
  execFileSync('/usr/bin/python3', ['-m', 'venv', '--system-site-packages', '--without-pip', venv]);
  const site = join(
    venv,
    'lib',
    `python3.${/3\.(\d+)/.exec(execFileSync('/usr/bin/python3', ['--version']).toString())?.[1]}`,
    'site-packages',
  );
  writeFileSync(join(site, 'venvmod.py'), 'WHERE = "venv"\n');
  mkdirSync(join(site, 'venvmod-1.2.3.dist-info'));
  writeFileSync(
    join(site, 'venvmod-1.2.3.dist-info', 'METADATA'),
    'Metadata-Version: 2.1\nName: venvmod\nVersion: 1.2.3\n',
  );
  mkdirSync(secret);
  writeFileSync(join(secret, 'key.txt'), 'do not show');
  mkdirSync(data);
  writeFileSync(join(data, 'table.csv'), 'a,b\n1,2\n');
  mkdirSync(open);
  chmodSync(open, 0o777);
  const ipykernel = ['-m', 'ipykernel_launcher', '-f', '{connection_file}'];
  spec('venv', {
    argv: [join(venv, 'bin', 'python'), ...ipykernel],
    display_name: 'Python (venv)',
    language: 'python',
    metadata: { runcell: { paths: [data] } },
  });
  spec('writable', {
    argv: ['/usr/bin/python3', ...ipykernel],
    language: 'python',
    metadata: { runcell: { paths: [open] } },
  });
  spec('outside', {
    argv: ['/usr/bin/python3', ...ipykernel],
    language: 'python',
    metadata: { runcell: { paths: ['/run'] } },
  });
  spec(
    'echo',
    {
      argv: ['/usr/bin/python3', '-m', 'echo_kernel', '-f', '{connection_file}'],
      display_name: 'Echo',
      language: 'text',
      env: { PYTHONPATH: '{resource_dir}' },
    },
    { 'echo_kernel.py': ECHO_KERNEL },
  );
  m = await testManager(SLOT, { specDirs: [jupyter], pool: { size: 0 } });
  py = await m.start('venv');
});

afterAll(async () => {
  await m?.close();
  expect(pidsOfUids(LO, LO + 99)).toEqual([]);
  rmSync(root, { recursive: true, force: true });
});

describe('environments', () => {
  it('runs a venv with its own module and the system site packages; an undeclared sibling stays invisible', async () => {
    const binds = m.specs().find((s) => s.name === 'venv')?.binds ?? [];
    expect([...binds].sort()).toEqual([data, join(jupyter, 'kernels', 'venv'), venv].sort());
    const r = await run(
      py,
      `import sys, os, venvmod, numpy
print(sys.prefix == ${JSON.stringify(venv)}, venvmod.WHERE, numpy.__name__)
print(os.path.exists(${JSON.stringify(secret)}), os.path.exists(${JSON.stringify(root)}), sorted(os.listdir(${JSON.stringify(root)})))`,
    );
    expect(r.stdout).toBe(`True venv numpy\nFalse True ['data', 'jupyter', 'venv']\n`);
  });

  it('shows declared paths read-only', async () => {
    const r = await run(
      py,
      `print(open(${JSON.stringify(join(data, 'table.csv'))}).read().split()[1])
try:
    open(${JSON.stringify(join(data, 'new.txt'))}, "w")
except OSError as e:
    print(e.strerror)`,
    );
    expect(r.stdout).toBe('1,2\nRead-only file system\n');
  });

  it('refuses a spec whose declared path is world-writable, or would uncover runcell or the sandbox', () => {
    const why = Object.fromEntries(m.unavailableSpecs().map((u) => [u.name, u.reason]));
    expect(why.writable).toMatch(new RegExp(`${open} is writable by others \\(mode 777\\)`));
    expect(why.outside).toMatch(/would cover the sandbox's own \/run\/kernel|too broad/);
    expect(m.specs().map((s) => s.name)).not.toContain('writable');
  });

  it('runs a kernel module that lives beside kernel.json (an echo kernel)', async () => {
    const echo = await m.start('echo');
    const r = await run(echo, 'hello from the echo kernel');
    expect(r.stdout).toBe('hello from the echo kernel');
    expect(echo.info?.implementation).toBe('echo');
    await echo.shutdown();
  });

  it("summarizes the venv's environment: its own package and the system's", async () => {
    const env = await m.environment('venv');
    expect(env.version).toMatch(/^3\.\d+\.\d+$/);
    expect(env.packages).toEqual(expect.arrayContaining([{ name: 'venvmod', version: '1.2.3' }]));
    expect((env.packages ?? []).map((p) => p.name)).toEqual(expect.arrayContaining(['ipykernel', 'numpy']));
    expect(env.truncated).toBe(false);
    // No probe for an unknown language: the language alone, no error.
    expect(await m.environment('echo')).toMatchObject({ language: 'text', packages: null, version: null });
  });

  it('ends a network error with one note; other errors are untouched', async () => {
    const web = await run(
      py,
      'import urllib.request\nurllib.request.urlopen("http://example.com/", timeout=5)',
    );
    const err = web.messages.find((x) => x.header.msg_type === 'error')?.content as {
      traceback: string[];
      ename: string;
    };
    expect(err.ename).toBe('URLError');
    expect(err.traceback.at(-1)).toBe(NETWORK_NOTE);
    expect(err.traceback.filter((l) => l === NETWORK_NOTE)).toHaveLength(1);
    const route = await run(py, 'import socket\nsocket.create_connection(("10.1.2.3", 80), timeout=5)');
    expect(reply(route).traceback.at(-1)).toBe(NETWORK_NOTE);
    const file = await run(py, 'open("/nonexistent/file")');
    const tb = reply(file).traceback;
    expect(tb.at(-1)).toMatch(/FileNotFoundError/);
    expect(tb.join('\n')).not.toContain('runcell');
    const local = await run(py, 'import socket\nsocket.create_connection(("127.0.0.1", 9), timeout=5)');
    expect(reply(local).ename).toBe('ConnectionRefusedError');
    expect(reply(local).traceback.join('\n')).not.toContain(NETWORK_NOTE);
  });

  it('explains %pip install and !pip install, and %pip list lists what is there', async () => {
    expect((await run(py, '%pip install pandas')).stdout).toBe(`${PIP_NOTE}\n`);
    expect((await run(py, '!pip install requests')).stdout).toBe(`${PIP_NOTE}\n`);
    expect((await run(py, '!python3 -m pip install requests')).stdout).toBe(`${PIP_NOTE}\n`);
    expect((await run(py, '%pip list')).stdout).toMatch(/^venvmod\s+1\.2\.3$/m);
    // Other shell commands are unchanged.
    expect((await run(py, '!echo shell ok')).stdout).toMatch(/^shell ok\r?\n$/);
  });
});
