// The SDK's runnable examples (sdk/examples/, quoted in docs/jobs.md), run as a user runs them:
// a separate process against a real server. The seed style's exit() timeout leaves the slow job
// running on the server; the example resumes it from another client and cancels it.
import { spawn } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { RunCell } from '../../sdk/index.js';
import { type Stack, startStack, TOKENS } from '../server/jobs/helpers.js';

const SLOT = 141;

function example(name: string, env: Record<string, string> = {}): Promise<{ code: number; out: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', `sdk/examples/${name}`], {
      env: { ...process.env, RUNCELL_SERVER: base, RUNCELL_TOKEN: TOKENS[0] as string, ...env },
    });
    let out = '';
    p.stdout.on('data', (d) => (out += d));
    p.stderr.on('data', (d) => (out += d));
    p.on('close', (code) => resolve({ code: code ?? -1, out }));
  });
}

let s: Stack;
let base = '';

describe('sdk examples', () => {
  beforeAll(async () => {
    s = await startStack(SLOT, { http: true, poolSize: 2, maxKernels: 4 });
    base = s.base;
  }, 60_000);
  afterAll(() => s?.stop());

  it('seed style: execute() without await, exit({ timeout }) reports what finished, resume() picks up the rest', async () => {
    const r = await example('seed-style.ts', { TIMEOUT_S: '8' });
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^sum succeeded 45$/m);
    const ids = /^unfinished: (\S+)$/m.exec(r.out)?.[1];
    expect(ids, r.out).toMatch(/^[0-9a-f-]{36}$/);
    // It went on running after the first exit() (partial completion), until the resume cancelled it.
    expect(r.out).toMatch(/^slow cancelled$/m);
    const rc = new RunCell({ url: base, token: TOKENS[0] as string });
    const slow = await rc.get(ids as string);
    expect(slow.history.map((h) => h.state)).toContain('running');
    expect(slow.state).toBe('cancelled');
  }, 60_000);

  it('batch style: one batch, its events, and a rerun of that batch only', async () => {
    const r = await example('batch-style.ts');
    expect(r.code, r.out).toBe(0);
    expect(r.out).toMatch(/^batch [0-9a-f-]{36} runs 2 at a time$/m);
    expect(r.out).toMatch(/^answer succeeded 42$/m);
    expect(r.out).toMatch(/^broken failed ValueError: bad input$/m);
    expect(r.out).toMatch(/^reran 1$/m);
    expect(r.out.match(/^event succeeded /gm)).toHaveLength(1);
  }, 60_000);
});
