// Terminal output for the CLI: tables, a progress bar (only on a terminal), one-line errors.
import type { JobSummary } from '../sdk/index.js';

export function table(rows: string[][], head: string[]): string {
  const all = [head, ...rows];
  const widths = head.map((_, i) => Math.max(...all.map((r) => (r[i] ?? '').length)));
  return `${all.map((r) => r.map((c, i) => (i === r.length - 1 ? c : c.padEnd(widths[i] ?? 0))).join('  ')).join('\n')}\n`;
}

const seconds = (j: JobSummary) =>
  j.started_at && j.finished_at
    ? ((Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000).toFixed(2)
    : '';

export function jobTable(jobs: JobSummary[]): string {
  return table(
    jobs.map((j) => [
      j.id,
      j.name ?? '',
      j.state,
      String(j.attempt),
      seconds(j),
      (j.reason ?? '').replace(/\s+/g, ' ').slice(0, 60),
    ]),
    ['ID', 'NAME', 'STATE', 'TRY', 'SECONDS', 'REASON'],
  );
}

/** A one-line progress bar redrawn in place on stderr; silent when stderr is not a terminal. */
export class Progress {
  readonly #tty = Boolean(process.stderr.isTTY);
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
