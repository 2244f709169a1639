// server/logger.ts: JSON lines for machines, readable lines on a terminal (pino-pretty, loaded only
// then), tokens redacted either way (issue 18, point 12).
import { Writable } from 'node:stream';
import { describe, expect, it } from 'vitest';
import { createLogger, type LogOutput } from '../../server/logger.js';

/** A stream that keeps what is written, and says whether it is a terminal. */
function capture(isTTY: boolean): { out: LogOutput; text: () => string } {
  let text = '';
  const out = new Writable({
    write(chunk: Buffer, _enc, done) {
      text += chunk.toString();
      done();
    },
  }) as Writable & { isTTY?: boolean };
  out.isTTY = isTTY;
  return { out, text: () => text };
}

/** Resolves once `text` holds something (pino-pretty writes through a stream pipeline, not at once). */
async function written(text: () => string): Promise<string> {
  const deadline = Date.now() + 5_000;
  while (text() === '' && Date.now() < deadline) await new Promise((r) => setTimeout(r, 5));
  return text();
}

describe('createLogger', () => {
  it('writes JSON lines when the output is not a terminal', async () => {
    const { out, text } = capture(false);
    const log = await createLogger('info', out);
    log.child({ component: 'jobs' }).info({ token: 'sekrit', n: 1 }, 'hello');
    const line = JSON.parse((await written(text)).trim()) as Record<string, unknown>;
    expect(line).toMatchObject({ level: 30, component: 'jobs', n: 1, msg: 'hello', token: '[REDACTED]' });
  });

  it('writes readable lines on a terminal, with the same redaction', async () => {
    const { out, text } = capture(true);
    const log = await createLogger('info', out);
    log.child({ component: 'jobs' }).warn({ token: 'sekrit' }, 'hello there');
    const t = await written(text);
    expect(t).toMatch(/WARN/);
    expect(t).toContain('hello there');
    expect(t).toContain('component');
    expect(t).not.toContain('sekrit');
    expect(() => JSON.parse(t.trim())).toThrow();
  });
});
