// A job's input files (its uploads, and the files the jobs it needs wrote) and how they reach its
// kernel's working directory. On a local kernel the server writes them from the host side, streaming
// from the database straight into the sandbox's work-dir tmpfs (kernel-manager/workdir.ts: as the
// kernel's uid, O_NOFOLLOW and O_EXCL, after growing the tmpfs by exactly their size), so they never
// pass through the kernel's memory or its message limits. A remote (gateway) kernel has no host side
// here: the job runs in a fresh private directory made through the kernel itself, and inputs go in
// through the kernel in chunks well under the messaging limits.
import {
  type ChannelMessage,
  isError,
  isExecuteReply,
  type Kernel,
  plainName,
} from '../../kernel-manager/index.js';
import type { Files } from '../store/blobs.js';
import type { Uploads } from '../store/uploads.js';
import type { JobRow, Repository } from './repository.js';

export interface InputSource {
  name: string;
  sha256: string;
  size: number;
  /** The bytes, streamed from the store (opened only when placed). */
  open(): AsyncIterable<Buffer>;
}

/** The name an upload is placed under: its tus `filename` metadata (checked at submit), else its id. */
export function uploadName(metadata: Record<string, string>, id: string): string {
  return metadata.filename ?? metadata.name ?? id;
}

/** The message every "too large" refusal carries: which limit, and how to raise it. */
export function inputLimitMessage(total: number, max: number): string {
  return (
    `the job's input files total ${total} bytes, over the server's limit of ${max} bytes ` +
    '(RUNCELL_JOBS_MAX_INPUT_BYTES; the operator can raise it)'
  );
}

/** The job's uploads, as sources (nothing is read yet). */
export async function uploadInputs(uploads: Uploads, ids: string[]): Promise<InputSource[]> {
  const out: InputSource[] = [];
  for (const id of ids) {
    const info = await uploads.get(id);
    if (!info) throw new Error(`upload ${id} no longer exists`);
    if (info.offset !== info.length || !info.sha256) throw new Error(`upload ${id} is not complete`);
    out.push({
      name: uploadName(info.metadata, id),
      sha256: info.sha256,
      size: info.length,
      open: () =>
        (async function* () {
          yield* (await uploads.read(id)).data;
        })(),
    });
  }
  return out;
}

/** The top-level files the newest attempts of the jobs this one needs wrote, in `needs` order. */
export async function handedInputs(repo: Repository, files: Files, job: JobRow): Promise<InputSource[]> {
  if (job.needs.length === 0) return [];
  const newest = await repo.newest(job.owner, job.needs);
  const byRoot = new Map(newest.map((n) => [n.root_id, n]));
  const out = new Map<string, InputSource>();
  for (const root of job.needs) {
    for (const f of byRoot.get(root)?.result?.files ?? []) {
      // The work dir takes plain names only: files in subdirectories are not handed along.
      if (!plainName(f.name)) continue;
      if (out.has(f.name) && out.get(f.name)?.sha256 !== f.sha256)
        throw new Error(`two jobs it needs wrote different files named ${JSON.stringify(f.name)}`);
      if (!(await files.get(f.id))) throw new Error(`${JSON.stringify(f.name)} is no longer stored`);
      out.set(f.name, { name: f.name, sha256: f.sha256, size: f.size, open: () => files.read(f.id) });
    }
  }
  return [...out.values()];
}

export interface Placed {
  bytes: number;
  ms: number;
}

/** Bytes of base64 per message when inputs go through a remote kernel (messages stay far below 32 MiB). */
const CHUNK = 4 * 1024 * 1024;

/**
 * Writes the inputs into the kernel's working directory. Throws with a message fit for the job's
 * reason; the caller ends the job failed.
 */
export async function placeInputs(kernel: Kernel, inputs: InputSource[], maxBytes: number): Promise<Placed> {
  const t = performance.now();
  const total = inputs.reduce((n, f) => n + f.size, 0);
  if (total > maxBytes) throw new Error(inputLimitMessage(total, maxBytes));
  if (inputs.length === 0) return { bytes: 0, ms: 0 };
  if (kernel.files.hostSide) {
    await kernel.files.grow(total);
    for (const f of inputs) {
      const n = await kernel.files.write(f.name, readAhead(f.open()), f.size);
      if (n !== f.size) throw new Error(`${JSON.stringify(f.name)} changed while it was placed`);
    }
  } else {
    for (const f of inputs) await throughKernel(kernel, f);
  }
  return { bytes: total, ms: performance.now() - t };
}

/** The next chunk is fetched from the store while this one is written: reading and writing overlap. */
async function* readAhead(source: AsyncIterable<Buffer>): AsyncGenerator<Buffer> {
  const it = source[Symbol.asyncIterator]();
  let next = it.next();
  try {
    for (;;) {
      const r = await next;
      if (r.done) return;
      next = it.next();
      yield r.value;
    }
  } finally {
    // Stopped early (a write failed): let the store's cursor go, and leave no rejection unhandled.
    next.catch(() => undefined);
    await it.return?.();
  }
}

/** Runs runcell's own code (no history); throws with `what` on anything but an ok reply. */
export async function internal(kernel: Kernel, code: string, what: string): Promise<ChannelMessage[]> {
  const msgs: ChannelMessage[] = [];
  for await (const m of kernel.execute(code, { silent: false, storeHistory: false })) msgs.push(m);
  const reply = msgs.find(isExecuteReply);
  if (reply?.content.status !== 'ok') {
    const err = msgs.find(isError);
    throw new Error(`${what}: ${err ? `${err.content.ename}: ${err.content.evalue}` : 'no reply'}`);
  }
  return msgs;
}

/** One file into a remote kernel: created with O_EXCL|O_NOFOLLOW, appended chunk by chunk. */
async function throughKernel(kernel: Kernel, f: InputSource): Promise<void> {
  const name = JSON.stringify(f.name);
  const what = `placing ${name} failed`;
  await internal(
    kernel,
    `import os as __o\n__o.close(__o.open(${name}, __o.O_WRONLY | __o.O_CREAT | __o.O_EXCL | __o.O_NOFOLLOW, 0o644))\ndel __o`,
    what,
  );
  let pending: Buffer[] = [];
  let held = 0;
  const flush = async () => {
    if (held === 0) return;
    const b64 = Buffer.concat(pending).toString('base64');
    pending = [];
    held = 0;
    await internal(
      kernel,
      `import base64 as __b, os as __o\n__f = __o.open(${name}, __o.O_WRONLY | __o.O_APPEND | __o.O_NOFOLLOW)\n` +
        `__o.write(__f, __b.b64decode('${b64}'))\n__o.close(__f)\ndel __b, __o, __f`,
      what,
    );
  };
  for await (const c of f.open()) {
    pending.push(c);
    held += c.byteLength;
    if (held >= (CHUNK * 3) / 4) await flush();
  }
  await flush();
}

/**
 * A remote kernel runs the job in a fresh private directory (0700, under the gateway's temp dir),
 * so it sees none of the gateway's files nor other jobs' files, and only its own are collected.
 * Returns the cleanup to run after the files are collected (the directory is removed).
 */
export async function privateWorkDir(kernel: Kernel): Promise<() => Promise<void>> {
  if (kernel.files.hostSide) return async () => undefined;
  await internal(
    kernel,
    "import os as __o, tempfile as __t\n__o.chdir(__t.mkdtemp(prefix='runcell-job-'))\ndel __o, __t",
    'making the job a private working directory failed',
  );
  return async () => {
    await internal(
      kernel,
      "import os as __o, shutil as __s\n__d = __o.getcwd()\n__o.chdir('/')\n" +
        "if __o.path.basename(__d).startswith('runcell-job-'):\n    __s.rmtree(__d, ignore_errors=True)\n" +
        'del __o, __s, __d',
      'removing the job directory failed',
    );
  };
}
