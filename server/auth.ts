// Who is calling: an API token (Authorization: token T, Authorization: Bearer T, or ?token=T), or an
// anonymous visitor identified by address (IPv6 by /64). Plus the Origin allow-list (exact match).
import { createHash, timingSafeEqual } from 'node:crypto';
import { isIPv4, isIPv6 } from 'node:net';

export interface Caller {
  kind: 'token' | 'anonymous';
  /** Per-IP limit bucket: an IPv4 address or an IPv6 /64 prefix. */
  ipKey: string;
  /** Owner tag given to kernels this caller starts. */
  owner: string;
  /** How a token caller proved itself: a RUNCELL_TOKENS entry, or a token issued by the server. */
  credential?: Credential;
}

export type Credential =
  | { kind: 'configured'; index: number }
  | { kind: 'issued'; id: string; account: string; name: string; prefix: string };

const digest = (s: string) => createHash('sha256').update(s).digest();

export class Tokens {
  readonly #digests: Buffer[];
  constructor(tokens: readonly string[]) {
    this.#digests = tokens.map(digest);
  }
  get configured(): boolean {
    return this.#digests.length > 0;
  }
  /** Index of the matching token, or -1. Compares digests in constant time. */
  match(token: string): number {
    const d = digest(token);
    let found = -1;
    this.#digests.forEach((t, i) => {
      if (timingSafeEqual(t, d) && found < 0) found = i;
    });
    return found;
  }
}

/** The token a request carries, if any. Header forms win over the query parameter. */
export function extractToken(authorization: string | undefined, queryToken: unknown): string | undefined {
  if (authorization) {
    const m = /^\s*(token|bearer)\s+(\S+)\s*$/i.exec(authorization);
    if (m?.[2]) return m[2];
    return ''; // present but malformed: counts as a bad token
  }
  if (typeof queryToken === 'string') return queryToken;
  return undefined;
}

/** IPv4 as is; IPv4-mapped IPv6 as IPv4; other IPv6 reduced to its /64 prefix. */
export function ipKey(ip: string): string {
  const mapped = /^::ffff:(\d+\.\d+\.\d+\.\d+)$/i.exec(ip);
  if (mapped?.[1]) return mapped[1];
  if (isIPv4(ip)) return ip;
  if (!isIPv6(ip)) return ip;
  const [head = '', tail = ''] = ip.toLowerCase().split('%')[0]?.split('::') ?? [];
  const h = head ? head.split(':') : [];
  const t = tail ? tail.split(':') : [];
  const groups = ip.includes('::') ? [...h, ...Array(8 - h.length - t.length).fill('0'), ...t] : h;
  return `${groups
    .slice(0, 4)
    .map((g) => Number.parseInt(g, 16).toString(16))
    .join(':')}::/64`;
}

export type OriginVerdict = 'allowed' | 'missing' | 'forbidden';

/**
 * Exact-match Origin check. The server's own origin (scheme and Host of the request) is always allowed;
 * '*' in the list allows any origin. A missing Origin is reported as such: the caller decides.
 */
export function checkOrigin(
  origin: string | undefined,
  host: string | undefined,
  allowed: readonly string[],
  secure: boolean,
): OriginVerdict {
  if (origin === undefined || origin === '') return 'missing';
  if (allowed.includes('*') || allowed.includes(origin)) return 'allowed';
  if (host && origin === `${secure ? 'https' : 'http'}://${host}`) return 'allowed';
  return 'forbidden';
}
