// Starts one kernel in the full sandbox and owns it until destroy(). The chain, all exec'd, all by
// absolute path, with an EMPTY environment (bubblewrap's env shows in /proc/1/environ inside):
//   /bin/bash -c PROLOGUE (root: closes stray fds, joins the kernel's cgroups before anything forks)
//   /usr/bin/nice …       (kernels yield the CPU to the server and its I/O: a busy kernel cannot
//                          slow down everyone else's round trips)
//   /usr/bin/prlimit …    (rlimits, inherited by everything below)
//   /usr/bin/setpriv …    (drops to the kernel's uid: no groups, no capabilities, no new privileges;
//                          the parent-death signal, set after the uid change, which would clear it)
//   /bin/sh -c LIFELINE   (exits unless the server is still its parent: a server killed before
//                          setpriv set that signal would otherwise leave this kernel running)
//   /usr/bin/bwrap --args 3   (unprivileged: namespaces, the minimal view, seccomp)
// fds 0-2 and the pipes below are all the chain keeps.
import { type ChildProcess, spawn } from 'node:child_process';
import type { Duplex, Writable } from 'node:stream';
import { SandboxStartError } from '../errors.js';
import { buildBwrapArgs, generatedEtc, INSIDE, kernelArgv } from './bwrap.js';
import type { KernelCgroup } from './cgroups.js';
import { type KernelHandle, KernelProcess, teardown } from './kernel-process.js';
import type { RuntimeDir } from './runtime.js';
import { OutputTail } from './tail.js';
import type { LaunchRequest, SandboxConfig } from './types.js';

// Child fd numbers (= index in spawn's stdio array).
const FD = {
  args: 3,
  connection: 4,
  info: 5,
  passwd: 6,
  group: 7,
  hosts: 8,
  nsswitch: 9,
  seccomp: 10,
} as const;
const LAST_FD = 10;

// Runs as root before anything else: closes fds inherited from whoever started the server without
// close-on-exec (Node marks only its own), joins the kernel's cgroups, then execs the rest.
// bash, not dash: dash cannot name fds above 9; `exec -c` drops the variables bash itself sets.
const PROLOGUE = `for f in /proc/$$/fd/*; do n=\${f##*/}; if [ "$n" -gt ${LAST_FD} ]; then exec {n}>&-; fi; done
n=$1; shift
while [ "$n" -gt 0 ]; do echo $$ > "$1" || exit 125; shift; n=$((n - 1)); done
exec -c "$@"`;

// Runs after setpriv armed the parent-death signal. The server killed between the fork and that
// moment never sends it (bubblewrap's own --die-with-parent has the same gap), so this checks the
// parent is still the server; from here on the kernel dies with it. (dash exports the PWD it sets: unset,
// so bubblewrap's environment stays empty.)
const LIFELINE = '[ "$PPID" = "$0" ] || exit 1; unset PWD; exec "$@"';

export interface LaunchContext {
  config: SandboxConfig;
  view: readonly string[];
  seccomp: Buffer | undefined;
  /** Host dir of the start-up hooks (hooks.ts). */
  hooksDir?: string;
}

function rlimitArgs(config: SandboxConfig): string[] {
  const r = config.rlimits;
  const n = (x: number) => String(Math.floor(x));
  return [
    // Soft limit: SIGXCPU (an exit we can explain); a kernel that catches it dies a second later.
    `--cpu=${n(r.cpuSeconds)}:${n(r.cpuSeconds) + 1}`,
    `--as=${n(r.addressSpaceBytes)}`,
    `--nproc=${n(r.processes)}`,
    `--fsize=${n(r.fileSizeBytes)}`,
    `--nofile=${n(r.openFiles)}`,
    '--core=0',
  ];
}

/** The parent's end of the child's fd `fd` (a socketpair Node created for a 'pipe' entry). */
function pipeAt(child: ChildProcess, fd: number): Duplex | undefined {
  return ((child.stdio as readonly unknown[])[fd] ?? undefined) as Duplex | undefined;
}

function feed(stream: Writable | undefined, data: Buffer): void {
  if (!stream) throw new Error('sandbox pipe missing');
  stream.on('error', () => {}); // bwrap exiting early closes it; the exit explains why
  stream.end(data);
}

/** Reads bwrap's --info-fd JSON: the host pid of the sandbox's pid 1. */
function readInfo(child: ChildProcess, deadline: number): Promise<number> {
  return new Promise((resolve, reject) => {
    const stream = pipeAt(child, FD.info);
    if (!stream) return reject(new Error('sandbox info pipe missing'));
    let text = '';
    const timer = setTimeout(
      () => {
        child.off('exit', onExit);
        reject(new Error('the sandbox was not set up before the start-up deadline'));
      },
      Math.max(0, deadline - Date.now()),
    );
    const onExit = () => {
      clearTimeout(timer);
      reject(new Error('the sandbox exited during set-up'));
    };
    child.once('exit', onExit);
    stream.on('error', () => {});
    stream.on('data', (chunk: Buffer) => {
      text += chunk.toString('utf8');
      try {
        const pid = (JSON.parse(text) as { 'child-pid'?: unknown })['child-pid'];
        if (typeof pid === 'number' && Number.isInteger(pid) && pid > 0) {
          clearTimeout(timer);
          child.off('exit', onExit);
          resolve(pid);
        }
      } catch {
        // incomplete JSON: wait for more
      }
    });
  });
}

export { SandboxStartError };

/** The sandbox's set-up budget when the caller gives no start-up deadline. */
const DEFAULT_SETUP_MS = 30_000;

/** Spawns the chain for a kernel whose uid, cgroups and runtime dir are ready; frees them on failure. */
export async function spawnSandboxed(
  ctx: LaunchContext,
  req: LaunchRequest,
  h: KernelHandle & { cgroup: KernelCgroup; runtime: RuntimeDir },
): Promise<KernelProcess> {
  const { config } = ctx;
  const uid = h.uid;
  let args: string[];
  let command: string[];
  let connection: Buffer;
  try {
    args = buildBwrapArgs({
      uid,
      runtimeDir: h.runtime.path,
      tmpBytes: config.tmpBytes,
      homeBytes: config.homeBytes,
      shmBytes: config.shmBytes,
      view: ctx.view,
      binds: req.binds,
      hooksDir: ctx.hooksDir,
      env: req.env,
      fds: { ...FD, seccomp: ctx.seccomp ? FD.seccomp : undefined },
    });
    command = kernelArgv(req.argv);
    connection = req.connectionFile(INSIDE.ipcPrefix);
  } catch (e) {
    await teardown(h);
    throw new SandboxStartError((e as Error).message, '', e);
  }
  const procs = h.cgroup.procsFiles;
  const chain = [
    '-c',
    PROLOGUE,
    'runcell-sandbox',
    String(procs.length),
    ...procs,
    '/usr/bin/nice',
    `--adjustment=${Math.floor(config.nice)}`,
    '/usr/bin/prlimit',
    ...rlimitArgs(config),
    '--',
    '/usr/bin/setpriv',
    `--reuid=${uid}`,
    `--regid=${uid}`,
    '--clear-groups',
    '--inh-caps=-all',
    '--bounding-set=-all',
    '--no-new-privs',
    '--pdeathsig=KILL',
    '--',
    '/bin/sh',
    '-c',
    LIFELINE,
    String(process.pid),
    '/usr/bin/bwrap',
    '--args',
    String(FD.args),
    '--',
    ...command,
  ];
  const pipes = Object.keys(FD).length - (ctx.seccomp ? 0 : 1);
  const child = spawn('/bin/bash', chain, {
    env: {},
    cwd: '/',
    stdio: ['ignore', 'pipe', 'pipe', ...Array<'pipe'>(pipes).fill('pipe')],
  });
  const tail = new OutputTail(req.outputBytes);
  tail.follow(child.stdout);
  tail.follow(child.stderr);
  const proc = new KernelProcess(req.kernelId, child, tail, h);
  try {
    if (child.pid === undefined) throw new Error('the sandbox could not be started');
    const etc = generatedEtc(uid);
    feed(pipeAt(child, FD.args), Buffer.from(`${args.join('\0')}\0`));
    feed(pipeAt(child, FD.connection), connection);
    feed(pipeAt(child, FD.passwd), etc.passwd);
    feed(pipeAt(child, FD.group), etc.group);
    feed(pipeAt(child, FD.hosts), etc.hosts);
    feed(pipeAt(child, FD.nsswitch), etc.nsswitch);
    if (ctx.seccomp) feed(pipeAt(child, FD.seccomp), ctx.seccomp);
    const deadline = req.deadline ?? Date.now() + DEFAULT_SETUP_MS;
    const init = await readInfo(child, deadline);
    await proc.attach(init, deadline);
    return proc;
  } catch (e) {
    await proc.destroy().catch(() => {});
    const info = await proc.exited;
    const why = info.code === 125 ? 'it could not join its cgroups' : (e as Error).message;
    throw new SandboxStartError(why, tail.text(), e);
  }
}
