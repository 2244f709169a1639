// Sending to a kernel that has stopped reading: zeromq allows one send in progress per socket, so
// messages wait in the channel's queue, in order, instead of being refused or lost.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelManager } from '../../kernel-manager/index.js';
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
});
