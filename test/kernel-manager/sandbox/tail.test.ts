import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { OutputTail, signalName } from '../../../kernel-manager/sandbox/tail.js';

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
