// Pool sizing: peak demand per start time, the floor and ceiling, and the start slots (no processes).
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  Demand,
  INITIAL_START_MS,
  peakWithin,
  startsAllowed,
  targetSize,
} from '../../kernel-manager/pool-sizing.js';

const cfg = { min: 2, max: 8, headroom: 1.5, memoryMs: 60_000 };

describe('peakWithin', () => {
  it('counts the most timestamps inside one window', () => {
    expect(peakWithin([], 100)).toBe(0);
    expect(peakWithin([0, 50, 100, 400, 401, 402, 403], 100)).toBe(4);
    expect(peakWithin([0, 1000, 2000], 500)).toBe(1);
  });

  it('agrees with a brute-force count', () => {
    fc.assert(
      fc.property(
        fc.array(fc.integer({ min: 0, max: 10_000 }), { maxLength: 60 }),
        fc.nat(3_000),
        (xs, w) => {
          const s = [...xs].sort((a, b) => a - b);
          let best = 0;
          for (const a of s) best = Math.max(best, s.filter((b) => b >= a && b - a <= w).length);
          expect(peakWithin(s, w)).toBe(best);
        },
      ),
    );
  });
});

describe('targetSize', () => {
  it('is peak × headroom rounded up, between floor and ceiling', () => {
    expect(targetSize(0, cfg)).toBe(2);
    expect(targetSize(2, cfg)).toBe(3);
    expect(targetSize(4, cfg)).toBe(6);
    expect(targetSize(100, cfg)).toBe(8);
  });

  it('keeps the floor when the ceiling is below it (a pool that never grows)', () => {
    expect(targetSize(50, { min: 1, max: 0, headroom: 1.5 })).toBe(1);
    expect(targetSize(50, { min: 0, max: 0, headroom: 1.5 })).toBe(0);
  });
});

describe('Demand', () => {
  it('grows with a burst, remembers it for memoryMs, then falls back to the floor', () => {
    const d = new Demand(cfg);
    expect(d.target(0)).toBe(2);
    // Ten requests within one (initial, assumed) start time.
    for (let i = 0; i < 10; i++) d.request(1_000 + i * 20);
    expect(d.startMs).toBe(INITIAL_START_MS);
    expect(d.peak(2_000)).toBe(10);
    expect(d.target(2_000)).toBe(8);
    expect(d.target(1_000 + 59_000)).toBe(8);
    expect(d.target(1_200 + 60_001)).toBe(2);
  });

  it('sizes for arrivals during one measured start: faster starts need fewer warm kernels', () => {
    const d = new Demand(cfg);
    // 4 requests a second, evenly.
    for (let i = 0; i < 40; i++) d.request(i * 250);
    d.started(1_000);
    expect(d.peak(10_000)).toBe(5); // 5 timestamps within any 1 s (both ends inclusive)
    expect(d.target(10_000)).toBe(8);
    for (let i = 0; i < 20; i++) d.started(200);
    expect(d.startMs).toBeLessThan(210);
    expect(d.peak(10_000)).toBe(1);
    expect(d.target(10_000)).toBe(2);
  });
});

describe('startsAllowed', () => {
  it('is bounded by what is wanted, the free start slots and the room under the cap', () => {
    expect(startsAllowed({ wanted: 5, starting: 0, parallel: 2, live: 0, maxKernels: 50 })).toBe(2);
    expect(startsAllowed({ wanted: 5, starting: 1, parallel: 2, live: 0, maxKernels: 50 })).toBe(1);
    expect(startsAllowed({ wanted: 5, starting: 0, parallel: 8, live: 48, maxKernels: 50 })).toBe(2);
    expect(startsAllowed({ wanted: -3, starting: 0, parallel: 8, live: 0, maxKernels: 50 })).toBe(0);
    expect(startsAllowed({ wanted: 3, starting: 4, parallel: 2, live: 0, maxKernels: 50 })).toBe(0);
  });
});
