// Shared by the security suite: a real server (real sandboxed kernels, a PGlite store) on a uid block of
// slots 50-59 (uids 70000-70999), an attacker kernel reached only through the public API, a victim kernel
// whose `1+1` round trip over the websocket is the measure of what an attack costs other users, and the
// host-side checks every attack ends with (no process of the attacker's uid left, the server still up).
import { mkdirSync, readdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect } from 'vitest';
import type { ServerConfig } from '../../server/config.js';
import { api, type Json, newKernel, RawClient, startServer, type TestServer } from '../server/helpers.js';

export { api, auth, type Json, RawClient, type TestServer, TOKEN } from '../server/helpers.js';

const OUT = join(import.meta.dirname, '..', '..', 'test-output');

export function startSecurityServer(
  slot: number,
  over: Partial<ServerConfig> = {},
  opts: { store?: boolean; jobs?: boolean } = { store: true },
): Promise<TestServer> {
  if (slot < 50 || slot > 59) throw new Error('the security suite uses slots 50-59');
  return startServer(slot, over, opts);
}

/** Live (non-zombie) processes of `uid` on the host. */
export function processesOf(uid: number): string[] {
  const found: string[] = [];
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    try {
      const status = readFileSync(`/proc/${d}/status`, 'utf8');
      if (/^State:\s+Z/m.test(status)) continue;
      const uids = /^Uid:\s+(.*)$/m.exec(status)?.[1]?.split(/\s+/).map(Number) ?? [];
      if (uids.includes(uid)) found.push(`${d} ${/^Name:\s+(.*)$/m.exec(status)?.[1]}`);
    } catch {
      // Exited meanwhile.
    }
  }
  return found;
}

export async function waitGone(uid: number, timeoutMs = 5_000): Promise<string[]> {
  const deadline = Date.now() + timeoutMs;
  let left = processesOf(uid);
  while (left.length > 0 && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 50));
    left = processesOf(uid);
  }
  return left;
}

export const median = (xs: number[]): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
};

/** A kernel reached over the public websocket, with its host uid (asked of the kernel itself). */
export class Tenant {
  private constructor(
    readonly s: TestServer,
    readonly id: string,
    readonly client: RawClient,
    readonly uid: number,
  ) {}

  static async open(s: TestServer): Promise<Tenant> {
    const id = await newKernel(s);
    const client = await RawClient.open(s, id);
    const r = await client.run('import os; print(os.getuid())');
    return new Tenant(s, id, client, Number(r.stdout.trim()));
  }

  /** Median `1+1` round trip (ms) over the websocket, from execute_request to execute_reply. */
  async rtt(samples = 5): Promise<number> {
    const times: number[] = [];
    for (let i = 0; i < samples; i++) {
      const t0 = performance.now();
      const r = await this.client.run('1+1', 30_000);
      expect(r.reply.content.status, JSON.stringify(r.reply.content).slice(0, 500)).toBe('ok');
      times.push(performance.now() - t0);
    }
    return median(times);
  }

  async model(): Promise<Json> {
    return (await api(this.s, 'GET', `/api/kernels/${this.id}`)).body;
  }

  /** Shuts the kernel down through the API and checks nothing of its uid survives. */
  async destroy(): Promise<void> {
    this.client.close();
    const r = await api(this.s, 'DELETE', `/api/kernels/${this.id}`);
    expect([204, 404]).toContain(r.status);
    expect(await waitGone(this.uid)).toEqual([]);
  }
}

/** Appends one line to test-output/security-<file>.json for the report. */
export function record(file: string, row: Json): void {
  mkdirSync(OUT, { recursive: true });
  const path = join(OUT, `security-${file}.jsonl`);
  writeFileSync(path, `${JSON.stringify(row)}\n`, { flag: 'a' });
}

export async function healthy(s: TestServer): Promise<void> {
  const r = await fetch(`${s.base}/healthz`);
  expect(r.status).toBe(200);
}
