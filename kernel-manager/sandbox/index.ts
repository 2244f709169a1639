// The kernel sandbox: createSandbox() checks what the host offers, fails closed when mode 'bwrap'
// cannot be honoured, and says in `report` which protections and limits are in force.
import { BwrapSandbox, type SandboxLog } from './bwrap-sandbox.js';
import type { Sandbox, SandboxConfig } from './types.js';
import { launchUnsandboxed } from './unsandboxed.js';
import { type ForkOptions, ForkSandbox, type ForkSpec } from './zygote.js';

export { BwrapSandbox, type HeldSandbox, type SandboxLog } from './bwrap-sandbox.js';
export type { LaunchRequest, Sandbox, SandboxConfig, SandboxedProcess } from './types.js';
export { type ForkOptions, ForkSandbox, type ForkSpec, forkIncompatibility } from './zygote.js';

const MiB = 2 ** 20;

/** Every default in one place (docs/configuration.md lists them). */
export function defaultSandboxConfig(): SandboxConfig {
  return {
    mode: 'bwrap',
    // Far above login users and the usual /etc/subuid ranges; must be dedicated to runcell.
    uidRange: [1_800_000_000, 1_800_000_999],
    tmpBytes: 64 * MiB,
    homeBytes: 64 * MiB,
    shmBytes: 16 * MiB,
    rlimits: {
      cpuSeconds: 600,
      addressSpaceBytes: 4096 * MiB,
      processes: 64,
      fileSizeBytes: 64 * MiB,
      openFiles: 1024,
    },
    memoryBytes: 512 * MiB,
    pids: 128,
    nice: 10,
    seccomp: true,
    runtimeRoot: '/run/runcell',
  };
}

const noLog: SandboxLog = { info() {}, warn() {}, error() {} };

export async function createSandbox(config: SandboxConfig, log: SandboxLog = noLog): Promise<Sandbox> {
  if (config.mode === 'none') {
    const report = [
      'SANDBOX DISABLED (mode none): kernels run unconfined as the server user; development only',
    ];
    log.warn({ sandbox: 'none' }, report[0]);
    return { report, launch: (req) => launchUnsandboxed(config.runtimeRoot, req) };
  }
  if (config.mode !== 'bwrap') throw new Error(`unknown sandbox mode ${String(config.mode)}`);
  return BwrapSandbox.create(config, log);
}

/**
 * The fork-server for one kernelspec (zygote.ts), sharing `base`'s uids, cgroups, view and seccomp
 * filter. Rejects, never degrades, when a forked kernel cannot get every guarantee of `base`.
 */
export function createForkSandbox(
  base: Sandbox,
  spec: ForkSpec,
  opts: ForkOptions,
  log: SandboxLog = noLog,
): Promise<ForkSandbox> {
  if (!(base instanceof BwrapSandbox)) {
    return Promise.reject(
      new Error(`fork-server for kernelspec "${spec.name}" unavailable: it needs sandbox mode bwrap`),
    );
  }
  return ForkSandbox.create(base, spec, opts, log);
}
