// The page registry alone, on fake timers: a page's kernels live while any of its connections is
// open, end a grace period after the last one closed (or at once on its beacon), and a page that
// never connected keeps them for the longer first-connection wait.
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { Pages } from '../../../server/bridge/pages.js';

let ended: { ids: string[]; reason: string }[];
let pages: Pages;

beforeEach(() => {
  vi.useFakeTimers();
  ended = [];
  pages = new Pages({
    graceMs: 1_000,
    firstConnectMs: 30_000,
    shutdown: (ids, reason) => ended.push({ ids, reason }),
  });
});
afterEach(() => {
  pages.dispose();
  vi.useRealTimers();
});

describe('Pages', () => {
  it('keeps a page while any connection is open; ends its kernels a grace after the last closes', () => {
    pages.add('P', 'k1');
    pages.add('P', 'k2');
    const ws1 = pages.connect('P');
    const ws2 = pages.connect('P');
    ws1();
    ws1(); // releasing twice counts once
    vi.advanceTimersByTime(5_000);
    expect(ended).toEqual([]);
    ws2();
    vi.advanceTimersByTime(999);
    expect(ended).toEqual([]);
    // A reconnect within the grace keeps everything.
    const again = pages.connect('P');
    vi.advanceTimersByTime(5_000);
    expect(ended).toEqual([]);
    again();
    vi.advanceTimersByTime(1_000);
    expect(ended).toEqual([
      { ids: ['k1', 'k2'], reason: 'the page closed or lost its connection to the server' },
    ]);
    expect(pages.size).toBe(0);
  });

  it('gives a page that never connected the first-connection wait', () => {
    pages.add('P', 'k1');
    vi.advanceTimersByTime(29_000);
    expect(ended).toEqual([]);
    vi.advanceTimersByTime(1_000);
    expect(ended.map((e) => e.ids)).toEqual([['k1']]);
  });

  it('ends a page at once on its beacon, and forgets pages whose kernels all ended', () => {
    pages.add('P', 'k1');
    pages.add('Q', 'k2');
    expect(pages.close('P', 'closed')).toBe(1);
    expect(ended).toEqual([{ ids: ['k1'], reason: 'closed' }]);
    expect(pages.close('P', 'closed')).toBe(0);
    pages.remove('Q', 'k2');
    expect(pages.size).toBe(0);
    expect(pages.connect('unknown')).toBeTypeOf('function');
    vi.advanceTimersByTime(60_000);
    expect(ended).toHaveLength(1);
  });
});
