// Per-kernel runtime dirs: a small tmpfs owned by the kernel's uid (or a plain dir where mounting is
// not possible), removed by unmounting or by link-safe removal.
import {
  chownSync,
  existsSync,
  lstatSync,
  mkdirSync,
  readFileSync,
  symlinkSync,
  writeFileSync,
} from 'node:fs';
import { rm } from 'node:fs/promises';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { prepareRuntimeRoot, probeTmpfs, RuntimeDir } from '../../../kernel-manager/sandbox/runtime.js';

const root = `/run/rct-rt-${process.pid}`;
const uid = 1_710_000_700;
beforeAll(() => prepareRuntimeRoot(root));
afterAll(() => rm(root, { recursive: true, force: true }));

describe('runtime root', () => {
  it('is root-owned, mode 0711', () => {
    const st = lstatSync(root);
    expect(st.uid).toBe(0);
    expect(st.mode & 0o777).toBe(0o711);
  });

  it('is refused when relative or not owned by root', async () => {
    await expect(prepareRuntimeRoot('run/x')).rejects.toThrow(/absolute/);
    mkdirSync(`${root}/foreign`);
    chownSync(`${root}/foreign`, 1234, 1234);
    await expect(prepareRuntimeRoot(`${root}/foreign`)).rejects.toThrow(/owned by root/);
  });
});

describe.each([true, false])('RuntimeDir (tmpfs: %s)', (tmpfs) => {
  it('is owned by the kernel uid, 0700, and removed without following links', async () => {
    if (tmpfs) expect(await probeTmpfs(root)).toBe(true);
    const d = await RuntimeDir.create(root, uid, tmpfs);
    expect(d.path).toBe(`${root}/${uid}`);
    expect(d.ipcPrefix).toBe(`${root}/${uid}/k`);
    const st = lstatSync(d.path);
    expect(st.uid).toBe(uid);
    expect(st.mode & 0o777).toBe(0o700);
    writeFileSync(`${root}/keep`, 'keep');
    symlinkSync(`${root}/keep`, `${d.path}/link`);
    symlinkSync(root, `${d.path}/link-dir`);
    await d.remove();
    expect(existsSync(d.path)).toBe(false);
    expect(readFileSync(`${root}/keep`, 'utf8')).toBe('keep');
    const mounts = readFileSync('/proc/self/mountinfo', 'utf8');
    expect(mounts).not.toContain(`${root}/${uid} `);
  });

  it('replaces a leftover of a crashed run', async () => {
    mkdirSync(`${root}/${uid}/stale`, { recursive: true });
    const d = await RuntimeDir.create(root, uid, tmpfs);
    expect(existsSync(`${d.path}/stale`)).toBe(false);
    await d.remove();
  });
});

it('a tmpfs runtime dir is bounded', async () => {
  const d = await RuntimeDir.create(root, uid, true);
  try {
    expect(() => writeFileSync(`${d.path}/big`, Buffer.alloc(2 * 2 ** 20))).toThrow(/ENOSPC/);
  } finally {
    await d.remove();
  }
});
