// Pipelines: jobs that need other jobs. At submit, `needs` (names in the submission or ids of the
// owner's earlier jobs) are resolved to root ids and the graph is checked for unknown names and
// cycles before anything is stored. Afterwards, whenever a job ends, the waiting jobs that need it
// are settled: all needs succeeded -> queued; one ended otherwise -> skipped (with the reason),
// which in turn settles its own dependants. Needs name roots (first attempts), and the newest
// attempt of a root is what counts, so rerunning upstream feeds the same dependants.
import { JobBadPipeline } from '../errors.js';
import type { JobEvents } from './events.js';
import type { JobRow, NeedRow, Repository } from './repository.js';
import { isFinal, type JobSpec } from './schemas.js';

const UUID = /^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$/i;

const label = (specs: JobSpec[], i: number) => specs[i]?.name ?? `#${i + 1}`;

/**
 * Each job's needs as root ids (a new job is its own root: `ids[i]`). Throws JobBadPipeline for a
 * need that names nothing, a name shared by two jobs, or a cycle (with the cycle's path).
 */
export async function resolveNeeds(
  specs: JobSpec[],
  ids: string[],
  existingRoot: (id: string) => Promise<string | null>,
): Promise<string[][]> {
  const byName = new Map<string, number>();
  const shared = new Set<string>();
  specs.forEach((s, i) => {
    if (s.name === undefined) return;
    if (byName.has(s.name)) shared.add(s.name);
    byName.set(s.name, i);
  });
  const edges: number[][] = specs.map(() => []);
  const roots: string[][] = [];
  for (const [i, s] of specs.entries()) {
    const out: string[] = [];
    for (const need of s.needs ?? []) {
      if (shared.has(need))
        throw new JobBadPipeline(`${label(specs, i)} needs ${JSON.stringify(need)}: two jobs have that name`);
      const j = byName.get(need);
      if (j !== undefined) {
        (edges[i] as number[]).push(j);
        out.push(ids[j] as string);
        continue;
      }
      const root = UUID.test(need) ? await existingRoot(need.toLowerCase()) : null;
      if (!root)
        throw new JobBadPipeline(
          `${label(specs, i)} needs ${JSON.stringify(need.slice(0, 80))}: no job in this submission has that name, and it is not the id of one of your jobs`,
        );
      out.push(root);
    }
    roots.push([...new Set(out)]);
  }
  const cycle = findCycle(edges);
  if (cycle)
    throw new JobBadPipeline(`the needs form a cycle: ${cycle.map((i) => label(specs, i)).join(' -> ')}`);
  return roots;
}

/** A cycle as a path that ends where it starts, or null (iterative DFS, three colours). */
export function findCycle(edges: number[][]): number[] | null {
  const colour = edges.map(() => 0); // 0 new, 1 on the stack, 2 done
  for (let start = 0; start < edges.length; start++) {
    if (colour[start] !== 0) continue;
    const stack: { node: number; next: number }[] = [{ node: start, next: 0 }];
    colour[start] = 1;
    while (stack.length > 0) {
      const top = stack.at(-1) as { node: number; next: number };
      const to = edges[top.node]?.[top.next++];
      if (to === undefined) {
        colour[top.node] = 2;
        stack.pop();
      } else if (colour[to] === 1) {
        const from = stack.findIndex((f) => f.node === to);
        return [...stack.slice(from).map((f) => f.node), to];
      } else if (colour[to] === 0) {
        colour[to] = 1;
        stack.push({ node: to, next: 0 });
      }
    }
  }
  return null;
}

export interface SettleDeps {
  repo: Repository;
  events: JobEvents;
  /** Hands jobs that became queued to the scheduler. */
  enqueue(jobs: { id: string; owner: string }[]): void;
}

const needName = (n: NeedRow) => (n.name ? JSON.stringify(n.name) : n.root_id);

/**
 * Settles waiting jobs: queued when every need's newest attempt succeeded, skipped when one ended
 * any other way (then its own dependants are settled too). Guarded transitions make it safe to run
 * on several instances at once.
 */
export async function settle(d: SettleDeps, rows: JobRow[]): Promise<void> {
  let pending = rows;
  while (pending.length > 0) {
    const skipped = new Map<string, string[]>();
    for (const w of pending) {
      const newest = await d.repo.newest(w.owner, w.needs);
      const byRoot = new Map(newest.map((n) => [n.root_id, n]));
      const bad = w.needs
        .map((r) => byRoot.get(r))
        .find((n) => !n || (isEnded(n) && n.state !== 'succeeded'));
      if (bad !== undefined || newest.length < w.needs.length) {
        const reason = bad
          ? `needs ${needName(bad)}, which ended ${bad.state}`
          : 'a job it needs no longer exists';
        const ev = await d.repo.transition(w.id, w.owner, ['waiting'], 'skipped', { reason });
        if (ev) {
          d.events.published(w.owner);
          const list = skipped.get(w.owner) ?? [];
          list.push(w.id);
          skipped.set(w.owner, list);
        }
      } else if (newest.every((n) => n.state === 'succeeded')) {
        const ev = await d.repo.transition(w.id, w.owner, ['waiting'], 'queued');
        if (ev) {
          d.events.published(w.owner);
          d.enqueue([{ id: w.id, owner: w.owner }]);
        }
      }
    }
    pending = [];
    for (const [owner, ids] of skipped) pending.push(...(await d.repo.waitingOn(owner, ids)));
  }
}

const isEnded = (n: NeedRow) => isFinal(n.state);

/** Everything downstream of these jobs (newest attempts), nearest first, without duplicates. */
export async function downstream(repo: Repository, owner: string, from: JobRow[]): Promise<JobRow[]> {
  const seen = new Set(from.map((r) => r.root_id));
  const out: JobRow[] = [];
  let level = [...seen];
  while (level.length > 0) {
    const next: string[] = [];
    for (const r of await repo.dependants(owner, level)) {
      if (seen.has(r.root_id)) continue;
      seen.add(r.root_id);
      out.push(r);
      next.push(r.root_id);
    }
    level = next;
  }
  return out;
}
