// The uid allocator: one uid per live kernel, never a uid that still owns a host process.
import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import { describe, expect, it } from 'vitest';
import { killUid, processesOfUid } from '../../../kernel-manager/sandbox/procs.js';
import {
  accountsInRange,
  UidAllocator,
  UidExhaustedError,
  validateUidRange,
} from '../../../kernel-manager/sandbox/uids.js';
import { until } from './helpers.js';

const BASE = 1_710_000_600;

describe('UidAllocator', () => {
  it('hands out distinct uids, round-robin, and fails clearly when none is free', async () => {
    const a = new UidAllocator([BASE, BASE + 2]);
    const got = await Promise.all([a.acquire(), a.acquire(), a.acquire()]);
    expect(new Set(got)).toEqual(new Set([BASE, BASE + 1, BASE + 2]));
    await expect(a.acquire()).rejects.toBeInstanceOf(UidExhaustedError);
    a.release(BASE + 1);
    expect(await a.acquire()).toBe(BASE + 1);
    expect(a.live).toBe(3);
  });

  it('reuses a released uid last', async () => {
    const a = new UidAllocator([BASE, BASE + 2]);
    const first = await a.acquire();
    a.release(first);
    expect(await a.acquire()).toBe(BASE + 1);
  });

  it('skips reserved uids and uids that still own a host process', async () => {
    const uid = BASE + 10;
    const straggler = spawn(
      '/usr/bin/setpriv',
      [`--reuid=${uid}`, `--regid=${uid}`, '--clear-groups', '/usr/bin/sleep', '30'],
      {
        env: {},
        stdio: 'ignore',
      },
    );
    try {
      expect(await until(async () => (await processesOfUid(uid)).length > 0)).toBe(true);
      const a = new UidAllocator([uid, uid + 2], [uid + 1]);
      expect(await a.acquire()).toBe(uid + 2);
      await expect(a.acquire()).rejects.toThrow(/no free kernel uid/);
    } finally {
      expect(await killUid(uid)).toEqual([]);
      straggler.kill();
    }
  });

  it('validates the range', () => {
    expect(() => validateUidRange([0, 10])).toThrow(/invalid/);
    expect(() => validateUidRange([5000, 4000])).toThrow(/invalid/);
    expect(() => validateUidRange([1.5, 4000])).toThrow(/invalid/);
    expect(() => validateUidRange([60000, 60999])).not.toThrow();
    expect(() => new UidAllocator([10, 20])).toThrow(/invalid/);
  });

  it('finds host accounts inside the range', () => {
    const file = `/run/rct-passwd-${process.pid}`;
    writeFileSync(
      file,
      'root:x:0:0::/root:/bin/sh\nnobody:x:65534:65534::/:/bin/false\nalice:x:70001:70001::/home/a:/bin/sh\n',
    );
    expect(accountsInRange([65000, 70001], file)).toEqual(['nobody(65534)', 'alice(70001)']);
    expect(accountsInRange([1000, 2000], file)).toEqual([]);
    expect(accountsInRange([1000, 2000], '/nonexistent')).toEqual([]);
    rmSync(file);
  });

  it('refuses to sweep uid 0', async () => {
    await expect(killUid(0)).rejects.toThrow(/uid 0/);
  });
});
