// Which held page polls a message ends (server/bridge/pagewake.ts): a message for a stream the poll
// lacks ends it; one for a stream it carries does not; a poll still on its way when the message came
// is ended on arrival, once; nothing is left behind.
import { afterEach, describe, expect, it } from 'vitest';
import { PageWakes, streamKey } from '../../../server/bridge/pagewake.js';

const A = streamKey('k1', 's1');
const B = streamKey('k2', 's2');
let wakes: PageWakes;

afterEach(() => wakes.dispose());

describe('PageWakes', () => {
  it('a message for a stream a held poll lacks ends that poll; one it carries does not', () => {
    wakes = new PageWakes();
    let woken = 0;
    const release = wakes.hold(['p'], new Set([A]), () => woken++);
    wakes.sent('p', A);
    expect(woken).toBe(0);
    wakes.sent('p', B);
    expect(woken).toBe(1);
    // Another page's message wakes nothing here.
    wakes.sent('q', B);
    expect(woken).toBe(1);
    release();
    // The poll that carries B consumes what was pending for it.
    const r2 = wakes.hold(['p'], new Set([A, B]), () => woken++);
    expect(woken).toBe(1);
    r2();
    wakes.sent('q', B);
    const r3 = wakes.hold(['q'], new Set([A, B]), () => woken++);
    r3();
    expect(wakes.size).toBe(0);
  });

  it('a poll on its way when the message came is ended on arrival, and only the first one', () => {
    wakes = new PageWakes();
    wakes.sent('p', B);
    let woken = 0;
    const r1 = wakes.hold(['p'], new Set([A]), () => woken++);
    expect(woken).toBe(1);
    r1();
    // The client's next poll (still without B, say) is held: the message was owed once.
    const r2 = wakes.hold(['p'], new Set([A]), () => woken++);
    expect(woken).toBe(1);
    r2();
    expect(wakes.size).toBe(0);
  });

  it('a poll of several pages is woken by any of them, and released from all', () => {
    wakes = new PageWakes();
    let woken = 0;
    const release = wakes.hold(['p', 'q'], new Set([A]), () => woken++);
    wakes.sent('q', B);
    expect(woken).toBe(1);
    release();
    // B is pending on q until a poll carries it or it expires; p is gone.
    const r = wakes.hold(['q'], new Set([B]), () => woken++);
    r();
    expect(woken).toBe(1);
    expect(wakes.size).toBe(0);
  });
});
