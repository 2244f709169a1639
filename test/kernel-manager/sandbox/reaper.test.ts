// The reaper: what a server killed without its teardown held is killed; what it freed, and anything
// after an orderly stop, is left alone.
import { type ChildProcess, spawn } from 'node:child_process';
import { readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { killUid, processesOfUid } from '../../../kernel-manager/sandbox/procs.js';
import { REAPER_NAME } from '../../../kernel-manager/sandbox/reaper.js';
import { until } from './helpers.js';

const repo = new URL('../../../', import.meta.url).pathname;
const HELD = 1_710_000_740;
const FREED = 1_710_000_741;
const script = `/run/rct-reaper-${process.pid}.mts`;

/** Sleepers under `uid`, in their own sessions (as a kernel's daemons would be), not our children's. */
function sleepers(uid: number, n = 2): ChildProcess[] {
  return Array.from({ length: n }, () =>
    spawn(
      '/usr/bin/setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '/usr/bin/setsid', '/usr/bin/sleep', '120'],
      { env: {}, stdio: 'ignore' },
    ),
  );
}

/** Pids of the reapers a given server pid started. */
function reapersOf(serverPid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').split('\0');
      if (cmd.at(-3) === REAPER_NAME && cmd.at(-2) === String(serverPid)) out.push(Number(name));
    } catch {
      // exited meanwhile
    }
  }
  return out;
}

/** A stand-in server: starts a reaper, holds and frees uids as told, prints ready, then waits. */
async function server(lines: string): Promise<ChildProcess> {
  writeFileSync(
    script,
    `import { Reaper } from '${repo}kernel-manager/sandbox/reaper.ts';
const r = Reaper.start();
${lines}
console.log('ready');
setInterval(() => {}, 1000);`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  await new Promise<void>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => d.toString().includes('ready') && resolve());
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  return child;
}

afterAll(async () => {
  await killUid(HELD);
  await killUid(FREED);
  await rm(script, { force: true });
});

describe('reaper', () => {
  it('a killed server: every process of the uids it held dies, those of a uid it freed live on', async () => {
    const kids = [...sleepers(HELD), ...sleepers(FREED)];
    let s: ChildProcess | undefined;
    try {
      expect(await until(async () => (await processesOfUid(HELD)).length === 2)).toBe(true);
      expect(await until(async () => (await processesOfUid(FREED)).length === 2)).toBe(true);
      s = await server(`r.hold(${HELD}); r.hold(${FREED}); r.release(${FREED});`);
      const pid = s.pid ?? 0;
      expect(reapersOf(pid)).toHaveLength(1);
      s.kill('SIGKILL');
      expect(await until(async () => (await processesOfUid(HELD)).length === 0, 10_000)).toBe(true);
      expect(await until(async () => reapersOf(pid).length === 0, 10_000)).toBe(true);
      expect(await processesOfUid(FREED)).toHaveLength(2);
    } finally {
      s?.kill('SIGKILL');
      for (const k of kids) k.kill('SIGKILL');
      await killUid(FREED);
    }
  }, 60_000);

  it('an orderly stop ends the reaper and kills nothing, even when the server then exits', async () => {
    const kids = sleepers(HELD, 1);
    let s: ChildProcess | undefined;
    try {
      expect(await until(async () => (await processesOfUid(HELD)).length === 1)).toBe(true);
      s = await server(`r.hold(${HELD}); r.stop();`);
      const pid = s.pid ?? 0;
      expect(await until(async () => reapersOf(pid).length === 0, 10_000)).toBe(true);
      s.kill('SIGKILL');
      await new Promise((r) => s?.once('exit', r));
      // The reaper is gone, so nothing can act on the exit; the sleeper is still there after it.
      expect(reapersOf(pid)).toEqual([]);
      expect(await processesOfUid(HELD)).toHaveLength(1);
    } finally {
      s?.kill('SIGKILL');
      for (const k of kids) k.kill('SIGKILL');
      await killUid(HELD);
    }
  }, 60_000);
});
