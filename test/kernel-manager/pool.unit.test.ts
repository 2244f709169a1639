// The pool's hand-out order, parallel refills, growth with demand and retirement, with fake kernels
// whose starts the test finishes by hand (no processes; the real ones: pool.test.ts, pool-burst.test.ts).
import { EventEmitter } from 'node:events';
import { pino } from 'pino';
import { afterEach, describe, expect, it } from 'vitest';
import { KernelManagerError } from '../../kernel-manager/errors.js';
import { Pool, type PoolDeps, REHEARSE_QUIET_MS } from '../../kernel-manager/pool.js';
import type { PoolConfig } from '../../kernel-manager/types.js';

class FakeKernel extends EventEmitter {
  static next = 0;
  readonly id = ++FakeKernel.next;
  dead = false;
  constructor(readonly spec: string) {
    super();
  }
  async shutdown(): Promise<void> {
    if (this.dead) return;
    this.dead = true;
    this.emit('dead');
  }
}

interface Start {
  spec: string;
  finish(): FakeKernel;
  fail(e: Error): void;
}

interface Rehearsal {
  spec: string;
  k: FakeKernel;
  /** The pool asked it to stop (a request arrived). */
  stopped: boolean;
  done(): Promise<void>;
  fail(e: Error): Promise<void>;
}

function harness(
  over: Partial<PoolConfig> = {},
  maxKernels = 50,
  specs = ['py'],
  /** Specs whose warm kernels rehearse (the test finishes each rehearsal by hand). */
  rehearsing: string[] = [],
) {
  const config: PoolConfig = {
    size: 2,
    max: 8,
    headroom: 1.5,
    memoryMs: 60_000,
    parallel: 2,
    specs,
    queueMax: 100,
    queueTimeoutMs: 30_000,
    refillDelayMs: 0,
    ...over,
  };
  const promoted: [string, number][] = [];
  const live = new Set<FakeKernel>();
  const starts: Start[] = [];
  const rehearsals: Rehearsal[] = [];
  let clock = 0;
  let liveStarting = 0;
  const deps: PoolDeps<FakeKernel> = {
    config,
    maxKernels,
    live: () => live.size + liveStarting,
    now: () => clock,
    log: pino({ level: 'silent' }),
    promote: (spec, n) => promoted.push([spec, n]),
    rehearse: (spec, k) => {
      if (!rehearsing.includes(spec)) return undefined;
      let r: Rehearsal | undefined;
      const done = new Promise<void>((resolve, reject) => {
        const settle = async (f: () => void) => {
          rehearsals.splice(rehearsals.indexOf(r as Rehearsal), 1);
          f();
          await flush();
        };
        r = { spec, k, stopped: false, done: () => settle(resolve), fail: (e) => settle(() => reject(e)) };
        rehearsals.push(r);
      });
      return {
        done,
        stop: () => {
          if (r?.stopped) throw new Error('stopped twice');
          if (r) r.stopped = true;
        },
      };
    },
    launch: (spec) =>
      new Promise((resolve, reject) => {
        liveStarting++;
        starts.push({
          spec,
          finish() {
            liveStarting--;
            const k = new FakeKernel(spec);
            live.add(k);
            k.once('dead', () => {
              live.delete(k);
              pool.pump();
            });
            resolve(k);
            return k;
          },
          fail(e) {
            liveStarting--;
            reject(e);
          },
        });
      }),
  };
  const pool = new Pool<FakeKernel>(specs, deps);
  const flush = () => new Promise((r) => setTimeout(r, 0));
  /** Finishes the oldest start in progress. */
  const finishOne = async () => {
    const s = starts.shift();
    if (!s) throw new Error('no start in progress');
    const k = s.finish();
    await flush();
    return k;
  };
  const fill = async () => {
    while (starts.length > 0) await finishOne();
  };
  return {
    pool,
    starts,
    rehearsals,
    promoted,
    live,
    flush,
    finishOne,
    fill,
    advance: (ms: number) => {
      clock += ms;
    },
  };
}

let pools: Pool<FakeKernel>[] = [];
afterEach(() => {
  for (const p of pools) p.close();
  pools = [];
});
const track = <T extends { pool: Pool<FakeKernel> }>(h: T) => {
  pools.push(h.pool);
  return h;
};

describe('pool refill', () => {
  it('fills to its floor with at most `parallel` starts at once', async () => {
    const h = track(harness({ size: 5, parallel: 2 }));
    h.pool.pump();
    expect(h.starts.length).toBe(2);
    expect(h.pool.starting).toBe(2);
    await h.finishOne();
    expect(h.pool.pooled).toBe(1);
    expect(h.starts.length).toBe(2);
    await h.fill();
    expect(h.pool.pooled).toBe(5);
    expect(h.pool.starting).toBe(0);
  });

  it('hands out from the pool, then from starts in progress, then from new starts, in arrival order', async () => {
    const h = track(harness({ size: 2, max: 2, parallel: 2 }));
    h.pool.pump();
    await h.fill();
    const got: number[] = [];
    const reqs = Array.from({ length: 6 }, (_, i) =>
      h.pool.acquire('py').then((k) => {
        got.push(i);
        return k;
      }),
    );
    await h.flush();
    // Two from the pool at once; the refill's two starts serve the next two.
    expect(got).toEqual([0, 1]);
    expect(h.starts.length).toBe(2);
    await h.finishOne();
    await h.finishOne();
    expect(got).toEqual([0, 1, 2, 3]);
    await h.fill();
    await h.fill();
    await Promise.all(reqs);
    expect(got).toEqual([0, 1, 2, 3, 4, 5]);
    const s = h.pool.served;
    expect(s.pool).toBe(2);
    expect(s.pool + s.starting + s.cold + s.queued).toBe(6);
    // Refilled to its size afterwards.
    await h.fill();
    expect(h.pool.pooled).toBe(2);
  });

  it('puts a refill off for refillDelayMs after a hand-out that leaves warm kernels, and refills an emptied pool at once', async () => {
    const h = track(harness({ size: 3, max: 3, parallel: 4, refillDelayMs: 40 }));
    h.pool.pump();
    await h.fill();
    // Two hand-outs within the delay: nothing starts during it (a visitor's first moments), then one
    // deferred refill starts both replacements.
    await h.pool.acquire('py');
    await h.flush();
    await h.pool.acquire('py');
    await h.flush();
    expect(h.starts.length).toBe(0);
    await new Promise((r) => setTimeout(r, 60));
    expect(h.starts.length).toBe(2);
    await h.fill();
    expect(h.pool.pooled).toBe(3);
    // Emptying the pool refills at once.
    await Promise.all([h.pool.acquire('py'), h.pool.acquire('py'), h.pool.acquire('py')]);
    await h.flush();
    expect(h.starts.length).toBe(3);
  });

  it('promotes the starts that requests wait on, and every refill of a pool below half its target', async () => {
    const h = track(harness({ size: 4, max: 4, parallel: 8 }));
    // Filling an empty pool: below half its target, so its refills run at full weight.
    h.pool.pump();
    expect(h.starts.length).toBe(4);
    expect(h.promoted.at(-1)).toEqual(['py', 4]);
    await h.fill();
    h.promoted.length = 0;
    // A hand-out from a well-stocked pool: its refill stays in the background.
    await h.pool.acquire('py');
    await h.flush();
    expect(h.starts.length).toBe(1);
    expect(h.promoted).toEqual([]);
    // Two more: one warm kernel left, below half of four: both refills in progress are promoted.
    await h.pool.acquire('py');
    await h.pool.acquire('py');
    await h.flush();
    expect(h.starts.length).toBe(3);
    expect(h.promoted.at(-1)).toEqual(['py', 3]);
    await h.fill();
    h.promoted.length = 0;
  });

  it('promotes as many starts as requests wait on them, no more', async () => {
    // No pool: only requests start kernels, one at a time.
    const h = track(harness({ size: 0, max: 0, parallel: 1 }));
    const p = [h.pool.acquire('py'), h.pool.acquire('py')];
    await h.flush();
    expect(h.starts.length).toBe(1);
    expect(h.promoted.at(-1)).toEqual(['py', 1]);
    await h.finishOne();
    expect(h.starts.length).toBe(1);
    expect(h.promoted.at(-1)).toEqual(['py', 1]);
    await h.finishOne();
    await Promise.all(p);
  });

  it('grows with a burst, serves the next burst from the pool, and retires the surplus when demand falls', async () => {
    const h = track(harness({ size: 2, max: 8, parallel: 2, memoryMs: 10_000 }));
    h.pool.pump();
    await h.fill();
    const first = Array.from({ length: 6 }, () => h.pool.acquire('py'));
    await h.flush();
    while (h.starts.length > 0) await h.finishOne();
    const kernels = await Promise.all(first);
    expect(new Set(kernels.map((k) => k.id)).size).toBe(6);
    // Six requests within one start time: 6 × 1.5 = 9, capped at 8.
    expect(h.pool.target('py')).toBe(8);
    await h.fill();
    expect(h.pool.pooled).toBe(8);
    for (const k of kernels) await k.shutdown();
    const before = h.pool.served;
    const second = await Promise.all(Array.from({ length: 6 }, () => h.pool.acquire('py')));
    expect(h.pool.served.pool - before.pool).toBe(6);
    for (const k of second) await k.shutdown();
    await h.fill();
    // Demand is forgotten after memoryMs: surplus warm kernels are shut down, one per spec per round.
    h.advance(11_000);
    expect(h.pool.target('py')).toBe(2);
    const pooled = h.pool.pooled;
    h.pool.retireSurplus();
    expect(h.pool.pooled).toBe(pooled - 1);
    while (h.pool.pooled > 2) h.pool.retireSurplus();
    h.pool.retireSurplus();
    expect(h.pool.pooled).toBe(2);
  });

  it('keeps under the global cap, queues beyond it, and serves the queue when a kernel dies', async () => {
    const h = track(harness({ size: 0, queueMax: 1, parallel: 4 }, 1));
    const a = h.pool.acquire('py');
    await h.flush();
    expect(h.starts.length).toBe(1);
    const ka = await h.finishOne();
    expect(await a).toBe(ka);
    const b = h.pool.acquire('py');
    const c = await h.pool.acquire('py').catch((e: unknown) => e);
    expect((c as KernelManagerError).code).toBe('CAPACITY');
    expect(h.pool.queued).toBe(1);
    expect(h.starts.length).toBe(0);
    await ka.shutdown();
    expect(h.starts.length).toBe(1);
    const kb = await h.finishOne();
    expect(await b).toBe(kb);
  });

  it('gives a failed start to the oldest request of that spec, and backs off refills otherwise', async () => {
    const h = track(harness({ size: 1, parallel: 1 }));
    const r = h.pool.acquire('py');
    await h.flush();
    h.starts.shift()?.fail(new KernelManagerError('START_FAILED', 'no python here'));
    const e = await r.catch((x: unknown) => x);
    expect((e as Error).message).toBe('no python here');
    // The pool's own refill failing counts as a failure and is retried later, not at once.
    await h.flush();
    const n = h.starts.length;
    h.starts.shift()?.fail(new Error('still broken'));
    await h.flush();
    expect(h.pool.failures).toBe(n > 0 ? 1 : 0);
    expect(h.starts.length).toBe(0);
  });

  it('retires a warm kernel of another spec to make room under the cap', async () => {
    const h = track(harness({ size: 1, parallel: 1 }, 1));
    h.pool.pump();
    const warm = await h.finishOne();
    const other = h.pool.acquire('other');
    await h.flush();
    expect(warm.dead).toBe(true);
    expect(h.starts.map((s) => s.spec)).toEqual(['other']);
    const k = await h.finishOne();
    expect(await other).toBe(k);
  });

  it('fails waiters and returns warm kernels on close', async () => {
    const h = harness({ size: 1, parallel: 1 }, 2);
    h.pool.pump();
    await h.fill();
    const waiting = h.pool.acquire('other').catch((e: unknown) => e);
    const closed = h.pool.close();
    expect(closed.length).toBe(1);
    expect(((await waiting) as KernelManagerError).code).toBe('CLOSED');
  });
});

describe('pool rehearsals', () => {
  it('rehearses one warm kernel at a time, only while no start runs and no request waits', async () => {
    const h = track(harness({ size: 3, max: 3, parallel: 3 }, 50, ['py'], ['py']));
    h.pool.pump();
    await h.finishOne();
    // Two starts still run: nothing rehearses yet.
    expect(h.rehearsals.length).toBe(0);
    await h.fill();
    expect(h.rehearsals.length).toBe(1);
    expect(h.pool.rehearsing).toBe(1);
    // The rehearsing kernel still counts as warm (the pool does not start a replacement for it).
    expect(h.pool.pooled).toBe(3);
    expect(h.starts.length).toBe(0);
    const first = h.rehearsals[0]?.k;
    await h.rehearsals[0]?.done();
    expect(h.rehearsals.length).toBe(1);
    expect(h.rehearsals[0]?.k).not.toBe(first);
    await h.rehearsals[0]?.done();
    await h.rehearsals[0]?.done();
    expect(h.rehearsals.length).toBe(0);
    expect(h.pool.rehearsing).toBe(0);
    expect(h.pool.pooled).toBe(3);
  });

  it('hands out a rehearsed kernel first, stops the rehearsal in progress, and none rehearses while the refill runs', async () => {
    const h = track(harness({ size: 3, max: 3, parallel: 3 }, 50, ['py'], ['py']));
    h.pool.pump();
    await h.fill();
    const rehearsed = h.rehearsals[0]?.k as FakeKernel;
    await h.rehearsals[0]?.done();
    // The second kernel rehearses now; a request takes the one that has, not the oldest.
    expect(h.rehearsals.length).toBe(1);
    const second = h.rehearsals[0] as (typeof h.rehearsals)[number];
    expect(second.stopped).toBe(false);
    const k = await h.pool.acquire('py');
    expect(k).toBe(rehearsed);
    expect(h.pool.servedRehearsed).toBe(1);
    // The request stopped the rehearsal in progress: the CPU is the visitor's.
    expect(second.stopped).toBe(true);
    expect(h.pool.rehearsalsStopped).toBe(1);
    // A refill starts for the hand-out; no new rehearsal begins once the stopped one has ended.
    await h.flush();
    expect(h.starts.length).toBe(1);
    await second.done();
    expect(h.rehearsals.length).toBe(0);
    expect(h.pool.pooled).toBe(2);
    // The stopped kernel did not rehearse: a second request gets it (first in line), not counted.
    const k2 = await h.pool.acquire('py');
    expect(k2).toBe(second.k);
    expect(h.pool.servedRehearsed).toBe(1);
    expect(h.pool.rehearsalsStopped).toBe(1);
    // The refills done, the rest rehearse once requests have paused for REHEARSE_QUIET_MS.
    await h.fill();
    expect(h.rehearsals.length).toBe(0);
    expect(h.pool.rehearsing).toBe(1);
    h.advance(REHEARSE_QUIET_MS - 1);
    h.pool.pump();
    expect(h.rehearsals.length).toBe(0);
    h.advance(1);
    h.pool.pump();
    expect(h.rehearsals.length).toBe(1);
  });

  it('serves a request that finds only the rehearsing kernel with it, once the rehearsal has stopped', async () => {
    const h = track(harness({ size: 1, max: 1, parallel: 1 }, 50, ['py'], ['py']));
    h.pool.pump();
    await h.fill();
    const r = h.rehearsals[0] as (typeof h.rehearsals)[number];
    let got: FakeKernel | undefined;
    const req = h.pool.acquire('py').then((x) => {
      got = x;
    });
    await h.flush();
    // Covered by the rehearsing kernel, asked to stop: not queued; the one start is the pool's refill.
    expect(r.stopped).toBe(true);
    expect(h.pool.queued).toBe(0);
    expect(h.starts.length).toBe(1);
    expect(got).toBeUndefined();
    await r.done();
    await req;
    expect(got).toBe(r.k);
    expect(h.pool.served.starting).toBe(1);
    expect(h.pool.servedRehearsed).toBe(0);
    expect(h.pool.rehearsalsStopped).toBe(1);
    // The refill goes to the pool.
    await h.fill();
    expect(h.pool.pooled).toBe(1);
  });

  it('rehearses a stopped kernel again once requests pause, and never stops a rehearsal twice', async () => {
    const h = track(harness({ size: 2, max: 2, parallel: 2 }, 50, ['py'], ['py']));
    h.pool.pump();
    await h.fill();
    const first = h.rehearsals[0] as (typeof h.rehearsals)[number];
    // Two requests in a row during one rehearsal: one stop (the fake throws on a second).
    const a = await h.pool.acquire('py');
    expect(a).not.toBe(first.k);
    expect(first.stopped).toBe(true);
    await h.flush();
    await h.fill();
    const b = h.pool.acquire('py');
    await h.flush();
    expect(h.pool.rehearsalsStopped).toBe(1);
    await first.done();
    expect(await b).not.toBe(first.k);
    // Refilled; the stopped kernel and the new ones rehearse after a quiet REHEARSE_QUIET_MS.
    await h.fill();
    expect(h.pool.pooled).toBe(2);
    expect(h.rehearsals.length).toBe(0);
    h.advance(REHEARSE_QUIET_MS);
    h.pool.pump();
    expect(h.rehearsals[0]?.k).toBe(first.k);
    await h.rehearsals[0]?.done();
    await h.rehearsals[0]?.done();
    expect(h.rehearsals.length).toBe(0);
    await h.pool.acquire('py');
    await h.pool.acquire('py');
    expect(h.pool.servedRehearsed).toBe(2);
  });

  it('shuts down a kernel whose rehearsal fails and refills; close returns the one rehearsing', async () => {
    const h = track(harness({ size: 2, max: 2, parallel: 2 }, 50, ['py'], ['py']));
    h.pool.pump();
    await h.fill();
    const bad = h.rehearsals[0]?.k as FakeKernel;
    await h.rehearsals[0]?.fail(new Error('kernel died'));
    expect(bad.dead).toBe(true);
    expect(h.pool.pooled).toBe(1);
    expect(h.starts.length).toBe(1);
    await h.fill();
    expect(h.pool.pooled).toBe(2);
    const rehearsing = h.rehearsals[0]?.k;
    expect(rehearsing).toBeDefined();
    const closed = h.pool.close();
    expect(closed).toContain(rehearsing);
    expect(closed.length).toBe(2);
    // Its rehearsal ending after close does not put it back.
    await h.rehearsals[0]?.done();
    expect(h.pool.pooled).toBe(0);
  });

  it('marks the kernels of a spec with nothing to rehearse as rehearsed without running anything', async () => {
    const h = track(harness({ size: 2, max: 2, parallel: 2 }, 50, ['py', 'r'], ['py']));
    h.pool.pump();
    await h.fill();
    await h.rehearsals[0]?.done();
    await h.rehearsals[0]?.done();
    expect(h.rehearsals.length).toBe(0);
    await h.pool.acquire('r');
    await h.pool.acquire('py');
    expect(h.pool.servedRehearsed).toBe(2);
  });
});
