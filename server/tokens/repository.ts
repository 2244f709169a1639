// Every SQL statement of API tokens and login codes. Tokens and codes are looked up by their sha256
// digest, so the secrets themselves never reach the database; a code is taken with DELETE …
// RETURNING, so two exchanges of one code cannot both get it.
import type { Sql } from '../store/db.js';

export interface TokenRow {
  id: string;
  account: string;
  name: string;
  prefix: string;
  created_at: Date;
  last_used_at: Date | null;
}

export interface CodeRow {
  account: string;
  name: string;
  challenge: string;
  callback: string;
  /** Judged by the database's clock, which every instance shares. */
  live: boolean;
}

export interface NewToken {
  id: string;
  account: string;
  name: string;
  digest: Buffer;
  prefix: string;
}

/** Advisory lock space for one account's token count (jobs use 6). */
const LOCK_SPACE = 7;

export function createRepository(sql: Sql) {
  return {
    async byDigest(digest: Buffer): Promise<TokenRow | undefined> {
      const [row] = await sql<TokenRow[]>`
        select id, account, name, prefix, created_at, last_used_at from api_tokens
        where digest = ${digest} and revoked_at is null`;
      return row;
    },

    async touch(id: string): Promise<void> {
      await sql`update api_tokens set last_used_at = now() where id = ${id}`;
    },

    async list(account: string): Promise<TokenRow[]> {
      return sql<TokenRow[]>`
        select id, account, name, prefix, created_at, last_used_at from api_tokens
        where account = ${account} and revoked_at is null
        order by created_at desc, id`;
    },

    /** Inserts unless the account already has `max` live tokens (counted under its lock). */
    async insert(t: NewToken, max: number): Promise<TokenRow | 'full'> {
      return sql.begin(async (tx) => {
        await tx`select pg_advisory_xact_lock(hashtextextended(${t.account}, ${LOCK_SPACE}))`;
        const [c] = await tx<{ n: number }[]>`
          select count(*)::int as n from api_tokens where account = ${t.account} and revoked_at is null`;
        if ((c?.n ?? 0) >= max) return 'full' as const;
        const [row] = await tx<TokenRow[]>`
          insert into api_tokens (id, account, name, digest, prefix)
          values (${t.id}, ${t.account}, ${t.name}, ${t.digest}, ${t.prefix})
          returning id, account, name, prefix, created_at, last_used_at`;
        return row as TokenRow;
      }) as Promise<TokenRow | 'full'>;
    },

    async liveCount(account: string): Promise<number> {
      const [c] = await sql<{ n: number }[]>`
        select count(*)::int as n from api_tokens where account = ${account} and revoked_at is null`;
      return c?.n ?? 0;
    },

    /** True when this account's live token `id` was revoked now. */
    async revoke(account: string, id: string): Promise<boolean> {
      const rows = await sql`
        update api_tokens set revoked_at = now()
        where id = ${id} and account = ${account} and revoked_at is null
        returning id`;
      return rows.length > 0;
    },

    /** Stores a code (dropping expired ones); 'busy' when the account has `maxLive` pending already. */
    async insertCode(
      c: { digest: Buffer; account: string; name: string; challenge: string; callback: string },
      ttlMs: number,
      maxLive: number,
    ): Promise<Date | 'busy'> {
      await sql`delete from login_codes where expires_at < now()`;
      const [n] = await sql<{ n: number }[]>`
        select count(*)::int as n from login_codes where account = ${c.account}`;
      if ((n?.n ?? 0) >= maxLive) return 'busy';
      const [row] = await sql<{ expires_at: Date }[]>`
        insert into login_codes (digest, account, name, challenge, callback, expires_at)
        values (${c.digest}, ${c.account}, ${c.name}, ${c.challenge}, ${c.callback},
                now() + ${ttlMs} * interval '1 millisecond')
        returning expires_at`;
      return (row as { expires_at: Date }).expires_at;
    },

    /** Takes a code: whatever the exchange decides afterwards, it cannot be used again. */
    async takeCode(digest: Buffer): Promise<CodeRow | undefined> {
      const [row] = await sql<CodeRow[]>`
        delete from login_codes where digest = ${digest}
        returning account, name, challenge, callback, expires_at > now() as live`;
      return row;
    },
  };
}

export type Repository = ReturnType<typeof createRepository>;
