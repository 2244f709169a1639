// Applies the numbered migrations at start-up. All of them run in one transaction holding a
// transaction-level advisory lock, so instances starting together apply each exactly once and a
// failed migration leaves the schema as it was.
import type { Logger } from 'pino';
import { migrations as all, type Migration } from './migrations/index.js';
import type { Sql } from './types.js';

/** Advisory lock key: the bytes of "runcell\0" as an int8, shared by every runcell instance. */
const lockKey = 0x72756e63656c6c00n;

export async function migrate(
  sql: Sql,
  log: Logger,
  migrations: readonly Migration[] = all,
): Promise<number[]> {
  return sql.begin(async (tx) => {
    await tx`select pg_advisory_xact_lock(${lockKey.toString()}::int8)`;
    await tx`create table if not exists schema_migrations (
      version integer primary key,
      name text not null,
      applied_at timestamptz not null default now()
    )`;
    const rows = await tx<{ version: number }[]>`select version from schema_migrations`;
    const done = new Set(rows.map((r) => r.version));
    const applied: number[] = [];
    for (const m of [...migrations].sort((a, b) => a.version - b.version)) {
      if (done.has(m.version)) continue;
      await tx.unsafe(m.sql);
      await tx`insert into schema_migrations (version, name) values (${m.version}, ${m.name})`;
      applied.push(m.version);
      log.info({ migration: m.name }, 'applied migration');
    }
    return applied;
  }) as Promise<number[]>;
}
