// A bounded record of a kernel's stdout and stderr: enough to explain a start-up failure, never more.
import { constants } from 'node:os';
import type { Readable } from 'node:stream';

export class OutputTail {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #bytes = 0;
  /** Streams followed that have not ended yet, and who waits for them to. */
  #open = 0;
  #waiters: (() => void)[] = [];

  constructor(maxBytes = 16 * 1024) {
    this.#max = maxBytes;
  }

  /** Reads `stream` to its end, keeping only the last maxBytes. */
  follow(stream: Readable | null | undefined): void {
    if (!stream) return;
    this.#open++;
    let ended = false;
    const end = () => {
      if (ended) return;
      ended = true;
      if (--this.#open === 0) for (const w of this.#waiters.splice(0)) w();
    };
    stream.on('data', (chunk: Buffer) => this.push(chunk));
    stream.on('error', () => {}); // the kernel side closing early is not our error
    stream.once('close', end);
    stream.once('end', end);
  }

  /**
   * Resolves once every followed stream has ended (all it wrote is read: a process's 'exit' can come
   * before its last output), or after `ms` (a process it left behind may hold the pipe open).
   */
  ended(ms: number): Promise<void> {
    if (this.#open === 0) return Promise.resolve();
    return new Promise((resolve) => {
      const t = setTimeout(resolve, ms);
      this.#waiters.push(() => {
        clearTimeout(t);
        resolve();
      });
    });
  }

  push(chunk: Buffer): void {
    const c = chunk.length > this.#max ? chunk.subarray(chunk.length - this.#max) : chunk;
    this.#chunks.push(c);
    this.#bytes += c.length;
    while (this.#bytes - (this.#chunks[0]?.length ?? 0) >= this.#max) {
      this.#bytes -= this.#chunks.shift()?.length ?? 0;
    }
  }

  text(): string {
    const all = Buffer.concat(this.#chunks);
    return all.subarray(Math.max(0, all.length - this.#max)).toString('utf8');
  }
}

/** What startOutput keeps of a kernel's output: its last lines, at most this many bytes. */
export const START_OUTPUT_LINES = 20;
export const START_OUTPUT_BYTES = 4 * 1024;

/**
 * The end of what a kernel wrote, fit to show a client: host paths (the runtime root, the server's own
 * directory, its data dir) replaced by `…`, control characters dropped, the last START_OUTPUT_LINES lines
 * and START_OUTPUT_BYTES bytes at most. Paths go longest first, so a path inside another goes whole.
 */
export function startOutput(text: string, hidePaths: readonly string[]): string {
  let out = text;
  const paths = [...new Set(hidePaths.map((p) => p.replace(/\/+$/, '')).filter((p) => p.length > 1))];
  for (const p of paths.sort((a, b) => b.length - a.length)) out = out.split(p).join('…');
  // biome-ignore lint/suspicious/noControlCharactersInRegex: dropping them is the point
  out = out.replace(/\r\n?/g, '\n').replace(/[\u0000-\u0008\u000b-\u001f\u007f]/g, '');
  const lines = out.trimEnd().split('\n').slice(-START_OUTPUT_LINES).join('\n');
  const bytes = Buffer.from(lines, 'utf8');
  if (bytes.length <= START_OUTPUT_BYTES) return lines;
  return `…${bytes
    .subarray(bytes.length - START_OUTPUT_BYTES)
    .toString('utf8')
    .replace(/^\uFFFD+/, '')}`;
}

const SIGNALS: Record<number, NodeJS.Signals> = {};
for (const [name, n] of Object.entries(constants.signals)) SIGNALS[n] ??= name as NodeJS.Signals;

/** Name of signal number `n`. bubblewrap reports a signalled command as exit code 128 + n. */
export function signalName(n: number): NodeJS.Signals | undefined {
  return SIGNALS[n];
}
