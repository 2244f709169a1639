// Store events on Postgres (LISTEN/NOTIFY): an unsubscribe, as a server's stop runs it, does not wait
// on a listening connection that does not answer (its backend stopped with SIGSTOP here, as a database
// that went away and came back can leave it), and a stopped handler hears nothing more.
import { execFileSync } from 'node:child_process';
import { Writable } from 'node:stream';
import { pino } from 'pino';
import postgres from 'postgres';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { pgEvents, UNLISTEN_WAIT_MS } from '../../../server/store/events.js';
import { postgresBackend, type TestDb } from './helpers.js';

let db: TestDb;
let sql: postgres.Sql;
beforeAll(async () => {
  db = await postgresBackend.create();
  sql = postgres(db.options.databaseUrl as string, { max: 2, onnotice: () => {} });
});
afterAll(async () => {
  await sql?.end({ timeout: 1 });
  await db?.cleanup();
});

describe('pgEvents', () => {
  it('lets go of a subscription whose UNLISTEN gets no answer within UNLISTEN_WAIT_MS', async () => {
    const lines: { msg: string; channel?: string }[] = [];
    const sink = new Writable({
      write(chunk, _enc, done) {
        lines.push(JSON.parse(String(chunk)));
        done();
      },
    });
    const events = pgEvents(sql, pino({ level: 'warn' }, sink));
    const got: unknown[] = [];
    const off = await events.subscribe('runcell_unlisten_probe', (p) => got.push(p));
    await events.publish('runcell_unlisten_probe', { n: 1 });
    await expect.poll(() => got.length).toBe(1);
    // The listening connection's backend: the one that has issued LISTEN in this database.
    const admin = postgres(db.options.databaseUrl as string, { max: 1, onnotice: () => {} });
    const [row] = await admin<{ pid: number }[]>`
      select pid from pg_stat_activity
      where datname = current_database() and query ilike 'listen%' and pid <> pg_backend_pid()`;
    expect(row?.pid).toBeGreaterThan(0);
    const pid = String(row?.pid);
    execFileSync('kill', ['-STOP', pid]);
    try {
      const t0 = Date.now();
      await off();
      const took = Date.now() - t0;
      // It waited for the answer as long as the bound says, and no longer than a generous margin.
      expect(took).toBeGreaterThanOrEqual(UNLISTEN_WAIT_MS - 50);
      expect(took).toBeLessThan(UNLISTEN_WAIT_MS + 2_000);
      expect(lines.map((l) => [l.msg, l.channel])).toEqual([
        ['UNLISTEN got no answer; not waiting for it', 'runcell_unlisten_probe'],
      ]);
    } finally {
      execFileSync('kill', ['-CONT', pid]);
    }
    // The handler is gone: a notification sent after the unsubscribe reaches nobody.
    await events.publish('runcell_unlisten_probe', { n: 2 });
    await new Promise((r) => setTimeout(r, 300));
    expect(got).toEqual([{ n: 1 }]);
    await events.close();
    await admin.end();
  });
});
