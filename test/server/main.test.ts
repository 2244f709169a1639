// `npm start`'s entry point as a process: it serves, and on SIGTERM tells clients (1001), shuts its
// kernels down and exits 0.
import { spawn } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { describe, expect, it } from 'vitest';
import WebSocket from 'ws';
import { TOKEN } from './helpers.js';

describe('server/main.ts', () => {
  it('starts, serves and shuts down gracefully on SIGTERM', async () => {
    const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', main], {
      env: {
        PATH: process.env.PATH,
        HOST: '127.0.0.1',
        PORT: '0',
        RUNCELL_LOG_LEVEL: 'info',
        RUNCELL_TOKENS: TOKEN,
        RUNCELL_POOL_SIZE: '1',
        RUNCELL_SANDBOX_UID_RANGE: '65700-65799',
        RUNCELL_SANDBOX_RUNTIME_ROOT: '/run/rc-s7',
      },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    child.stdout.on('data', (d) => {
      out += d;
    });
    const exited = new Promise<number | null>((resolve) => child.on('exit', (code) => resolve(code)));
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
        await fetch(`${base}/api/kernels`, { method: 'POST', headers: h, body: '{}' })
      ).json()) as { id: string };
      const ws = new WebSocket(`${base.replace('http', 'ws')}/api/kernels/${k.id}/channels?session_id=a`, {
        headers: h,
      });
      await new Promise((r) => ws.once('open', r));
      const closed = new Promise<number>((r) => ws.once('close', (code) => r(code)));
      child.kill('SIGTERM');
      expect(await closed).toBe(1001);
      expect(await exited).toBe(0);
      expect(out).toMatch(/shut down cleanly/);
      expect(out).not.toContain(TOKEN);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('refuses a bad configuration with a clear message and exit code 2', async () => {
    const main = fileURLToPath(new URL('../../server/main.ts', import.meta.url));
    const child = spawn(process.execPath, ['--import', 'tsx', main], {
      env: { PATH: process.env.PATH, PORT: 'eighty' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let err = '';
    child.stderr.on('data', (d) => {
      err += d;
    });
    const code = await new Promise<number | null>((resolve) => child.on('exit', resolve));
    expect(code).toBe(2);
    expect(err).toMatch(/PORT: expected an integer between 0 and 65535, got "eighty"/);
  });
});
