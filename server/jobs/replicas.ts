// Redundant runs: a job with `replicas: N` runs its code on N separate kernels. Every replica's
// result is kept; the job says whether the replicas that succeeded agree (same outputs and files,
// compared by digest) and whose result it took: the first to succeed, or with `pick: "majority"`
// the result more than half of the succeeded replicas share. A replica that dies does not fail the
// job while another succeeds.
import { createHash } from 'node:crypto';
import type { Pick, ReplicaResult, Result, State } from './schemas.js';

/** One replica's end (`at`: when it finished, for "first to succeed"). */
export interface ReplicaRun {
  index: number;
  at: number;
  state: Exclude<State, 'waiting' | 'queued' | 'launched' | 'running' | 'skipped'>;
  reason: string | null;
  result: Result | null;
}

/** What the code produced, independent of timing and kernel: streams, MIME bundles, errors, files. */
export function digest(r: Result): string {
  const files = r.files.map((f) => [f.name, f.sha256]).sort();
  return createHash('sha256')
    .update(JSON.stringify({ outputs: r.outputs, files }))
    .digest('hex');
}

const empty = (): Result => ({
  status: 'aborted',
  stdout: '',
  stderr: '',
  outputs: [],
  error: null,
  execution_count: null,
  files: [],
  truncated: false,
  timings: { kernel_ms: 0, files_in_ms: 0, execute_ms: 0, files_out_ms: 0 },
});

export interface Combined {
  state: ReplicaRun['state'];
  reason: string | null;
  result: Result | null;
}

export function combine(runs: ReplicaRun[], pick: Pick): Combined {
  if (runs.length === 1) {
    const [only] = runs as [ReplicaRun];
    return { state: only.state, reason: only.reason, result: only.result };
  }
  const replicas: ReplicaResult[] = runs.map((x) => ({
    index: x.index,
    state: x.state,
    reason: x.reason,
    stdout: x.result?.stdout ?? '',
    stderr: x.result?.stderr ?? '',
    outputs: x.result?.outputs ?? [],
    error: x.result?.error ?? null,
    files: x.result?.files ?? [],
    digest: x.result ? digest(x.result) : '',
  }));
  const ok = runs.filter((x) => x.state === 'succeeded' && x.result);
  const digestOf = (x: ReplicaRun) => replicas[x.index]?.digest ?? '';
  const agree = ok.length > 0 && new Set(ok.map(digestOf)).size === 1;
  const byTime = (a: ReplicaRun, b: ReplicaRun) => a.at - b.at || a.index - b.index;

  let chosen: ReplicaRun | undefined;
  let reason: string | null = null;
  if (pick === 'majority' && ok.length > 0) {
    const groups = new Map<string, ReplicaRun[]>();
    for (const x of ok) groups.set(digestOf(x), [...(groups.get(digestOf(x)) ?? []), x]);
    const largest = [...groups.values()].sort((a, b) => b.length - a.length)[0] as ReplicaRun[];
    if (largest.length * 2 > ok.length) chosen = [...largest].sort(byTime)[0];
    else
      reason = `the ${ok.length} replicas that succeeded disagree and no result has a majority (${[...groups.values()].map((g) => g.length).join(' / ')})`;
  } else {
    chosen = [...ok].sort(byTime)[0];
  }
  if (chosen) {
    return {
      state: 'succeeded',
      reason: null,
      result: { ...(chosen.result as Result), replicas, agree, picked: chosen.index },
    };
  }
  const failed = [...runs].sort(byTime);
  const cancelled = runs.find((x) => x.state === 'cancelled' || x.state === 'aborted');
  const first = cancelled ?? (failed[0] as ReplicaRun);
  const base = runs.find((x) => x.result)?.result ?? empty();
  return {
    state: reason ? 'failed' : first.state,
    reason:
      reason ??
      (cancelled
        ? cancelled.reason
        : `all ${runs.length} replicas failed; replica ${first.index}: ${first.reason ?? first.state}`),
    result: { ...base, replicas, agree, picked: null },
  };
}
