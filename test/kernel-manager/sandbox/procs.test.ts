// Host process bookkeeping and link-safe removal of a directory a kernel could write.
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, describe, expect, it } from 'vitest';
import {
  killUid,
  processesOfUid,
  processOwners,
  removeTreeNoFollow,
} from '../../../kernel-manager/sandbox/procs.js';
import { until } from './helpers.js';

const root = `/run/rct-procs-${process.pid}`;
afterAll(() => rm(root, { recursive: true, force: true }));

describe('processes of a uid', () => {
  it('lists and kills every process of a uid, whatever its session or process group', async () => {
    const uid = 1_710_000_650;
    // Two detached sleepers in their own sessions, as a kernel's daemons would be.
    const kids = [1, 2].map(() =>
      spawn(
        '/usr/bin/setpriv',
        [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '/usr/bin/setsid', '/usr/bin/sleep', '60'],
        {
          env: {},
          stdio: 'ignore',
        },
      ),
    );
    expect(await until(async () => (await processesOfUid(uid)).length >= 2)).toBe(true);
    expect((await processOwners()).get(0)?.length).toBeGreaterThan(0);
    expect(await killUid(uid)).toEqual([]);
    expect(await processesOfUid(uid)).toEqual([]);
    for (const k of kids) k.kill();
  });

  it('counts a process whose saved uid alone is the uid (it could switch back to it)', async () => {
    const uid = 1_710_000_651;
    // Real and effective uid root, saved uid `uid`: only the Uid line's third field names it.
    const kid = spawn(
      '/usr/bin/python3',
      ['-c', `import os, time; os.setresuid(0, 0, ${uid}); print('set', flush=True); time.sleep(60)`],
      { env: {}, stdio: ['ignore', 'pipe', 'inherit'] },
    );
    await new Promise((r) => kid.stdout.once('data', r));
    expect(await processesOfUid(uid)).toEqual([kid.pid]);
    expect(await killUid(uid)).toEqual([]);
    expect(await until(async () => kid.exitCode !== null || kid.signalCode !== null)).toBe(true);
  });
});

describe('removeTreeNoFollow', () => {
  it('removes the tree, unlinking symlinks and never touching their targets', async () => {
    const keep = `${root}/outside`;
    const dir = `${root}/runtime`;
    mkdirSync(`${keep}/sub`, { recursive: true });
    writeFileSync(`${keep}/file`, 'keep');
    writeFileSync(`${keep}/sub/file`, 'keep');
    mkdirSync(`${dir}/a/b`, { recursive: true });
    writeFileSync(`${dir}/a/b/f`, 'x');
    symlinkSync(`${keep}/file`, `${dir}/link-file`);
    symlinkSync(`${keep}/sub`, `${dir}/a/link-dir`);
    symlinkSync(keep, `${dir}/a/b/link-root`);
    symlinkSync('/nonexistent', `${dir}/dangling`);
    await removeTreeNoFollow(dir);
    expect(existsSync(dir)).toBe(false);
    expect(readFileSync(`${keep}/file`, 'utf8')).toBe('keep');
    expect(readFileSync(`${keep}/sub/file`, 'utf8')).toBe('keep');
  });

  it('removes only the link when the dir itself was replaced by one', async () => {
    mkdirSync(`${root}/target`, { recursive: true });
    writeFileSync(`${root}/target/f`, 'keep');
    symlinkSync(`${root}/target`, `${root}/swapped`);
    await removeTreeNoFollow(`${root}/swapped`);
    expect(existsSync(`${root}/swapped`)).toBe(false);
    expect(readFileSync(`${root}/target/f`, 'utf8')).toBe('keep');
    await removeTreeNoFollow(`${root}/never-existed`);
  });
});
