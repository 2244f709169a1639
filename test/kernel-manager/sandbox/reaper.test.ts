// The reaper: what a server killed without its teardown held is killed; what it freed, and anything
// after an orderly stop, is left alone.
import { type ChildProcess, spawn } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import { killUid, processesOfUid } from '../../../kernel-manager/sandbox/procs.js';
import { REAPER_NAME } from '../../../kernel-manager/sandbox/reaper.js';
import { until } from './helpers.js';

const repo = new URL('../../../', import.meta.url).pathname;
const HELD = 1_710_000_740;
const FREED = 1_710_000_741;
/** The orderly-stop test's own uid: nothing the first test left can touch it. */
const KEPT = 1_710_000_742;
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

/** True while `pid` runs (a zombie does not). */
function running(pid: number): boolean {
  try {
    return !/^State:\s+[ZX]/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** A stand-in server: starts a reaper, holds and frees uids as told, says so, then waits. */
async function server(lines: string): Promise<{ child: ChildProcess; reaper: number }> {
  writeFileSync(
    script,
    `import { Reaper } from '${repo}kernel-manager/sandbox/reaper.ts';
const r = Reaper.start();
${lines}
console.log('ready', r.pid);
setInterval(() => {}, 1000);`,
  );
  const child = spawn(process.execPath, ['--import', 'tsx', script], {
    cwd: repo,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  const reaper = await new Promise<number>((resolve, reject) => {
    child.stdout?.on('data', (d: Buffer) => {
      const m = /ready (\d+)/.exec(d.toString());
      if (m) resolve(Number(m[1]));
    });
    child.once('exit', (code) => reject(new Error(`server exited ${code}`)));
  });
  return { child, reaper };
}

afterAll(async () => {
  await killUid(HELD);
  await killUid(FREED);
  await killUid(KEPT);
  await rm(script, { force: true });
});

describe('reaper', () => {
  it('a killed server: every process of the uids it held dies, those of a uid it freed live on', async () => {
    const kids = [...sleepers(HELD), ...sleepers(FREED)];
    let s: ChildProcess | undefined;
    try {
      expect(await until(async () => (await processesOfUid(HELD)).length === 2)).toBe(true);
      expect(await until(async () => (await processesOfUid(FREED)).length === 2)).toBe(true);
      const started = await server(`r.hold(${HELD}); r.hold(${FREED}); r.release(${FREED});`);
      s = started.child;
      const args = readFileSync(`/proc/${started.reaper}/cmdline`, 'utf8').split('\0');
      expect(args.slice(-3, -1)).toEqual([REAPER_NAME, String(s.pid)]);
      s.kill('SIGKILL');
      expect(await until(async () => (await processesOfUid(HELD)).length === 0, 10_000)).toBe(true);
      expect(await until(() => !running(started.reaper), 10_000)).toBe(true);
      expect(await processesOfUid(FREED)).toHaveLength(2);
    } finally {
      s?.kill('SIGKILL');
      for (const k of kids) k.kill('SIGKILL');
      await killUid(FREED);
    }
  }, 60_000);

  it('an orderly stop ends the reaper and kills nothing, even when the server then exits', async () => {
    const kids = sleepers(KEPT, 1);
    let s: ChildProcess | undefined;
    try {
      expect(await until(async () => (await processesOfUid(KEPT)).length === 1)).toBe(true);
      const started = await server(`r.hold(${KEPT}); r.stop();`);
      s = started.child;
      expect(await until(() => !running(started.reaper), 10_000)).toBe(true);
      s.kill('SIGKILL');
      await new Promise((r) => s?.once('exit', r));
      // The reaper was gone before the server, so nothing acted on the exit: the sleeper lives on.
      expect(await processesOfUid(KEPT)).toHaveLength(1);
    } finally {
      s?.kill('SIGKILL');
      for (const k of kids) k.kill('SIGKILL');
      await killUid(KEPT);
    }
  }, 60_000);
});
