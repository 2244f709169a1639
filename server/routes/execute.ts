// POST /api/execute {code, kernel?, timeout?}: one-shot execution on a pooled kernel that is discarded
// afterwards. Answers JSON with the collected output; a timeout or a dying kernel is reported in
// `status` and `error`, with whatever output came before it.
import type { FastifyInstance } from 'fastify';
import {
  type ChannelMessage,
  type Header,
  isDisplayData,
  isError,
  isExecuteReply,
  isExecuteResult,
  isStream,
  type JsonObject,
  type Kernel,
  KernelManagerError,
} from '../../kernel-manager/index.js';
import { ExecuteBody, type ExecuteResult } from '../../shared/execute.js';
import { ExecutionRecord } from '../bridge/recording.js';
import type { AppContext } from '../context.js';
import { CodeTooLarge, RateLimited, withRetryAfter } from '../errors.js';

/** Runs code on a kernel and collects everything, up to `timeoutMs`. */
export async function collect(
  kernel: Kernel,
  code: string,
  timeoutMs: number,
  opts: { onRequest?(header: Header, content: JsonObject): void; onMessage?(m: ChannelMessage): void } = {},
): Promise<ExecuteResult> {
  const t0 = performance.now();
  const r: ExecuteResult = {
    status: 'ok',
    stdout: '',
    stderr: '',
    outputs: [],
    result: null,
    error: null,
    execution_count: null,
    duration_ms: 0,
  };
  const it = kernel.execute(code, opts.onRequest ? { onRequest: opts.onRequest } : {});
  let timer: NodeJS.Timeout | undefined;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), timeoutMs);
  });
  const onMessage = (m: ChannelMessage) => {
    if (isStream(m)) r[m.content.name] += m.content.text;
    else if (isDisplayData(m) || isExecuteResult(m)) {
      r.outputs.push({
        output_type: m.header.msg_type,
        data: m.content.data,
        metadata: m.content.metadata ?? {},
      });
      if (isExecuteResult(m)) {
        const plain = m.content.data['text/plain'];
        r.result = typeof plain === 'string' ? plain : null;
      }
    } else if (isError(m))
      r.error = { ename: m.content.ename, evalue: m.content.evalue, traceback: m.content.traceback };
    else if (isExecuteReply(m)) {
      r.status = m.content.status;
      if (typeof m.content.execution_count === 'number') r.execution_count = m.content.execution_count;
      if (m.content.status === 'error' && !r.error) {
        r.error = {
          ename: m.content.ename ?? 'Error',
          evalue: m.content.evalue ?? '',
          traceback: m.content.traceback ?? [],
        };
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
      onMessage(next.value);
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
      const kernel = await ctx.kernels.startKernel(spec, req.caller);
      let record: ExecutionRecord | undefined;
      const recorder = ctx.store?.records;
      try {
        const result = await collect(kernel, code, timeoutMs, {
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
