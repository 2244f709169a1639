import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { ReplayLog } from '../../../server/bridge/replay.js';

describe('ReplayLog', () => {
  it('numbers entries and returns what follows a cursor', () => {
    const log = new ReplayLog<string>(10, 1_000_000);
    for (const v of ['a', 'b', 'c']) log.append(v, 1);
    expect(log.since(1).entries.map((e) => e.value)).toEqual(['b', 'c']);
    expect(log.since(3)).toMatchObject({ entries: [], lost: 0, next: 3 });
  });

  it('drops the oldest by count and by bytes, and reports the gap', () => {
    const log = new ReplayLog<number>(5, 100);
    for (let i = 1; i <= 8; i++) log.append(i, 10);
    expect(log.firstSeq).toBe(4);
    expect(log.since(0)).toMatchObject({ lost: 3, next: 8 });
    log.append(9, 80);
    expect(log.bytes).toBeLessThanOrEqual(100);
    expect(log.since(0).lost).toBe(log.firstSeq - 1);
  });

  it('filters by visibility and caps reads, moving the cursor past invisible entries', () => {
    const log = new ReplayLog<string>(100, 1e9);
    for (const v of ['x', 'mine', 'x', 'mine', 'mine']) log.append(v, 1);
    const r = log.since(0, (v) => v === 'mine', 2);
    expect(r.entries.map((e) => e.seq)).toEqual([2, 4]);
    expect(r).toMatchObject({ more: true, next: 4 });
    const r2 = log.since(r.next, (v) => v === 'mine', 2);
    expect(r2.entries.map((e) => e.seq)).toEqual([5]);
    expect(log.since(5, (v) => v === 'mine').next).toBe(5);
  });

  it('keeps its invariants under any sequence of appends and reads', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 20 }),
        fc.array(fc.tuple(fc.integer({ min: 1, max: 50 }), fc.integer({ min: 0, max: 60 })), {
          maxLength: 200,
        }),
        (max, ops) => {
          const log = new ReplayLog<number>(max, 400);
          for (const [bytes, cursor] of ops) {
            log.append(bytes, bytes);
            expect(log.size).toBeLessThanOrEqual(max);
            expect(log.size === 1 || log.bytes <= 400).toBe(true);
            const r = log.since(cursor);
            const c = Math.min(cursor, log.lastSeq);
            expect(r.lost).toBe(Math.max(0, log.firstSeq - c - 1));
            expect(r.entries.length + r.lost).toBe(log.lastSeq - c);
            expect(r.next).toBe(log.lastSeq);
          }
        },
      ),
    );
  });
});
