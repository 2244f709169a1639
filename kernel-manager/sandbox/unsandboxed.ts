// mode 'none': the kernel runs as the server's own user with the server's view of the system. For
// development only; createSandbox logs it loudly. Same interface, so the rest of kernel-manager does
// not care.
import { spawn } from 'node:child_process';
import { mkdtemp, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { removeTreeNoFollow } from './procs.js';
import { OutputTail } from './tail.js';
import type { ExitInfo, LaunchRequest, SandboxedProcess } from './types.js';

async function runtimeDir(root: string): Promise<string> {
  try {
    return await mkdtemp(`${root}/n-`);
  } catch {
    return await mkdtemp(`${tmpdir()}/runcell-`);
  }
}

export async function launchUnsandboxed(root: string, req: LaunchRequest): Promise<SandboxedProcess> {
  const dir = await runtimeDir(root); // mkdtemp: mode 0700
  const ipcPrefix = `${dir}/k`;
  const connectionFile = `${dir}/kernel.json`;
  await writeFile(connectionFile, req.connectionFile(ipcPrefix), { mode: 0o600 });
  const [cmd, ...args] = req.argv.map((a) => a.replaceAll('{connection_file}', connectionFile));
  if (!cmd) throw new Error('kernel argv is empty');
  // Own process group, so destroy() reaches the kernel's children too.
  const child = spawn(cmd, args, {
    env: { PATH: '/usr/bin:/bin', ...req.env },
    cwd: dir,
    detached: true,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const tail = new OutputTail(req.outputBytes);
  tail.follow(child.stdout);
  tail.follow(child.stderr);
  let hasExited = false;
  const exited = new Promise<ExitInfo>((resolve) => {
    child.once('exit', (code, signal) => {
      hasExited = true;
      // What it wrote last is read before the exit is told (a start-up failure's traceback).
      void tail.ended(250).then(() => resolve({ code, signal }));
    });
    child.once('error', () => {
      hasExited = true;
      resolve({ code: null, signal: null });
    });
  });
  const pid = child.pid;
  let destroying: Promise<void> | undefined;
  return {
    kernelId: req.kernelId,
    pid,
    uid: undefined,
    ipcPrefix,
    exited,
    signal(sig) {
      if (pid !== undefined && !hasExited) process.kill(pid, sig);
    },
    limitHit: () => undefined,
    output: () => tail.text(),
    destroy() {
      destroying ??= (async () => {
        if (pid !== undefined) {
          try {
            process.kill(-pid, 'SIGKILL');
          } catch {
            // group already gone
          }
          await exited;
        }
        await removeTreeNoFollow(dir);
      })();
      return destroying;
    },
  };
}
