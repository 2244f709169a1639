// A bounded record of a kernel's stdout and stderr: enough to explain a start-up failure, never more.
import { constants } from 'node:os';
import type { Readable } from 'node:stream';

export class OutputTail {
  readonly #max: number;
  #chunks: Buffer[] = [];
  #bytes = 0;

  constructor(maxBytes = 16 * 1024) {
    this.#max = maxBytes;
  }

  /** Reads `stream` to its end, keeping only the last maxBytes. */
  follow(stream: Readable | null | undefined): void {
    stream?.on('data', (chunk: Buffer) => this.push(chunk));
    stream?.on('error', () => {}); // the kernel side closing early is not our error
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

const SIGNALS: Record<number, NodeJS.Signals> = {};
for (const [name, n] of Object.entries(constants.signals)) SIGNALS[n] ??= name as NodeJS.Signals;

/** Name of signal number `n`. bubblewrap reports a signalled command as exit code 128 + n. */
export function signalName(n: number): NodeJS.Signals | undefined {
  return SIGNALS[n];
}
