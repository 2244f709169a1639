// Runs one job on one fresh kernel: places its input files in the working directory, runs the code
// under the job's timeout and a cancel signal, collects what it printed and displayed, then
// collects the files it wrote. Inputs are placed before (server/jobs/inputs.ts); written files come
// back through the kernel itself (base64 over the messaging protocol), so this works wherever the
// kernel runs; it needs a Python kernel.
// Everything coming back from the kernel is untrusted: shapes are checked and sizes capped.
import {
  type ChannelMessage,
  isClearOutput,
  isDisplayData,
  isError,
  isExecuteReply,
  isExecuteResult,
  isStream,
  type Kernel,
  KernelManagerError,
} from '../../kernel-manager/index.js';
import type { FinalState, Output, Result } from './schemas.js';
import { WidgetNames } from './widgets.js';

/** A file placed in the work dir before the run (server/jobs/inputs.ts): not collected unless changed. */
export interface InputFile {
  name: string;
  sha256: string;
}

export interface RunLimits {
  /** Output (streams and MIME bundles) kept per job; the rest is dropped and `truncated` set. */
  maxOutputBytes: number;
  /** Files collected from the working directory after the run, at most. */
  maxOutputFiles: number;
  maxOutputFileBytes: number;
}

export interface RunOptions {
  code: string;
  timeoutMs: number;
  /** The input files already placed (uploads and files from the jobs it needs). */
  files: InputFile[];
  /** Aborted when the job is cancelled. */
  signal: AbortSignal;
  limits: RunLimits;
  /** Called (and awaited) right before the code is sent: the job becomes `running`. */
  onRunning(): Promise<void>;
}

export interface CollectedFile {
  name: string;
  mediaType: string;
  data: Buffer;
}

export interface RunOutcome {
  state: Exclude<FinalState, 'aborted' | 'skipped'>;
  reason: string | null;
  result: Omit<Result, 'files' | 'timings'> & { timings: Omit<Result['timings'], 'kernel_ms'> };
  /** Files the code wrote, still to be stored. */
  written: CollectedFile[];
}

const FILES_MIME = 'application/x-runcell-files+json';

/** Python that lists the files under the working directory (hidden ones and unchanged inputs left out). */
function collectCode(inputs: { name: string; sha256: string }[], limits: RunLimits): string {
  const known = Object.fromEntries(inputs.map((f) => [f.name, f.sha256]));
  return [
    'def __runcell_collect(known, max_files, max_bytes):',
    '    import base64, hashlib, mimetypes, os, stat',
    '    from IPython.display import display',
    '    out, total, skipped = [], 0, 0',
    "    for root, dirs, names in os.walk('.', followlinks=False):",
    "        dirs[:] = sorted(d for d in dirs if not d.startswith('.') and d != '__pycache__')",
    '        for n in sorted(names):',
    "            if n.startswith('.'):",
    '                continue',
    '            p = os.path.normpath(os.path.join(root, n))',
    '            try:',
    '                st = os.lstat(p)',
    '                if not stat.S_ISREG(st.st_mode):',
    '                    continue',
    '                if len(out) >= max_files or total + st.st_size > max_bytes:',
    '                    skipped += 1',
    '                    continue',
    "                with open(p, 'rb') as f:",
    '                    data = f.read(max_bytes - total + 1)',
    '            except OSError:',
    '                continue',
    '            if known.get(p) == hashlib.sha256(data).hexdigest():',
    '                continue',
    '            total += len(data)',
    "            out.append({'name': p, 'mime': mimetypes.guess_type(p)[0] or 'application/octet-stream',",
    "                        'b64': base64.b64encode(data).decode()})",
    `    display({${JSON.stringify(FILES_MIME)}: {'files': out, 'skipped': skipped}}, raw=True)`,
    `__runcell_collect(${JSON.stringify(known)}, ${limits.maxOutputFiles}, ${limits.maxOutputFileBytes})`,
    'del __runcell_collect',
  ].join('\n');
}

type Step = { done: false; value: ChannelMessage } | { done: true } | 'timeout' | 'cancel';

/**
 * Runs runcell's own code (no history) and returns its messages. The request is sent before this
 * returns, so a caller may queue it behind another one. `check` throws on a reply that is not ok.
 */
function internal(kernel: Kernel, code: string): Promise<ChannelMessage[]> {
  const it = kernel.execute(code, { silent: false, storeHistory: false });
  // The generator sends the request synchronously on its first next().
  const first = it.next();
  return (async () => {
    const msgs: ChannelMessage[] = [];
    for (let r = await first; !r.done; r = await it.next()) msgs.push(r.value);
    return msgs;
  })();
}

function check(msgs: ChannelMessage[], what: string): ChannelMessage[] {
  const reply = msgs.find(isExecuteReply);
  if (reply?.content.status !== 'ok') {
    const err = msgs.find(isError);
    throw new Error(`${what}: ${err ? `${err.content.ename}: ${err.content.evalue}` : 'no reply'}`);
  }
  return msgs;
}

const aborted = (msgs: ChannelMessage[]) =>
  msgs.some((m) => isExecuteReply(m) && m.content.status === 'aborted');

/** Whether runcell's own Python (file collection, remote inputs) can run on this kernel. */
export function isPython(kernel: Kernel): boolean {
  const language = String((kernel.info?.language_info as { name?: unknown } | undefined)?.name ?? '');
  return language === 'python' || kernel.specName.startsWith('python');
}

export async function runJob(kernel: Kernel, o: RunOptions): Promise<RunOutcome> {
  const result: RunOutcome['result'] = {
    status: 'ok',
    stdout: '',
    stderr: '',
    outputs: [],
    error: null,
    execution_count: null,
    truncated: false,
    timings: { files_in_ms: 0, execute_ms: 0, files_out_ms: 0 },
  };
  const out: RunOutcome = { state: 'succeeded', reason: null, result, written: [] };
  const python = isPython(kernel);

  await o.onRunning();
  let t = performance.now();
  let bytes = 0;
  const keep = (n: number): boolean => {
    if (result.truncated || bytes + n > o.limits.maxOutputBytes) {
      result.truncated = true;
      return false;
    }
    bytes += n;
    return true;
  };
  const push = (x: Output) => {
    const last = result.outputs.at(-1);
    if (x.output_type === 'stream' && last?.output_type === 'stream' && last.name === x.name) {
      last.text += x.text;
    } else result.outputs.push(x);
  };
  const widgets = new WidgetNames();
  let wallLimit = false;
  const onLimit = (info: { kind: string }) => {
    if (info.kind === 'wall') wallLimit = true;
  };
  kernel.on('limit', onLimit);

  const it = kernel.execute(o.code, { storeHistory: true });
  // The first next() sends the code; the file collector is queued right behind it, which saves a
  // round trip. After an error the kernel aborts queued requests: the collector then runs again.
  const first = it.next();
  const collecting = python ? internal(kernel, collectCode(o.files, o.limits)) : undefined;
  collecting?.catch(() => undefined);
  let pending: Promise<IteratorResult<ChannelMessage>> | undefined = first;
  let timer: NodeJS.Timeout | undefined;
  const stop = new Promise<'timeout' | 'cancel'>((resolve) => {
    timer = setTimeout(() => resolve('timeout'), o.timeoutMs);
    if (o.signal.aborted) resolve('cancel');
    o.signal.addEventListener('abort', () => resolve('cancel'), { once: true });
  });
  try {
    for (;;) {
      const next = pending ?? it.next();
      pending = undefined;
      const step: Step = (await Promise.race([next, stop])) as Step;
      if (step === 'timeout' || step === 'cancel') {
        out.state = step === 'timeout' ? 'timed_out' : 'cancelled';
        out.reason =
          step === 'timeout'
            ? `the job did not finish within ${o.timeoutMs / 1000} s`
            : 'cancelled by a client';
        result.status = 'aborted';
        await kernel.shutdown(out.reason).catch(() => {});
        break;
      }
      if (step.done) break;
      const m = step.value;
      if (isStream(m)) {
        if (keep(Buffer.byteLength(m.content.text))) {
          result[m.content.name] += m.content.text;
          push({ output_type: 'stream', name: m.content.name, text: m.content.text });
        }
      } else if (isDisplayData(m) || isExecuteResult(m)) {
        const data = widgets.placeholder(m.content.data as Record<string, unknown>);
        if (keep(Buffer.byteLength(JSON.stringify(data)))) {
          push({
            output_type: isExecuteResult(m) ? 'execute_result' : 'display_data',
            data,
            metadata: (m.content.metadata ?? {}) as Record<string, unknown>,
          });
        }
      } else if (isError(m)) {
        result.error = { ename: m.content.ename, evalue: m.content.evalue, traceback: m.content.traceback };
        if (keep(Buffer.byteLength(JSON.stringify(result.error))))
          push({ output_type: 'error', ...result.error });
      } else if (isExecuteReply(m)) {
        result.status = m.content.status;
        if (typeof m.content.execution_count === 'number') result.execution_count = m.content.execution_count;
        if (m.content.status !== 'ok') {
          out.state = 'failed';
          result.error ??= {
            ename: m.content.ename ?? 'Error',
            evalue: m.content.evalue ?? '',
            traceback: m.content.traceback ?? [],
          };
          out.reason = `${result.error.ename}: ${result.error.evalue}`.slice(0, 500);
        }
      } else if (isClearOutput(m)) {
        result.outputs = [];
      } else if ((m as ChannelMessage).header.msg_type === 'comm_open') {
        widgets.open((m as ChannelMessage).content as Record<string, unknown>);
      }
    }
  } catch (e) {
    if (!(e instanceof KernelManagerError)) throw e;
    result.status = 'aborted';
    if (wallLimit) {
      out.state = 'timed_out';
      out.reason = `the kernel's wall-time limit ended the job: ${kernel.reason ?? e.message}`;
    } else {
      out.state = 'failed';
      out.reason = `the kernel died: ${kernel.reason ?? e.message}`;
    }
  } finally {
    clearTimeout(timer);
    kernel.off('limit', onLimit);
    void it.return?.(undefined);
  }
  result.timings.execute_ms = performance.now() - t;

  if (collecting && kernel.state !== 'dead' && (out.state === 'succeeded' || out.state === 'failed')) {
    t = performance.now();
    try {
      let msgs = await collecting;
      if (aborted(msgs)) msgs = await internal(kernel, collectCode(o.files, o.limits));
      out.written = parseManifest(check(msgs, 'collecting files failed'), o.limits);
    } catch {
      // The code may have broken the interpreter (or removed IPython): outputs stand without files.
    }
    result.timings.files_out_ms = performance.now() - t;
  }
  return out;
}

/** The collector's manifest, held to the limits again: the kernel may have tampered with the collector. */
function parseManifest(msgs: ChannelMessage[], limits: RunLimits): CollectedFile[] {
  const m = msgs.find((x) => isDisplayData(x) && FILES_MIME in (x.content.data as object));
  const manifest = m && isDisplayData(m) ? (m.content.data[FILES_MIME] as { files?: unknown }) : undefined;
  if (!manifest || !Array.isArray(manifest.files)) return [];
  const files: CollectedFile[] = [];
  let total = 0;
  for (const f of manifest.files as unknown[]) {
    const { name, mime, b64 } = (f ?? {}) as Record<string, unknown>;
    if (typeof name !== 'string' || typeof b64 !== 'string' || name.length > 1024) continue;
    const data = Buffer.from(b64, 'base64');
    if (files.length >= limits.maxOutputFiles || total + data.byteLength > limits.maxOutputFileBytes) break;
    total += data.byteLength;
    files.push({
      name,
      mediaType:
        typeof mime === 'string' && /^[\w.+-]+\/[\w.+-]+$/.test(mime) ? mime : 'application/octet-stream',
      data,
    });
  }
  return files;
}
