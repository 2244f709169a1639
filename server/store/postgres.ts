// The Postgres backend: a postgres.js pool on DATABASE_URL. postgres.js opens connections lazily
// and reconnects on the next query after a failure, so an outage costs 503s, never a restart.
import postgres from 'postgres';
import { pgEvents } from './events.js';
import { type ConnectOptions, type Database, type Sql, STORE_DEFAULTS } from './types.js';

/** Options both backends share: the same types, the same quiet notices. */
export function sqlOptions(options: ConnectOptions): postgres.Options<Record<string, never>> {
  return {
    max: options.poolMax,
    connect_timeout: Math.max(1, Math.ceil(options.connectTimeoutMs / 1000)),
    idle_timeout: options.idleTimeoutS ?? STORE_DEFAULTS.idleTimeoutS,
    // int8 (sizes, offsets, counts) comes back as a JS number: all far below 2^53.
    types: {
      bigint: { to: 20, from: [20], serialize: (x: number) => String(x), parse: (x: string) => Number(x) },
    } as never,
    transform: { undefined: null },
    onnotice: (notice) => options.log.debug({ notice: notice.message }, 'postgres notice'),
    connection: { application_name: 'runcell' },
  };
}

export async function connectPostgres(url: string, options: ConnectOptions): Promise<Database> {
  const sql = postgres(url, sqlOptions(options)) as unknown as Sql;
  // Fail at start-up rather than on the first request when the URL is wrong.
  try {
    await sql`select 1`;
  } catch (err) {
    await sql.end({ timeout: 0 }).catch(() => {});
    throw err;
  }
  const events = pgEvents(sql, options.log);
  return {
    backend: 'postgres',
    sql,
    events,
    async close() {
      await events.close();
      await sql.end({ timeout: 5 });
    },
  };
}
