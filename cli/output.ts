// Terminal output for the CLI: tables, a progress bar (only on a terminal), one-line errors.
import type { JobSummary, State } from '../sdk/index.js';

export function table(rows: string[][], head: string[]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return `${all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n')}\n`;
}

const seconds = (j: JobSummary) =>
  j.started_at && j.finished_at
    ? ((Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000).toFixed(2)
    : '';

type WithTimings = JobSummary & { result?: { timings?: { files_in_ms?: number } } | null };

/** A job's phases in seconds: queued (created to launched), placing inputs, running (the code). */
export function phases(j: WithTimings): {
  queued: number | null;
  inputs: number | null;
  running: number | null;
} {
  const span = (a: string | null, b: string | null) =>
    a && b ? Math.round(Date.parse(b) - Date.parse(a)) / 1000 : null;
  const inputs = j.result?.timings?.files_in_ms;
  return {
    queued: span(j.created_at, j.launched_at),
    inputs: typeof inputs === 'number' ? Math.round(inputs) / 1000 : null,
    running: span(j.started_at, j.finished_at),
  };
}

const REASON_WIDTH = 60;

/** The reason on one line, cut at a word boundary with an ellipsis (`runcell logs ID` has it all). */
export function elide(text: string | null, width = REASON_WIDTH): string {
  const flat = (text ?? '').replace(/\s+/g, ' ').trim();
  if (flat.length <= width) return flat;
  const cut = flat.slice(0, width - 1);
  const space = cut.lastIndexOf(' ');
  return `${(space > width / 2 ? cut.slice(0, space) : cut).replace(/[\s,;:.]+$/, '')}…`;
}

const fixed = (n: number | null) => (n === null ? '' : n.toFixed(2));

export function jobTable(jobs: WithTimings[]): string {
  return table(
    jobs.map((j) => {
      const p = phases(j);
      return [
        j.id,
        j.batch_id.slice(0, 8),
        j.name ?? '',
        j.state,
        String(j.attempt),
        fixed(p.queued),
        fixed(p.inputs),
        fixed(p.running),
        elide(j.reason),
      ];
    }),
    ['ID', 'BATCH', 'NAME', 'STATE', 'TRY', 'QUEUED', 'INPUTS', 'SECONDS', 'REASON'],
  );
}

/** A one-line progress bar redrawn in place on stderr; silent when stderr is not a terminal. */
export class Progress {
  readonly #tty = Boolean(process.stderr.isTTY);
  /** Whether the bar is drawn (stderr is a terminal). */
  get tty(): boolean {
    return this.#tty;
  }
  #last = '';
  draw(done: number, total: number, extra: string): void {
    if (!this.#tty) return;
    const width = 30;
    const filled = total === 0 ? width : Math.round((done / total) * width);
    const line = `[${'#'.repeat(filled)}${'.'.repeat(width - filled)}] ${done}/${total} ${extra}`;
    if (line === this.#last) return;
    this.#last = line;
    process.stderr.write(`\r\x1b[2K${line}`);
  }
  end(): void {
    if (this.#tty && this.#last) process.stderr.write('\n');
    this.#last = '';
  }
}

const MARK: Record<State, string> = {
  waiting: '·',
  queued: '○',
  launched: '◔',
  running: '▶',
  succeeded: '✓',
  failed: '✗',
  timed_out: '✗',
  cancelled: '-',
  aborted: '!',
  skipped: '-',
};

/**
 * A pipeline's graph, live: one line per job (indented by depth, with what it needs), redrawn in
 * place on a terminal; elsewhere one line per state change. On stderr, so stdout stays the table.
 */
export class GraphView {
  readonly #tty = Boolean(process.stderr.isTTY);
  readonly #lines: { name: string; depth: number; needs: string[] }[];
  readonly #state: State[];
  readonly #t0 = Date.now();
  #drawn = 0;

  constructor(jobs: { name: string; needs: string[] }[]) {
    const index = new Map(jobs.map((j, i) => [j.name, i]));
    const depth: number[] = [];
    const of = (i: number, seen = new Set<number>()): number => {
      if (depth[i] !== undefined) return depth[i] as number;
      if (seen.has(i)) return 0;
      seen.add(i);
      const ds = (jobs[i]?.needs ?? []).map((n) => index.get(n)).filter((x) => x !== undefined);
      const d = ds.length === 0 ? 0 : 1 + Math.max(...ds.map((x) => of(x as number, seen)));
      depth[i] = d;
      return d;
    };
    this.#lines = jobs.map((j, i) => ({ name: j.name, depth: of(i), needs: j.needs }));
    this.#state = jobs.map(() => 'queued');
  }

  set(i: number, state: State): void {
    if (this.#state[i] === state) return;
    this.#state[i] = state;
    if (this.#tty) this.draw();
    else {
      const s = ((Date.now() - this.#t0) / 1000).toFixed(1);
      process.stderr.write(`[${s.padStart(6)}s] ${this.#lines[i]?.name} ${state}\n`);
    }
  }

  draw(): void {
    if (!this.#tty) return;
    const order = this.#lines.map((l, i) => ({ ...l, i })).sort((a, b) => a.depth - b.depth || a.i - b.i);
    const width = Math.max(...order.map((l) => l.name.length + 2 * l.depth));
    let out = this.#drawn > 0 ? `\x1b[${this.#drawn}A` : '';
    for (const l of order) {
      const st = this.#state[l.i];
      const name = `${'  '.repeat(l.depth)}${l.name}`.padEnd(width);
      const needs = l.needs.length > 0 ? `  ← ${l.needs.join(', ')}` : '';
      out += `\x1b[2K${st ? MARK[st] : ' '} ${name}  ${(st ?? '').padEnd(9)}${needs}\n`;
    }
    this.#drawn = order.length;
    process.stderr.write(out);
  }
}

/** The final table of a pipeline: what each job needed, replicas and whether they agreed. */
export function pipelineTable(
  jobs: (JobSummary & { result?: { agree?: boolean; replicas?: unknown[] } | null })[],
): string {
  const names = new Map(jobs.map((j) => [j.root_id, j.name ?? j.id.slice(0, 8)]));
  return table(
    jobs.map((j) => [
      j.id,
      j.name ?? '',
      j.state,
      String(j.attempt),
      seconds(j),
      (j.needs ?? []).map((n) => names.get(n) ?? n.slice(0, 8)).join(',') || '-',
      (j.replicas ?? 1) > 1
        ? `${j.replicas}${j.result?.agree === undefined ? '' : j.result.agree ? ' agree' : ' differ'}`
        : '1',
      elide(j.reason),
    ]),
    ['ID', 'NAME', 'STATE', 'TRY', 'SECONDS', 'NEEDS', 'REPLICAS', 'REASON'],
  );
}
