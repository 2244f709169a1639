// `runcell submit pipeline.yaml|.json` against a real server (in this process, on its own uid
// slot): the graph's progress as it happens, a table at the end, exit codes, one-line errors for a
// bad pipeline; and the SDK's parser on both formats.
import { spawn } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, test } from 'vitest';
import { PipelineError, parsePipeline, RunCell } from '../../sdk/index.js';
import { type Stack, startStack, TOKENS } from '../server/jobs/helpers.js';

const SLOT = 38;
const dir = mkdtempSync(join(tmpdir(), 'runcell-cli-pipeline-'));
const file = (name: string, text: string) => {
  const p = join(dir, name);
  writeFileSync(p, text);
  return p;
};

let s: Stack;

function cli(args: string[]): Promise<{ code: number; stdout: string; stderr: string }> {
  return new Promise((resolve) => {
    const p = spawn(process.execPath, ['--import', 'tsx', 'cli/runcell.ts', ...args], {
      env: { ...process.env, RUNCELL_SERVER: s.base, RUNCELL_TOKEN: TOKENS[0] as string },
    });
    let stdout = '';
    let stderr = '';
    p.stdout.on('data', (d) => (stdout += d));
    p.stderr.on('data', (d) => (stderr += d));
    p.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr }));
  });
}

describe('runcell submit PIPELINE', () => {
  beforeAll(async () => {
    s = await startStack(SLOT, { backend: 'postgres', http: true, poolSize: 2, maxKernels: 4 });
  });
  afterAll(() => s?.stop());

  test('a YAML diamond: live progress on stderr, a table on stdout, exit 0', async () => {
    file('a.py', "open('a.txt', 'w').write('a')\n");
    file('d.py', "print(open('b.txt').read(), open('c.txt').read())\n");
    const p = file(
      'diamond.yaml',
      [
        'tags: [pipe]',
        'jobs:',
        '  A: { file: a.py }',
        "  B: { code: \"open('b.txt', 'w').write(open('a.txt').read() + 'b')\", needs: [A] }",
        '  C:',
        '    code: open("c.txt", "w").write(open("a.txt").read() + "c")',
        '    needs: [A]',
        '    replicas: 2',
        '  D: { file: d.py, needs: [B, C] }',
        '',
      ].join('\n'),
    );
    const r = await cli(['submit', p]);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout).toMatch(/^ID\s+NAME\s+STATE\s+TRY\s+SECONDS\s+NEEDS\s+REPLICAS\s+REASON\n/);
    expect(r.stdout).toMatch(/\sD\s+succeeded\s+1\s+[\d.]+\s+B,C\s+1/);
    expect(r.stdout).toMatch(/\sC\s+succeeded\s+1\s+[\d.]+\s+A\s+2 agree/);
    // Not a terminal: one line per state change, in the order they happened.
    const d = r.stderr
      .split('\n')
      .filter((l) => / D /.test(l))
      .map((l) => l.split(' ').at(-1));
    expect(d).toEqual(['waiting', 'queued', 'launched', 'running', 'succeeded']);
    const lines = r.stderr.split('\n');
    const at = (what: string) => lines.findIndex((l) => l.endsWith(what));
    expect(at('A succeeded')).toBeLessThan(at('B launched'));
    expect(at('C succeeded')).toBeLessThan(at('D queued'));
    const rc = new RunCell({ url: s.base, token: TOKENS[0] as string });
    const logs = await rc.list({ tag: 'pipe', state: 'succeeded' });
    expect(logs.jobs).toHaveLength(4);
  }, 45_000);

  test('a failing job: dependants skipped, exit 1; --json', async () => {
    const p = file(
      'fail.json',
      JSON.stringify({
        jobs: [
          { name: 'X', code: '1/0' },
          { name: 'Y', code: 'print(1)', needs: ['X'] },
        ],
      }),
    );
    const r = await cli(['submit', p, '--json']);
    expect(r.code).toBe(1);
    const out = JSON.parse(r.stdout) as { name: string; state: string; reason: string }[];
    expect(out.map((j) => [j.name, j.state])).toEqual([
      ['X', 'failed'],
      ['Y', 'skipped'],
    ]);
    expect(out[1]?.reason).toBe('needs "X", which ended failed');
    // Rerunning X reruns what it skipped downstream too, and reports both.
    const again = await cli(['rerun', (out[0] as unknown as { id: string }).id, '--json']);
    expect(again.code).toBe(1);
    expect(
      (JSON.parse(again.stdout) as { name: string; state: string; attempt: number }[]).map((j) => [
        j.name,
        j.state,
        j.attempt,
      ]),
    ).toEqual([
      ['X', 'failed', 2],
      ['Y', 'skipped', 2],
    ]);
  }, 30_000);

  test('a cycle or a bad file is one line on stderr and exit 2', async () => {
    const cyc = file('cycle.yaml', 'jobs:\n  P: { code: "1", needs: [Q] }\n  Q: { code: "1", needs: [P] }\n');
    const r = await cli(['submit', cyc]);
    expect(r.code).toBe(2);
    expect(r.stderr).toBe('runcell: the needs form a cycle: P -> Q -> P\n');
    // Over HTTP: 400 with {code, message}, and nothing stored.
    const res = await fetch(`${s.base}/api/jobs`, {
      method: 'POST',
      headers: { authorization: `token ${TOKENS[1]}`, 'content-type': 'application/json' },
      body: JSON.stringify({ jobs: [{ name: 'P', code: '1', needs: ['P'] }] }),
    });
    expect(res.status).toBe(400);
    expect(await res.json()).toEqual({
      code: 'RUNCELL_ERR_JOB_BAD_PIPELINE',
      message: 'the needs form a cycle: P -> P',
    });
    const other = new RunCell({ url: s.base, token: TOKENS[1] as string });
    expect((await other.list()).jobs).toEqual([]);
    const bad = await cli(['submit', file('bad.yaml', 'jobs:\n  P: { file: missing.py }\n')]);
    expect(bad.code).toBe(2);
    expect(bad.stderr).toBe('runcell: job "P": cannot read missing.py (ENOENT)\n');
  }, 30_000);
});

describe('parsePipeline', () => {
  test('YAML map and JSON list give the same specs; defaults apply; shapes are checked', () => {
    const yaml = parsePipeline(
      'timeout: 5\njobs:\n  a: { code: "1" }\n  b: { code: "2", needs: a, replicas: 3, pick: majority }\n',
    );
    const json = parsePipeline(
      JSON.stringify({
        timeout: 5,
        jobs: [
          { name: 'a', code: '1' },
          { name: 'b', code: '2', needs: ['a'], replicas: 3, pick: 'majority' },
        ],
      }),
      { format: 'json' },
    );
    expect(yaml).toEqual(json);
    expect(yaml[1]).toEqual({
      name: 'b',
      code: '2',
      needs: ['a'],
      replicas: 3,
      pick: 'majority',
      timeout: 5,
    });
    expect(() => parsePipeline('jobs: []')).toThrow(PipelineError);
    expect(() => parsePipeline('jobs:\n  a: { code: "1", file: x.py }\n')).toThrow(/exactly one of/);
    expect(() => parsePipeline('jobs:\n  a: { code: "1", pick: best }\n')).toThrow(/"pick"/);
    expect(() => parsePipeline('jobs:\n  a: { code: "1", nedds: [b] }\n')).toThrow(/unknown key "nedds"/);
  });
});
