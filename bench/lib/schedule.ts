// Seeded Poisson arrivals for the arrival benches: every server and every run gets the same schedule.

/** mulberry32: a small seeded PRNG. */
function rng(seed: number): () => number {
  let a = seed >>> 0;
  return () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

/** Arrival offsets (ms) of a Poisson process at `rate`/s over `seconds`, at least `min` of them. */
export function poissonSchedule(rate: number, seconds: number, min: number, seed: number): number[] {
  const r = rng(seed);
  const out: number[] = [];
  let t = 0;
  for (;;) {
    t += (-Math.log(1 - r()) / rate) * 1000;
    if (t > seconds * 1000 && out.length >= min) return out;
    out.push(t);
  }
}
