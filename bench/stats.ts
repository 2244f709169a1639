// Shared figures for benchmarks: medians, p99, and the JSON + summary line each bench prints.

export function quantile(xs: readonly number[], q: number): number {
  if (xs.length === 0) return Number.NaN;
  const s = [...xs].sort((a, b) => a - b);
  const i = Math.min(s.length - 1, Math.max(0, Math.ceil(q * s.length) - 1));
  return s[i] as number;
}

export interface Figure {
  n: number;
  p50_ms: number;
  p99_ms: number;
  mean_ms: number;
}

export function figure(samples: readonly number[]): Figure {
  const round = (x: number) => Math.round(x * 1000) / 1000;
  return {
    n: samples.length,
    p50_ms: round(quantile(samples, 0.5)),
    p99_ms: round(quantile(samples, 0.99)),
    mean_ms: round(samples.reduce((a, b) => a + b, 0) / Math.max(1, samples.length)),
  };
}

export function report(name: string, result: Record<string, unknown>, summary: string): void {
  console.log(JSON.stringify({ bench: name, ...result }, null, 2));
  console.log(`${name}: ${summary}`);
}

export async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}
