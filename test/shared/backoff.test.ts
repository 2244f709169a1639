import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { Backoff, backoffDelay, sleep } from '../../shared/backoff.js';

describe('Backoff', () => {
  it('grows exponentially up to the cap, with equal jitter', () => {
    const b = new Backoff({ baseMs: 100, capMs: 1_000, random: () => 1 });
    expect([b.next(), b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([
      100, 200, 400, 800, 1000, 1000,
    ]);
    const low = new Backoff({ baseMs: 100, capMs: 1_000, random: () => 0 });
    expect([low.next(), low.next(), low.next()]).toEqual([50, 100, 200]);
  });

  it('starts again from the base after reset', () => {
    const b = new Backoff({ baseMs: 100, random: () => 1 });
    b.next();
    b.next();
    b.reset();
    expect(b.attempt).toBe(0);
    expect(b.next()).toBe(100);
  });

  it('always waits between half the ceiling and the ceiling', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.nat(60),
        fc.double({ min: 0, max: 1, noNaN: true }),
        (base, cap, n, r) => {
          const b = new Backoff({ baseMs: base, capMs: cap, random: () => r });
          let d = 0;
          for (let i = 0; i <= n; i++) d = b.next();
          const ceiling = Math.min(Math.max(base, cap), base * 2 ** Math.min(n, 30));
          return d >= Math.floor(ceiling / 2) && d <= ceiling;
        },
      ),
    );
  });

  it('counts attempts as backoffDelay does', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 5_000 }),
        fc.integer({ min: 1, max: 60_000 }),
        fc.nat(40),
        (base, cap, n) => {
          const o = { baseMs: base, capMs: cap, random: () => 0.37 };
          const b = new Backoff(o);
          for (let i = 0; i < n; i++) b.next();
          return b.next() === backoffDelay(n, o);
        },
      ),
    );
  });
});

describe('sleep', () => {
  it('ends early, with false, when its signal aborts (at once if it already has)', async () => {
    const ac = new AbortController();
    ac.abort();
    await expect(sleep(60_000, ac.signal)).resolves.toBe(false);
    const later = new AbortController();
    const p = sleep(60_000, later.signal);
    later.abort();
    await expect(p).resolves.toBe(false);
    await expect(sleep(1)).resolves.toBe(true);
  });
});
