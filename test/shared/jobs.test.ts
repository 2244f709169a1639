// The job states (shared/job-states.ts) and the jobs API's schemas built on them (shared/jobs.ts):
// the guard, the state schema and the rerun body agree with the one list.
import fc from 'fast-check';
import { Value } from 'typebox/value';
import { describe, expect, it } from 'vitest';
import { FINAL_STATES, isFinal, STATES } from '../../shared/job-states.js';
import { RerunBody, State } from '../../shared/jobs.js';

describe('job states', () => {
  it('final states are states, and the guard picks exactly them', () => {
    expect(STATES.filter(isFinal)).toEqual([...FINAL_STATES]);
    for (const s of ['waiting', 'queued', 'launched', 'running']) expect(isFinal(s)).toBe(false);
  });

  it('the guard refuses every other string', () => {
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(isFinal(s)).toBe((FINAL_STATES as readonly string[]).includes(s));
      }),
    );
  });

  it('the State schema accepts exactly the listed states', () => {
    for (const s of STATES) expect(Value.Check(State, s)).toBe(true);
    fc.assert(
      fc.property(fc.string(), (s) => {
        expect(Value.Check(State, s)).toBe((STATES as readonly string[]).includes(s));
      }),
    );
  });

  it('a rerun may name only final states', () => {
    for (const s of STATES) expect(Value.Check(RerunBody, { states: [s] })).toBe(isFinal(s));
    expect(Value.Check(RerunBody, { states: [] })).toBe(false);
  });
});
