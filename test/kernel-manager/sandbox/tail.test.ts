import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import {
  OutputTail,
  START_OUTPUT_BYTES,
  START_OUTPUT_LINES,
  signalName,
  startOutput,
} from '../../../kernel-manager/sandbox/tail.js';

describe('OutputTail', () => {
  it('keeps exactly the last maxBytes of everything pushed', () => {
    fc.assert(
      fc.property(
        fc.array(fc.uint8Array({ maxLength: 300 })),
        fc.integer({ min: 1, max: 500 }),
        (chunks, max) => {
          const t = new OutputTail(max);
          for (const c of chunks) t.push(Buffer.from(c));
          const all = Buffer.concat(chunks.map((c) => Buffer.from(c)));
          expect(t.text()).toBe(all.subarray(Math.max(0, all.length - max)).toString('utf8'));
        },
      ),
    );
  });

  it('names signals', () => {
    expect(signalName(9)).toBe('SIGKILL');
    expect(signalName(24)).toBe('SIGXCPU');
    expect(signalName(999)).toBeUndefined();
  });
});

describe('startOutput', () => {
  it('keeps the last lines, without host paths or control characters', () => {
    const text = [
      ...Array.from({ length: 40 }, (_, i) => `noise ${i}`),
      'Traceback (most recent call last):',
      '  File "/srv/runcell/data/x.py", line 1, in <module>',
      '  File "/run/rc-s22/k1/conn.json"',
      '\u001b[31m/usr/bin/python3: No module named nonexistent_module\u0007',
    ].join('\r\n');
    const out = startOutput(text, ['/srv/runcell/data', '/srv/runcell', '/run/rc-s22/']);
    const lines = out.split('\n');
    expect(lines).toHaveLength(START_OUTPUT_LINES);
    expect(lines.at(-1)).toBe('[31m/usr/bin/python3: No module named nonexistent_module');
    expect(out).not.toContain('/srv/runcell');
    expect(out).not.toContain('/run/rc-s22');
    expect(out).toContain('File "…/x.py"');
  });

  it('is bounded in bytes whatever it is given', () => {
    fc.assert(
      fc.property(fc.string({ maxLength: 20_000 }), fc.array(fc.string({ maxLength: 20 })), (text, paths) => {
        const out = startOutput(text, paths);
        expect(Buffer.byteLength(out)).toBeLessThanOrEqual(START_OUTPUT_BYTES + 3);
        expect(out.split('\n').length).toBeLessThanOrEqual(START_OUTPUT_LINES);
      }),
    );
    expect(startOutput('x'.repeat(10_000), []).startsWith('…')).toBe(true);
  });
});
