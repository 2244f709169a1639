// Output throttling: each execution's iopub output is held to Jupyter Server's rate limits
// (OutputRateLimiter in limits.ts), and a kernel over them is throttled for a while: its stream
// output is dropped by its own socket and it yields the CPU (Kernel.deprioritize), so the flood costs
// the server and other users little. Then output is received again; a flood that goes on is
// throttled again at once. The user is told on stderr when output is dropped and when it resumes.
import type { ChannelMessage } from '../../kernel-manager/index.js';
import type { OutputRateLimiter, OutputVerdict } from '../limits.js';

/** How long a kernel over its output rate is throttled before its output is received again. */
export const THROTTLE_MS = 1_000;

/** iopub types that never count against the output rate (Jupyter Server exempts the same kind). */
export const RATE_EXEMPT: ReadonlySet<string> = new Set([
  'status',
  'execute_input',
  'comm_open',
  'comm_close',
  'execute_result',
  'error',
]);

/** What a message costs against the data rate: its buffers, and its text (or its content as JSON). */
export function outputBytes(m: Pick<ChannelMessage, 'content' | 'buffers'>): number {
  let bytes = 0;
  for (const b of m.buffers) bytes += b.length;
  const text = (m.content as { text?: unknown }).text;
  bytes += typeof text === 'string' ? text.length : JSON.stringify(m.content).length;
  return bytes;
}

export class OutputThrottle {
  readonly #limiter: OutputRateLimiter;
  readonly #deprioritize: (on: boolean) => void;
  readonly #ms: number;
  #on = false;
  #timer: NodeJS.Timeout | undefined;

  /** `deprioritize` throttles (true) or restores (false) the kernel. */
  constructor(limiter: OutputRateLimiter, deprioritize: (on: boolean) => void, ms = THROTTLE_MS) {
    this.#limiter = limiter;
    this.#deprioritize = deprioritize;
    this.#ms = ms;
  }

  /** The kernel is throttled now. */
  get throttled(): boolean {
    return this.#on;
  }

  /**
   * Counts one iopub message against its execution's rate. `pass: false`: drop it (the kernel is
   * throttled if it was not); `notice`: tell the user. Messages of no execution and exempt types pass.
   */
  output(m: ChannelMessage): OutputVerdict {
    const parentId = m.parent_header.msg_id;
    if (!parentId || RATE_EXEMPT.has(m.header.msg_type) || !this.#limiter.enabled) return { pass: true };
    const v = this.#limiter.check(parentId, outputBytes(m));
    if (!v.pass && !this.#on) this.#set(true);
    return v;
  }

  /** An execution is over (its idle status): forget it and lift the throttle; a last notice if any. */
  idle(parentId: string): string | undefined {
    const last = this.#limiter.end(parentId);
    if (this.#on) this.#set(false);
    return last;
  }

  /** Stops the timer (the kernel is gone). */
  dispose(): void {
    clearTimeout(this.#timer);
  }

  #set(on: boolean): void {
    clearTimeout(this.#timer);
    this.#on = on;
    this.#deprioritize(on);
    if (on) this.#timer = setTimeout(() => this.#set(false), this.#ms).unref();
  }
}
