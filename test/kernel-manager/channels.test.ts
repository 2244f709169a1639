// Sending to a kernel that has stopped reading: zeromq allows one send in progress per socket, so
// messages wait in the channel's queue, in order, instead of being refused or lost.
import { readdirSync, readFileSync } from 'node:fs';
import { getPriority } from 'node:os';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelManager } from '../../kernel-manager/index.js';
import type { LocalKernel } from '../../kernel-manager/kernel.js';
import type { ChannelMessage, Kernel } from '../../kernel-manager/types.js';
import { run, testManager } from './helpers.js';

const SLOT = 7;
let manager: KernelManager;
let k: Kernel;

beforeAll(async () => {
  manager = await testManager(SLOT, { pool: { size: 0 } });
  k = await manager.start();
});
afterAll(async () => {
  await manager?.close();
});

describe('channels', () => {
  it('queue what a busy kernel does not read, and deliver all of it in order', async () => {
    const seen: ChannelMessage[] = [];
    const onMessage = (m: ChannelMessage) => seen.push(m);
    k.on('message', onMessage);
    // The kernel sleeps; far more requests than both sockets' high-water marks (1000 each) pile up.
    const sleeper = k.send('shell', {
      header: { msg_type: 'execute_request' },
      content: { code: 'import time; time.sleep(1.5)', silent: false, store_history: false },
    });
    const ids: string[] = [];
    for (let i = 0; i < 4_000; i++) {
      const h = k.send('shell', { header: { msg_type: 'kernel_info_request' }, content: {} });
      ids.push(h.msg_id);
    }
    const last = await run(k, 'print(6 * 7)');
    expect(last.reply?.content.status).toBe('ok');
    expect(last.stdout).toBe('42\n');
    const replies = seen
      .filter((m) => m.header.msg_type === 'kernel_info_reply')
      .map((m) => m.parent_header.msg_id);
    expect(replies).toEqual(ids);
    expect(
      seen.some((m) => m.parent_header.msg_id === sleeper.msg_id && m.header.msg_type === 'execute_reply'),
    ).toBe(true);
    k.off('message', onMessage);
  });

  it('throttle a flooding kernel: no stream output reaches the server, all else does, and it yields the CPU', async () => {
    const lk = k as LocalKernel;
    const nice = () =>
      readdirSync(`/proc/${lk.pid}/task`).map((t) =>
        Number(readFileSync(`/proc/${lk.pid}/task/${t}/stat`, 'utf8').split(') ')[1]?.split(' ')[16]),
      );
    const base = getPriority() + 10;
    expect(new Set(nice())).toEqual(new Set([base]));
    k.deprioritize?.(true);
    expect(new Set(nice())).toEqual(new Set([19]));
    const r = await run(k, 'print("hidden")\ndisplay(6 * 7)\n1/0');
    expect(r.stdout).toBe('');
    expect(r.types).toEqual(expect.arrayContaining(['status', 'execute_input', 'display_data', 'error']));
    expect(r.reply?.content.status).toBe('error');
    k.deprioritize?.(false);
    expect(new Set(nice())).toEqual(new Set([base]));
    expect((await run(k, 'print("shown")')).stdout).toBe('shown\n');
  });
});
