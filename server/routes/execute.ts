// POST /api/execute {code, kernel?, timeout?}: one-shot execution on a pooled kernel that is discarded
// afterwards. Answers JSON with the collected output; a timeout or a dying kernel is reported in
// `status` and `error`, with whatever output came before it. The output is held to the iopub rate
// limits websocket clients get (throttle.ts: dropped with a notice on stderr, the kernel throttled),
// and the answer to RUNCELL_EXECUTE_MAX_OUTPUT_BYTES: what does not fit is cut with a marker, the
// answer says `truncated: true`, and the execution is stopped (the kernel is discarded anyway).
import type { FastifyInstance } from 'fastify';
import {
  type ChannelMessage,
  type Header,
  isDisplayData,
  isError,
  isExecuteReply,
  isExecuteResult,
  isStatus,
  isStream,
  type JsonObject,
  type Kernel,
  KernelManagerError,
} from '../../kernel-manager/index.js';
import { ExecuteBody, type ExecuteResult } from '../../shared/execute.js';
import { ExecutionRecord } from '../bridge/recording.js';
import { OutputThrottle } from '../bridge/throttle.js';
import type { AppContext } from '../context.js';
import { CodeTooLarge, RateLimited, withRetryAfter } from '../errors.js';
import { OutputRateLimiter } from '../limits.js';

export interface CollectOptions {
  onRequest?(header: Header, content: JsonObject): void;
  /** Every message of the execution, dropped ones included (the execution's record). */
  onMessage?(m: ChannelMessage): void;
  /** Largest answer, in bytes of its JSON (0 or absent: unbounded). */
  maxBytes?: number;
  /** The iopub output rate limits, as websocket clients get them. */
  throttle?: OutputThrottle;
}

/** Room kept under the cap for the rest of the answer: its keys, status, a server-made error, the marker. */
const ENVELOPE_BYTES = 4 * 1024;

const jsonBytes = (v: unknown): number => Buffer.byteLength(JSON.stringify(v));

/** The longest prefix of `text` whose JSON string body takes at most `room` bytes. */
function prefixWithin(text: string, room: number): string {
  let n = Math.min(text.length, Math.max(0, room));
  for (;;) {
    let p = text.slice(0, n);
    // Never end on half a surrogate pair.
    if (/[\uD800-\uDBFF]$/.test(p)) p = p.slice(0, -1);
    const b = jsonBytes(p) - 2;
    if (b <= room) return p;
    n = Math.floor((p.length * room) / b);
  }
}

/** An ExecuteResult that grows only up to its byte budget; past it, it is marked truncated. */
class BoundedResult {
  readonly r: ExecuteResult = {
    status: 'ok',
    stdout: '',
    stderr: '',
    outputs: [],
    result: null,
    error: null,
    execution_count: null,
    duration_ms: 0,
  };
  readonly #maxBytes: number;
  #room: number;

  constructor(maxBytes: number) {
    this.#maxBytes = maxBytes;
    this.#room = maxBytes > 0 ? maxBytes - ENVELOPE_BYTES : Number.POSITIVE_INFINITY;
  }

  get truncated(): boolean {
    return this.r.truncated === true;
  }

  text(name: 'stdout' | 'stderr', text: string): void {
    if (this.truncated) return;
    const bytes = jsonBytes(text) - 2;
    if (bytes <= this.#room) {
      this.#room -= bytes;
      this.r[name] += text;
      return;
    }
    this.r[name] += prefixWithin(text, this.#room);
    this.#truncate(name);
  }

  output(o: ExecuteResult['outputs'][number], result?: string | null): void {
    if (this.truncated) return;
    const bytes = jsonBytes(o) + 1 + (typeof result === 'string' ? jsonBytes(result) : 0);
    if (bytes > this.#room) {
      this.#truncate('stderr');
      return;
    }
    this.#room -= bytes;
    this.r.outputs.push(o);
    if (result !== undefined) this.r.result = result;
  }

  /** The kernel's error: its traceback is left out, and then its evalue cut, to fit. */
  error(e: NonNullable<ExecuteResult['error']>): void {
    if (this.truncated) return;
    let bytes = jsonBytes(e);
    if (bytes > this.#room) {
      e = { ename: e.ename, evalue: e.evalue, traceback: [] };
      bytes = jsonBytes(e);
      if (bytes > this.#room) {
        e.evalue = prefixWithin(e.evalue, this.#room - jsonBytes({ ...e, evalue: '' }));
        bytes = jsonBytes(e);
      }
      this.#room -= bytes;
      this.r.error = e;
      this.#truncate('stderr');
      return;
    }
    this.#room -= bytes;
    this.r.error = e;
  }

  /** What did not fit is left out: say so where the output stops, and in the flag. */
  #truncate(name: 'stdout' | 'stderr'): void {
    this.#room = 0;
    const mib = Math.round((this.#maxBytes / 2 ** 20) * 10) / 10;
    this.r[name] +=
      `\n[runcell] output truncated: this answer is limited to ${mib} MiB ` +
      '(RUNCELL_EXECUTE_MAX_OUTPUT_BYTES); the rest was left out and the execution was stopped.\n';
    this.r.truncated = true;
  }
}

/** Runs code on a kernel and collects everything, up to `timeoutMs` and `opts.maxBytes`. */
export async function collect(
  kernel: Kernel,
  code: string,
  timeoutMs: number,
  opts: CollectOptions = {},
): Promise<ExecuteResult> {
  const t0 = performance.now();
  const answer = new BoundedResult(opts.maxBytes ?? 0);
  const r = answer.r;
  const it = kernel.execute(code, opts.onRequest ? { onRequest: opts.onRequest } : {});
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  // Spec: output is iopub (Jupyter messaging, "Messages on the IOPub channel"); a message over the
  // rate is dropped, and the notices say so on stderr, as a websocket client sees them.
  const throttled = (m: ChannelMessage): boolean => {
    const t = opts.throttle;
    if (!t || m.channel !== 'iopub') return false;
    const v = t.output(m);
    if (v.notice) answer.text('stderr', v.notice);
    if (!v.pass) return true;
    const parent = m.parent_header.msg_id;
    if (isStatus(m) && m.content.execution_state === 'idle' && parent) {
      const last = t.idle(parent);
      if (last) answer.text('stderr', last);
    }
    return false;
  };
  const onMessage = (m: ChannelMessage) => {
    if (isStream(m)) answer.text(m.content.name, m.content.text);
    else if (isDisplayData(m) || isExecuteResult(m)) {
      const o = { output_type: m.header.msg_type, data: m.content.data, metadata: m.content.metadata ?? {} };
      const plain = m.content.data['text/plain'];
      answer.output(o, isExecuteResult(m) ? (typeof plain === 'string' ? plain : null) : undefined);
    } else if (isError(m))
      answer.error({ ename: m.content.ename, evalue: m.content.evalue, traceback: m.content.traceback });
    else if (isExecuteReply(m)) {
      r.status = m.content.status;
      if (typeof m.content.execution_count === 'number') r.execution_count = m.content.execution_count;
      if (m.content.status === 'error' && !r.error) {
        answer.error({
          ename: m.content.ename ?? 'Error',
          evalue: m.content.evalue ?? '',
          traceback: m.content.traceback ?? [],
        });
      }
    }
  };
  try {
    for (;;) {
      const next = await Promise.race([it.next(), timedOut]);
      if (next === 'timeout') {
        r.status = 'timeout';
        r.error = {
          ename: 'TimeoutError',
          evalue: `the execution did not finish within ${timeoutMs / 1000} s`,
          traceback: [],
        };
        break;
      }
      if (next.done) break;
      opts.onMessage?.(next.value);
      if (throttled(next.value)) continue;
      onMessage(next.value);
      if (answer.truncated) {
        // Nothing more can be shown: stop the execution rather than wait for it.
        r.status = 'error';
        r.error ??= {
          ename: 'OutputLimitError',
          evalue: 'the output went past the limit of this answer; the execution was stopped',
          traceback: [],
        };
        void kernel.interrupt().catch(() => undefined);
        break;
      }
    }
  } catch (e) {
    if (!(e instanceof KernelManagerError)) throw e;
    r.status = 'error';
    r.error = { ename: 'KernelDied', evalue: `the kernel died: ${e.message}`, traceback: [] };
  } finally {
    clearTimeout(timer);
    void it.return?.(undefined);
  }
  r.duration_ms = Math.round(performance.now() - t0);
  return r;
}

export function registerExecute(app: FastifyInstance, ctx: AppContext): void {
  app.post<{ Body: ExecuteBody }>(
    '/api/execute',
    { config: { access: { auth: 'cell' } }, schema: { body: ExecuteBody } },
    async (req) => {
      const { code, kernel: spec, timeout, permalink } = req.body;
      if (Buffer.byteLength(code) > ctx.config.maxCodeBytes)
        throw new CodeTooLarge(`code is larger than ${ctx.config.maxCodeBytes} bytes`);
      if (req.caller.kind === 'anonymous') {
        const t = ctx.limits.executions.take(req.caller.ipKey);
        if (!t.ok) {
          ctx.metrics.refused.inc({ reason: 'executions' });
          throw withRetryAfter(new RateLimited('too many executions from your address'), t.retryAfterS);
        }
      }
      const timeoutMs = Math.min(
        timeout === undefined ? ctx.config.executeTimeoutMs : timeout * 1000,
        ctx.config.executeTimeoutMs,
      );
      let kernel: Kernel;
      try {
        kernel = await ctx.kernels.startKernel(spec, req.caller);
      } catch (e) {
        // Refused before it ran (no such kernel, capacity, the address's kernels): no execution spent.
        if (req.caller.kind === 'anonymous') ctx.limits.executions.refund(req.caller.ipKey);
        throw e;
      }
      let record: ExecutionRecord | undefined;
      const recorder = ctx.store?.records;
      const c = ctx.config;
      const throttle = new OutputThrottle(
        new OutputRateLimiter(c.iopubMsgRate, c.iopubDataRate, c.iopubRateWindowMs),
        (on) => kernel.deprioritize?.(on),
      );
      try {
        const result = await collect(kernel, code, timeoutMs, {
          maxBytes: c.executeMaxOutputBytes,
          throttle,
          onRequest: (header, content) => {
            if (recorder)
              record = new ExecutionRecord(recorder, {
                header,
                code,
                content,
                kernel,
                transport: 'oneshot',
                caller: req.caller,
              });
          },
          onMessage: (m) => record?.add(m),
        });
        record?.end(result.status);
        ctx.metrics.oneshot.inc({ status: result.status });
        ctx.metrics.oneshotDuration.observe({ status: result.status }, result.duration_ms / 1000);
        if (permalink && ctx.store) {
          const p = await ctx.store.permalinks.create({
            code,
            kernel: kernel.specName,
            outputs: permalinkOutputs(result),
          });
          result.permalink = { id: p.id, url: `/p/${p.id}` };
        }
        return result;
      } finally {
        throttle.dispose();
        // The kernel saw this code: never reuse it.
        void kernel
          .shutdown('one-shot execution finished')
          .catch((e: unknown) => req.log.warn({ err: e }, 'shutdown failed'));
      }
    },
  );
}

/** The result as Jupyter output objects (what the permalink page shows). */
function permalinkOutputs(r: ExecuteResult): unknown[] {
  const out: unknown[] = [];
  if (r.stdout) out.push({ output_type: 'stream', name: 'stdout', text: r.stdout });
  if (r.stderr) out.push({ output_type: 'stream', name: 'stderr', text: r.stderr });
  for (const o of r.outputs) out.push(o);
  if (r.error) out.push({ output_type: 'error', ...r.error });
  return out;
}
