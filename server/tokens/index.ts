// API tokens issued by the server, and the browser login that hands one to the CLI (docs/jobs.md
// "Login", docs/SECURITY.md "API tokens and login"). HTTP lives in server/routes/tokens.ts; this
// module knows accounts, not requests.
//
// An account is a configured RUNCELL_TOKENS entry, named in the database by a keyed hash of it. A
// token issued for it acts as its owner (`token:N`, N its current place in the list), so jobs stay
// visible across an owner's tokens; removing the entry from the configuration disables them all.
// Tokens are "rc_" + 32 random bytes; the database holds their sha256 and a short prefix only.
// Lookups are cached for `cacheMs`; a revocation evicts at once on this instance and, through the
// store's events (NOTIFY on Postgres), on every other one.
import { createHash, createHmac, randomBytes, randomUUID, timingSafeEqual } from 'node:crypto';
import type { Logger } from 'pino';
import { callbackWith, checkCallback } from '../../shared/login.js';
import {
  BadCallback,
  isStoreUnavailable,
  LoginCodeInvalid,
  NoSuchToken,
  RateLimited,
  TokenUnverifiable,
  TooManyTokens,
  toStoreError,
  withRetryAfter,
} from '../errors.js';
import { type Sql, storedSecret } from '../store/db.js';
import type { Events } from '../store/events.js';
import { createRepository, type TokenRow } from './repository.js';
import {
  type CodeBody,
  type CodeReply,
  type CreatedToken,
  type ExchangeBody,
  PREFIX_LENGTH,
  TOKEN_PATTERN,
  type TokenInfo,
} from './schemas.js';

export * from './schemas.js';

export interface ApiTokensOptions {
  sql: Sql;
  events: Events;
  /** RUNCELL_TOKENS: the accounts tokens are issued for. */
  configured: readonly string[];
  /** Live tokens one account may have. */
  maxPerAccount: number;
  /** How long a lookup is trusted without asking the database again (0: always ask). */
  cacheMs: number;
  /** How long an approved login's code may be exchanged. */
  codeTtlMs: number;
  log: Logger;
}

/** A caller that presented a live issued token. */
export interface Issued {
  id: string;
  account: string;
  /** The owner tag of the account (`token:N`). */
  owner: string;
  name: string;
  prefix: string;
}

export interface ApiTokens {
  /** The account of the configured token at `index`. */
  accountOf(index: number): string;
  /**
   * The identity behind an issued token, or null when it is not one, is unknown or revoked, or its
   * account is no longer configured. Throws RUNCELL_ERR_TOKEN_UNVERIFIABLE (503) when the database
   * cannot say: an issued token is never accepted unchecked.
   */
  authenticate(token: string): Promise<Issued | null>;
  list(account: string, currentId?: string): Promise<TokenInfo[]>;
  create(account: string, name: string): Promise<CreatedToken>;
  /** Revokes one of the account's tokens; RUNCELL_ERR_NO_SUCH_TOKEN for any other id. */
  revoke(account: string, id: string): Promise<void>;
  /** An approved login: a one-time code bound to the challenge and callback. */
  createCode(account: string, body: CodeBody): Promise<CodeReply>;
  /** The code and the verifier behind its challenge, for a new token (once). */
  exchange(body: ExchangeBody): Promise<CreatedToken>;
  readonly maxPerAccount: number;
  close(): Promise<void>;
}

const CHANNEL = 'runcell_tokens';
/** Pending login codes per account. */
const MAX_PENDING_CODES = 20;
/** last_used_at is written at most this often per token. */
const TOUCH_MS = 60_000;
const CACHE_MAX = 10_000;

const sha256 = (s: string) => createHash('sha256').update(s).digest();

function info(row: TokenRow, currentId?: string): TokenInfo {
  return {
    id: row.id,
    name: row.name,
    prefix: row.prefix,
    created_at: row.created_at.toISOString(),
    last_used_at: row.last_used_at?.toISOString() ?? null,
    current: row.id === currentId,
  };
}

/** Database failures as store errors (503 while it is unreachable), our own errors unchanged. */
async function db<T>(p: Promise<T>): Promise<T> {
  try {
    return await p;
  } catch (e) {
    throw toStoreError(e);
  }
}

export async function createApiTokens(o: ApiTokensOptions): Promise<ApiTokens> {
  const repo = createRepository(o.sql);
  const salt = await storedSecret(o.sql, 'api_token_account_salt');
  const accountKey = (token: string) => createHmac('sha256', salt).update(token).digest('base64url');
  const accounts = o.configured.map(accountKey);
  const ownerOf = (account: string) => {
    const i = accounts.indexOf(account);
    return i < 0 ? undefined : `token:${i}`;
  };

  // digest (hex) → what it resolved to, and until when that is trusted.
  const hits = new Map<string, { issued: Issued; until: number; touched: number }>();
  const misses = new Map<string, number>();
  const remember = <V>(m: Map<string, V>, k: string, v: V) => {
    m.delete(k);
    m.set(k, v);
    if (m.size > CACHE_MAX) m.delete(m.keys().next().value as string);
  };
  // Bumped by every revocation: a lookup that raced one is not cached.
  let revocations = 0;
  const evict = (id: string) => {
    revocations++;
    for (const [k, v] of hits) if (v.issued.id === id) hits.delete(k);
  };
  const unsubscribe = await o.events
    .subscribe(CHANNEL, (p) => {
      const id = (p as { revoked?: unknown } | null)?.revoked;
      if (typeof id === 'string') evict(id);
    })
    .catch((err: unknown) => {
      o.log.warn({ err }, 'token revocations from other instances arrive only as the cache expires');
      return async () => {};
    });

  async function issue(account: string, name: string): Promise<CreatedToken> {
    const token = `rc_${randomBytes(32).toString('base64url')}`;
    const row = await db(
      repo.insert(
        { id: randomUUID(), account, name, digest: sha256(token), prefix: token.slice(0, PREFIX_LENGTH) },
        o.maxPerAccount,
      ),
    );
    if (row === 'full')
      throw new TooManyTokens(`this account has ${o.maxPerAccount} tokens already; revoke one first`);
    return {
      id: row.id,
      name: row.name,
      prefix: row.prefix,
      created_at: row.created_at.toISOString(),
      token,
    };
  }

  return {
    maxPerAccount: o.maxPerAccount,

    accountOf(index) {
      const a = accounts[index];
      if (a === undefined) throw new RangeError(`no configured token ${index}`);
      return a;
    },

    async authenticate(token) {
      if (!TOKEN_PATTERN.test(token)) return null;
      const digest = sha256(token);
      const key = digest.toString('hex');
      const now = Date.now();
      const hit = hits.get(key);
      if (hit && hit.until > now) return hit.issued;
      if ((misses.get(key) ?? 0) > now) return null;
      const epoch = revocations;
      let row: TokenRow | undefined;
      try {
        row = await repo.byDigest(digest);
      } catch (e) {
        if (!isStoreUnavailable(e)) throw toStoreError(e);
        throw withRetryAfter(
          new TokenUnverifiable(
            'this API token cannot be checked while the database is unavailable; try again shortly ' +
              '(tokens from RUNCELL_TOKENS still work)',
            { cause: e },
          ),
          5,
        );
      }
      const owner = row && ownerOf(row.account);
      if (!row || !owner) {
        hits.delete(key);
        if (o.cacheMs > 0) remember(misses, key, now + o.cacheMs);
        return null;
      }
      const issued: Issued = { id: row.id, account: row.account, owner, name: row.name, prefix: row.prefix };
      let touched = hit?.touched ?? row.last_used_at?.getTime() ?? 0;
      if (now - touched >= TOUCH_MS) {
        touched = now;
        repo.touch(row.id).catch((err: unknown) => o.log.debug({ err }, 'token last-used time not written'));
      }
      if (o.cacheMs > 0 && epoch === revocations)
        remember(hits, key, { issued, until: now + o.cacheMs, touched });
      return issued;
    },

    async list(account, currentId) {
      return (await db(repo.list(account))).map((r) => info(r, currentId));
    },

    create: issue,

    async revoke(account, id) {
      if (!(await db(repo.revoke(account, id)))) throw new NoSuchToken(`no token ${id}`);
      evict(id);
      await o.events.publish(CHANNEL, { revoked: id }).catch((err: unknown) => {
        o.log.warn(
          { err, token: id },
          'other instances will drop the revoked token when their cache expires',
        );
      });
    },

    async createCode(account, body) {
      const cb = checkCallback(body.callback);
      if (!cb.ok) throw new BadCallback(cb.reason);
      if ((await db(repo.liveCount(account))) >= o.maxPerAccount)
        throw new TooManyTokens(`this account has ${o.maxPerAccount} tokens already; revoke one first`);
      const code = randomBytes(32).toString('base64url');
      const expires = await db(
        repo.insertCode(
          {
            digest: sha256(code),
            account,
            name: body.name,
            challenge: body.challenge,
            callback: body.callback,
          },
          o.codeTtlMs,
          MAX_PENDING_CODES,
        ),
      );
      if (expires === 'busy')
        throw withRetryAfter(new RateLimited('too many logins waiting for approval; try again shortly'), 30);
      return {
        redirect: callbackWith(cb.url, { code, state: body.state }),
        expires_at: expires.toISOString(),
      };
    },

    async exchange(body) {
      const row = await db(repo.takeCode(sha256(body.code)));
      if (!row) throw new LoginCodeInvalid('unknown or already used login code; run the login again');
      if (!row.live) throw new LoginCodeInvalid('the login code expired; run the login again');
      // RFC 7636 §4.6: the verifier must hash to the challenge the code was issued for.
      const expected = Buffer.from(row.challenge);
      const actual = Buffer.from(sha256(body.verifier).toString('base64url'));
      if (
        row.callback !== body.callback ||
        expected.length !== actual.length ||
        !timingSafeEqual(expected, actual)
      )
        throw new LoginCodeInvalid('the login code does not belong to this client; run the login again');
      if (!ownerOf(row.account))
        throw new LoginCodeInvalid('the account that approved this login is no longer configured');
      return issue(row.account, row.name);
    },

    async close() {
      await unsubscribe();
      hits.clear();
      misses.clear();
    },
  };
}
