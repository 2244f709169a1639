import { describe, expect, it } from 'vitest';
import {
  ConcurrencyLimiter,
  OutputRateLimiter,
  RateLimiter,
  TieredConcurrency,
  TieredRate,
  visitorKey,
} from '../../server/limits.js';

describe('limits', () => {
  it('token bucket: bursts, then refills with a Retry-After hint', () => {
    let now = 0;
    const r = new RateLimiter(2, () => now);
    expect(r.take('a').ok).toBe(true);
    expect(r.take('a').ok).toBe(true);
    const no = r.take('a');
    expect(no).toEqual({ ok: false, retryAfterS: 30 });
    expect(r.take('b').ok).toBe(true);
    now += 30_000;
    expect(r.take('a').ok).toBe(true);
    expect(new RateLimiter(0).take('x').ok).toBe(true);
  });

  it('token bucket: a refund gives one token back, never above the burst', () => {
    const r = new RateLimiter(1, () => 0);
    r.refund('a');
    expect(r.take('a').ok).toBe(true);
    expect(r.take('a').ok).toBe(false);
    r.refund('a');
    r.refund('a');
    expect(r.take('a').ok).toBe(true);
    expect(r.take('a').ok).toBe(false);
  });

  it('concurrency: acquire up to max, release once', () => {
    const c = new ConcurrencyLimiter(1);
    const rel = c.acquire('a');
    expect(rel).toBeTypeOf('function');
    expect(c.acquire('a')).toBeUndefined();
    rel?.();
    rel?.();
    expect(c.count('a')).toBe(0);
    expect(c.acquire('a')).toBeTypeOf('function');
  });

  it('iopub rate: drops over the limit with a notice, resumes below it', () => {
    let now = 0;
    const l = new OutputRateLimiter(10, 0, 1000, () => now);
    const verdicts = Array.from({ length: 15 }, () => l.check('x', 1));
    expect(verdicts.filter((v) => v.pass)).toHaveLength(10);
    expect(verdicts[10]?.notice).toMatch(/message rate \(10 messages\/s\) exceeded/);
    expect(verdicts.slice(11).every((v) => !v.pass && !v.notice)).toBe(true);
    now += 2_000;
    const resumed = l.check('x', 1);
    expect(resumed.pass).toBe(true);
    expect(resumed.notice).toMatch(/resumed; 5 output message/);
    expect(l.end('x')).toBeUndefined();
  });

  it('iopub data rate, and a final notice when an execution ends while dropping', () => {
    const now = 0;
    const l = new OutputRateLimiter(0, 100, 1000, () => now);
    expect(l.check('y', 90).pass).toBe(true);
    const over = l.check('y', 20);
    expect(over.pass).toBe(false);
    expect(over.notice).toMatch(/data rate \(100 bytes\/s\)/);
    expect(l.end('y')).toMatch(/1 output message\(s\) were dropped/);
  });

  it('tiered rate: a page is one visitor; pages behind one address share its ceiling', () => {
    const r = new TieredRate(new RateLimiter(3, () => 0), new RateLimiter(5, () => 0));
    const ip = '203.0.113.9';
    const p1 = visitorKey(ip, 'page-one');
    const p2 = visitorKey(ip, 'page-two');
    for (let i = 0; i < 3; i++) expect(r.take(ip, p1).ok).toBe(true);
    expect(r.take(ip, p1)).toMatchObject({ ok: false, scope: 'page' });
    // A second tab gets its own page budget, up to the address's ceiling (3 + 2 = 5).
    expect(r.take(ip, p2).ok).toBe(true);
    expect(r.take(ip, p2).ok).toBe(true);
    expect(r.take(ip, p2)).toMatchObject({ ok: false, scope: 'address' });
    // The refused take cost the page nothing: a refund of the address frees one for either page.
    r.refund(ip, p1);
    expect(r.take(ip, p1).ok).toBe(true);
    // Another address is untouched; a caller naming no page is one visitor for its address.
    expect(r.take('203.0.113.10').ok).toBe(true);
    expect(visitorKey(ip)).toBe(`ip:${ip}`);
  });

  it('tiered concurrency: per-visitor holders under a per-address ceiling; releases free both', () => {
    const c = new TieredConcurrency(new ConcurrencyLimiter(2), new ConcurrencyLimiter(3));
    const a1 = c.acquire('ip', 'a');
    const a2 = c.acquire('ip', 'a');
    expect(c.acquire('ip', 'a')).toBe('page');
    const b1 = c.acquire('ip', 'b');
    expect(c.acquire('ip', 'b')).toBe('address');
    expect(c.visitor.count('b')).toBe(1);
    for (const r of [a1, a2, b1]) if (typeof r === 'function') r();
    expect(c.address.count('ip')).toBe(0);
    expect(c.visitor.count('a')).toBe(0);
  });
});
