// The server's log as an operator reads it (issue 18, point 12): `npm start`'s entry point as a
// process, its standard output (not a terminal: JSON lines) read whole, through start-up, a kernel
// with a websocket client, a one-shot execution, and a SIGTERM while a pool kernel is still starting.
// Every line is JSON with no key twice, each sandbox start-up line is written once, the close code
// logged is the one the client received, and a clean stop logs nothing at error level.
import { spawn } from 'node:child_process';
import { randomUUID } from 'node:crypto';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterAll, describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { executeMsg, TOKEN } from './helpers.js';

const SLOT = 27;
const dir = mkdtempSync(join(tmpdir(), 'runcell-logs-'));
// Kernel uids must reach a spec's dir, or the spec is not offered (env-paths.ts).
chmodSync(dir, 0o755);
// A kernelspec whose kernel never answers: the pool keeps one starting for as long as the test runs.
mkdirSync(join(dir, 'jupyter', 'kernels', 'mute'), { recursive: true });
writeFileSync(
  join(dir, 'jupyter', 'kernels', 'mute', 'kernel.json'),
  JSON.stringify({
    argv: ['/usr/bin/python3', '-c', 'import time; time.sleep(600)', '{connection_file}'],
    language: 'python',
  }),
);

afterAll(() => {
  rmSync(dir, { recursive: true, force: true });
});

type Line = Record<string, unknown> & { level: number; msg?: string };

/** Keys written twice in one object of a JSON text (JSON.parse would keep only the last). */
function duplicateKeys(text: string): string[] {
  const dups: string[] = [];
  const frames: { keys?: Set<string>; atKey: boolean }[] = [];
  for (let i = 0; i < text.length; i++) {
    const c = text[i];
    if (c === '"') {
      let j = i + 1;
      while (text[j] !== '"') j += text[j] === '\\' ? 2 : 1;
      const top = frames.at(-1);
      if (top?.keys && top.atKey) {
        const key = JSON.parse(text.slice(i, j + 1)) as string;
        if (top.keys.has(key)) dups.push(key);
        top.keys.add(key);
        top.atKey = false;
      }
      i = j;
    } else if (c === '{') frames.push({ keys: new Set(), atKey: true });
    else if (c === '[') frames.push({ atKey: false });
    else if (c === '}' || c === ']') frames.pop();
    else if (c === ',') {
      const top = frames.at(-1);
      if (top?.keys) top.atKey = true;
    }
  }
  return dups;
}

describe('the server log', () => {
  it('is JSON lines without repeated keys or lines, true close codes, and no error for a clean stop', async () => {
    expect(duplicateKeys('{"a":1,"b":{"a":2,"c":[{"a":3}]},"d":"\\"a\\""}')).toEqual([]);
    expect(duplicateKeys('{"component":"jobs","x":{"y":1},"component":"jobs"}')).toEqual(['component']);

    const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', main], {
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: '0',
        RUNCELL_LOG_LEVEL: 'debug',
        RUNCELL_TOKENS: TOKEN,
        RUNCELL_DATA_DIR: join(dir, 'data'),
        JUPYTER_PATH: join(dir, 'jupyter'),
        RUNCELL_POOL_SPECS: 'mute',
        RUNCELL_POOL_SIZE: '1',
        RUNCELL_KERNEL_STARTUP_TIMEOUT_MS: '600000',
        RUNCELL_SANDBOX_UID_RANGE: `${65_000 + SLOT * 100}-${65_000 + SLOT * 100 + 99}`,
        RUNCELL_SANDBOX_RUNTIME_ROOT: `/run/rc-s${SLOT}`,
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
    let clientSaw: number;
    try {
      const base = await new Promise<string>((resolve, reject) => {
        const t = setInterval(() => {
          const m = /Server listening at (http:\/\/127\.0\.0\.1:\d+)/.exec(out);
          if (m?.[1]) {
            clearInterval(t);
            resolve(m[1]);
          }
        }, 20);
        void exited.then(() => reject(new Error(`exited early: ${out}`)));
      });
      const h = { authorization: `token ${TOKEN}`, 'content-type': 'application/json' };
      const k = (await (
        await fetch(`${base}/api/kernels`, { method: 'POST', headers: h, body: '{"name":"python3"}' })
      ).json()) as { id: string };
      const session = randomUUID();
      const ws = new WebSocket(
        `${base.replace('http', 'ws')}/api/kernels/${k.id}/channels?session_id=${session}`,
        { headers: h },
      );
      await new Promise((r) => ws.once('open', r));
      const replied = new Promise<void>((resolve) =>
        ws.on('message', (data) => {
          const m = JSON.parse(String(data)) as { header?: { msg_type?: string } };
          if (m.header?.msg_type === 'execute_reply') resolve();
        }),
      );
      ws.send(JSON.stringify(executeMsg('print(1)', session)));
      await replied;
      const oneShot = await fetch(`${base}/api/execute`, {
        method: 'POST',
        headers: h,
        body: JSON.stringify({ code: '6 * 7', kernel: 'python3' }),
      });
      expect(((await oneShot.json()) as { result: string }).result).toBe('42');

      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      child.kill('SIGTERM');
      clientSaw = await closed;
      expect(await exited).toBe(0);
    } finally {
      child.kill('SIGKILL');
    }

    // Every finding is reported (soft), not only the first.
    const lines = out
      .split('\n')
      .filter((l) => l.trim() !== '')
      .map((text) => ({ text, line: JSON.parse(text) as Line }));
    // No key twice (a child logger given a binding its parent already has writes it again).
    expect.soft(lines.filter((l) => duplicateKeys(l.text).length > 0).map((l) => l.text)).toEqual([]);
    expect
      .soft(lines.some((l) => l.line.component === 'jobs' && l.line.msg === 'jobs service started'))
      .toBe(true);

    // Each line of the sandbox's start-up report once, however it is worded.
    const report = lines.filter((l) => l.line.sandbox === 'bwrap').map((l) => String(l.line.msg));
    expect.soft(report.length).toBeGreaterThan(2);
    for (const r of report) {
      const mentions = lines.filter((l) => l.line.msg === r || l.line.sandbox === r);
      expect.soft({ line: r, times: mentions.length }).toEqual({ line: r, times: 1 });
    }

    // The server told the client 1001 (going away), and logs what the client received.
    expect.soft(clientSaw).toBe(1001);
    const wsClosed = lines.filter((l) => l.line.msg === 'websocket closed').map((l) => l.line.code);
    expect.soft(wsClosed).toEqual([1001]);

    // A clean stop, the pool's starting kernel included, is nothing to raise an alarm about.
    expect.soft(lines.some((l) => l.line.msg === 'shut down cleanly')).toBe(true);
    expect
      .soft(lines.some((l) => /still starting was stopped at shutdown/.test(String(l.line.msg))))
      .toBe(true);
    expect.soft(lines.filter((l) => l.line.level >= 50).map((l) => l.text)).toEqual([]);
  });
});
