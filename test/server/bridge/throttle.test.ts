// Output throttling on its own: verdicts per execution, the kernel throttled and restored (pure; fake
// clock and timers).
import { afterEach, describe, expect, it, vi } from 'vitest';
import type { ChannelMessage } from '../../../kernel-manager/index.js';
import { OutputThrottle, outputBytes, RATE_EXEMPT, THROTTLE_MS } from '../../../server/bridge/throttle.js';
import { OutputRateLimiter } from '../../../server/limits.js';

const msg = (
  type: string,
  parent: string | undefined,
  content: Record<string, unknown> = {},
): ChannelMessage => ({
  channel: 'iopub',
  header: { msg_id: 'm', msg_type: type, session: 's', username: 'k', date: '', version: '5.3' },
  parent_header: parent ? { msg_id: parent } : {},
  metadata: {},
  content,
  buffers: [],
});

afterEach(() => {
  vi.useRealTimers();
});

describe('OutputThrottle', () => {
  it('charges text, or the content as JSON, plus buffers', () => {
    expect(outputBytes({ content: { text: 'abc' }, buffers: [Buffer.alloc(5)] })).toBe(8);
    expect(outputBytes({ content: { data: { 'text/plain': 'x' } }, buffers: [] })).toBe(
      JSON.stringify({ data: { 'text/plain': 'x' } }).length,
    );
  });

  it('passes exempt types, messages of no execution, and everything when no limit is set', () => {
    const calls: boolean[] = [];
    const t = new OutputThrottle(new OutputRateLimiter(1, 0, 1_000, () => 0), (on) => calls.push(on));
    for (let i = 0; i < 5; i++)
      for (const type of RATE_EXEMPT) expect(t.output(msg(type, 'e')).pass).toBe(true);
    for (let i = 0; i < 5; i++) expect(t.output(msg('stream', undefined)).pass).toBe(true);
    const off = new OutputThrottle(new OutputRateLimiter(0, 0, 1_000), (on) => calls.push(on));
    for (let i = 0; i < 50; i++) expect(off.output(msg('stream', 'e')).pass).toBe(true);
    expect(calls).toEqual([]);
  });

  it('throttles the kernel on a breach, restores it after THROTTLE_MS or when the execution ends', () => {
    vi.useFakeTimers({ now: 0 });
    const calls: boolean[] = [];
    const t = new OutputThrottle(new OutputRateLimiter(2, 0, 10_000), (on) => calls.push(on));
    const verdicts = Array.from({ length: 25 }, () => t.output(msg('stream', 'e', { text: 'x' })));
    expect(verdicts.filter((v) => v.pass)).toHaveLength(20);
    expect(verdicts.filter((v) => v.notice)).toHaveLength(1);
    expect(calls).toEqual([true]);
    expect(t.throttled).toBe(true);
    vi.advanceTimersByTime(THROTTLE_MS);
    expect(calls).toEqual([true, false]);
    expect(t.output(msg('stream', 'e', { text: 'x' })).pass).toBe(false);
    expect(calls).toEqual([true, false, true]);
    expect(t.idle('e')).toMatch(/6 output message\(s\) were dropped in total/);
    expect(calls).toEqual([true, false, true, false]);
    vi.advanceTimersByTime(THROTTLE_MS);
    expect(calls).toHaveLength(4);
    expect(t.idle('other')).toBeUndefined();
  });
});
