import { describe, expect, it } from 'vitest';
import { checkOrigin, extractToken, ipKey, Tokens } from '../../server/auth.js';

describe('auth', () => {
  it('extracts tokens from the header forms and the query', () => {
    expect(extractToken('token abc', undefined)).toBe('abc');
    expect(extractToken('Bearer abc', undefined)).toBe('abc');
    expect(extractToken(undefined, 'q')).toBe('q');
    expect(extractToken('Basic xyz', 'q')).toBe('');
    expect(extractToken(undefined, undefined)).toBeUndefined();
  });

  it('matches configured tokens', () => {
    const t = new Tokens(['first-token-1234567', 'second-token-123456']);
    expect(t.match('second-token-123456')).toBe(1);
    expect(t.match('nope')).toBe(-1);
    expect(new Tokens([]).configured).toBe(false);
  });

  it('buckets IPv6 by /64 and unmaps IPv4', () => {
    expect(ipKey('::ffff:10.1.2.3')).toBe('10.1.2.3');
    expect(ipKey('10.1.2.3')).toBe('10.1.2.3');
    expect(ipKey('2001:db8:1:2::5')).toBe('2001:db8:1:2::/64');
    expect(ipKey('2001:0db8:0001:0002:ffff:0:0:1')).toBe('2001:db8:1:2::/64');
    expect(ipKey('::1')).toBe('0:0:0:0::/64');
  });

  it('matches origins exactly', () => {
    const allowed = ['https://docs.example'];
    expect(checkOrigin('https://docs.example', 'x', allowed, false)).toBe('allowed');
    expect(checkOrigin('https://docs.example.evil', 'x', allowed, false)).toBe('forbidden');
    expect(checkOrigin('http://docs.example', 'x', allowed, false)).toBe('forbidden');
    expect(checkOrigin(undefined, 'x', allowed, false)).toBe('missing');
    expect(checkOrigin('http://127.0.0.1:8888', '127.0.0.1:8888', [], false)).toBe('allowed');
    expect(checkOrigin('https://127.0.0.1:8888', '127.0.0.1:8888', [], false)).toBe('forbidden');
    expect(checkOrigin('https://any.example', 'x', ['*'], false)).toBe('allowed');
  });
});
