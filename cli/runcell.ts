#!/usr/bin/env node
// runcell: the command line for a runcell server (docs/jobs.md).
//   runcell run FILE                     run once, output live; exit code from the result
//   runcell submit FILE… [--parallel N] [--timeout S] [--tag T] [--file NAME=PATH_OR_UPLOAD]…
//                                        one batch (its id printed first): progress, then a table
//   runcell submit PIPELINE.yaml|.json   a pipeline: its graph live, then a table
//   runcell jobs [--state S] [--tag T] [--limit N]                history
//   runcell logs ID                      a job's output (waits for it to finish)
//   runcell rerun ID | --aborted [--batch B]   new attempts (and of what a pipeline skipped
//                                        downstream); waits and reports like submit
//   runcell cancel ID
//   runcell upload FILE                  resumable upload; prints the upload id
//   runcell login [--no-browser] [--timeout S]   sign in through the browser; keeps the token
//   runcell login --token                 keep a token read from standard input (verified first)
//   runcell logout                       revoke the kept token on the server and forget it
//   runcell whoami                       who the token is
// Everywhere: --server URL (RUNCELL_SERVER), --token T (RUNCELL_TOKEN; else the one `login` kept
// for that server), --json.
// Exit codes: 0 success; 1 a job or the code failed; 2 usage, connection or server errors;
// 124 timeout (run).
import { createHash } from 'node:crypto';
import { mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { homedir, hostname } from 'node:os';
import { basename, join, resolve } from 'node:path';
import { parseArgs } from 'node:util';
import {
  type Batch,
  isPipelineFile,
  type JobDetail,
  type JobHandle,
  type JobSpec,
  loadPipeline,
  PipelineError,
  RunCell,
  RunCellError,
  type State,
  type Uploaded,
} from '../sdk/index.js';
import { Credentials, CredentialsError, credentialsPath } from './credentials.js';
import { envCommand } from './env.js';
import {
  browserLogin,
  LoginError,
  type Replaced,
  readToken,
  retireReplaced,
  revokeCurrent,
  whoami,
} from './login.js';
import { GraphView, jobTable, Progress, phases, pipelineTable } from './output.js';
import { runLive } from './run.js';

class UsageError extends Error {}

const USAGE = `usage: runcell <command> [options]
  run FILE                         run code once, output live
  submit FILE... [--parallel N] [--timeout S] [--tag T] [--kernel K] [--file NAME=PATH_OR_UPLOAD]...
  submit PIPELINE.yaml|PIPELINE.json [--timeout S] [--tag T] [--kernel K] [--file NAME=PATH_OR_UPLOAD]...
  jobs [--state S] [--tag T] [--batch B] [--limit N]
  logs ID
  rerun ID | --aborted [--batch B] [--no-wait]
  cancel ID
  upload FILE
  login [--no-browser] [--timeout S]   sign in through the browser; the token is kept for this server
  login --token                        keep a token read from standard input
  logout                               revoke the kept token and forget it
  whoami
  env add NAME --python PATH [--display-name T] [--paths P,...]   (on the server, as root: cli/env.ts)
options: --server URL (RUNCELL_SERVER)  --token T (RUNCELL_TOKEN; default: the one login kept)  --json`;

const options = {
  server: { type: 'string' },
  token: { type: 'string' },
  json: { type: 'boolean', default: false },
  parallel: { type: 'string' },
  timeout: { type: 'string' },
  tag: { type: 'string', multiple: true },
  file: { type: 'string', multiple: true },
  kernel: { type: 'string' },
  state: { type: 'string' },
  batch: { type: 'string' },
  limit: { type: 'string' },
  aborted: { type: 'boolean', default: false },
  'no-wait': { type: 'boolean', default: false },
  'no-browser': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
} as const;

type Values = ReturnType<typeof parseArgs<{ options: typeof options; allowPositionals: true }>>['values'];

function num(v: string | undefined, what: string): number | undefined {
  if (v === undefined) return undefined;
  const n = Number(v);
  if (!Number.isFinite(n) || n <= 0) throw new UsageError(`--${what} must be a positive number`);
  return n;
}

function readCode(file: string): string {
  try {
    return readFileSync(file, 'utf8');
  } catch (e) {
    const code = (e as { code?: string }).code;
    throw new UsageError(code === 'ENOENT' ? `no such file: ${file}` : `cannot read ${file}: ${code ?? e}`);
  }
}

const print = (s: string) => process.stdout.write(s);
const printJson = (v: unknown) => print(`${JSON.stringify(v, null, 2)}\n`);

/** Waits for handles with a live progress bar; returns the finished jobs in order. */
async function follow(
  rc: RunCell,
  handles: JobHandle[],
  more: () => JobHandle | undefined,
  total: number,
): Promise<JobDetail[]> {
  const bar = new Progress();
  const counts = new Map<State, number>();
  let done = 0;
  let unreachable = false;
  const redraw = () => {
    const running = handles.filter((h) => h.state === 'running' || h.state === 'launched').length;
    const parts = [...counts].map(([s, n]) => `${n} ${s}`);
    const line = [`${running} running`, ...parts].join(', ');
    bar.draw(done, total, unreachable ? `${line}; server unreachable, retrying…` : line);
  };
  // The event loop retries through an outage; say so at once (on a terminal, in the progress line).
  const onConnection = (what: string) => {
    if (what !== 'lost' && what !== 'restored') return;
    unreachable = what === 'lost';
    if (!bar.tty)
      say(unreachable ? 'runcell: server unreachable, retrying…' : 'runcell: server reachable again');
    redraw();
  };
  rc.on('connection', onConnection);
  const watch = (h: JobHandle): Promise<void> => {
    h.on('state', redraw);
    return h.result().then((d) => {
      done++;
      counts.set(d.state, (counts.get(d.state) ?? 0) + 1);
      redraw();
      const next = more();
      if (next) {
        handles.push(next);
        return watch(next);
      }
    });
  };
  redraw();
  try {
    await Promise.all([...handles].map(watch));
  } finally {
    rc.off('connection', onConnection);
    bar.end();
  }
  return Promise.all(handles.map((h) => h.result()));
}

function report(jobs: JobDetail[], json: boolean): number {
  if (json) printJson(jobs.map(({ code: _c, ...j }) => ({ ...j, seconds: phases(j) })));
  else print(jobTable(jobs));
  return jobs.every((j) => j.state === 'succeeded') ? 0 : 1;
}

/** A pipeline file: the graph's progress live (stderr), then a table (stdout). */
async function submitPipeline(rc: RunCell, file: string, v: Values): Promise<number> {
  const timeout = num(v.timeout, 'timeout');
  const specs = loadPipeline(file).map((s) => ({
    ...s,
    ...(timeout && s.timeout === undefined ? { timeout } : {}),
    ...(v.kernel && s.kernel === undefined ? { kernel: v.kernel } : {}),
    ...(v.tag && s.tags === undefined ? { tags: v.tag } : {}),
  }));
  const inputs = await attach(rc, v.file ?? [], v.json);
  if (inputs.length > 0) for (const s of specs) s.files = [...(s.files ?? []), ...inputs];
  const batch = await rc.submitPipeline(specs);
  say(`batch ${batch.id}: ${specs.length} job${specs.length === 1 ? '' : 's'}`);
  const view = v.json
    ? undefined
    : new GraphView(specs.map((s) => ({ name: s.name as string, needs: s.needs ?? [] })));
  batch.jobs.forEach((h, i) => {
    view?.set(i, h.state);
    h.on('state', (e: { state: State }) => view?.set(i, e.state));
  });
  view?.draw();
  const results = await batch.results();
  await rc.exit();
  if (v.json) printJson(results.map(({ code: _c, ...j }) => ({ ...j, seconds: phases(j) })));
  else print(pipelineTable(results));
  return results.every((j) => j.state === 'succeeded') ? 0 : 1;
}

async function submit(rc: RunCell, files: string[], v: Values): Promise<number> {
  if (files.length === 0) throw new UsageError('submit needs at least one FILE');
  if (files.some(isPipelineFile)) {
    if (files.length > 1) throw new UsageError('submit takes one pipeline file, on its own');
    return submitPipeline(rc, files[0] as string, v);
  }
  const timeout = num(v.timeout, 'timeout');
  const parallel = num(v.parallel, 'parallel');
  const inputs = await attach(rc, v.file ?? [], v.json);
  const specs = files.map((f) => ({
    code: readCode(f),
    name: basename(f),
    ...(timeout ? { timeout } : {}),
    ...(v.kernel ? { kernel: v.kernel } : {}),
    ...(v.tag ? { tags: v.tag } : {}),
    ...(inputs.length > 0 ? { files: inputs } : {}),
  }));
  // One submission is one batch. With --parallel below the server's own bound, the first wave
  // creates the batch and the rest join it one by one as earlier ones end.
  const wave = parallel === undefined ? specs.length : Math.min(parallel, specs.length);
  const first: Batch = await rc.submit(specs.slice(0, wave));
  say(`batch ${first.id}: ${specs.length} job${specs.length === 1 ? '' : 's'}`);
  const limit = first.perOwner;
  if (parallel !== undefined && limit !== undefined && parallel > limit)
    say(`running ${limit} at a time: the server's limit for your token`);
  let next = wave;
  const handles = [...first.jobs];
  // The server runs no more than its own bound anyway: the rest can join the batch at once.
  if (next < specs.length && limit !== undefined && wave >= limit) {
    handles.push(...(await submitRetrying(rc, specs.slice(next), first.id)));
    next = specs.length;
  }
  const results = await follow(
    rc,
    handles,
    () => {
      const spec = specs[next++];
      return spec && lazyHandle(submitRetrying(rc, [spec], first.id).then((h) => h[0] as JobHandle));
    },
    specs.length,
  );
  await rc.exit();
  return report(results, v.json);
}

/**
 * Adds jobs to the batch, retrying while the server cannot be reached (it may be restarting). A
 * request whose answer was lost after it committed would add the jobs twice: rare, and visible.
 */
async function submitRetrying(rc: RunCell, specs: JobSpec[], batch: string): Promise<JobHandle[]> {
  for (let attempt = 1; ; attempt++) {
    try {
      return (await rc.submit(specs, { batch })).jobs;
    } catch (e) {
      if (!(e instanceof RunCellError) || (e.status !== 0 && e.status !== 503) || attempt > 60) throw e;
      await new Promise((r) => setTimeout(r, Math.min(5000, 200 * 2 ** Math.min(attempt, 5))));
    }
  }
}

/** A stand-in handle that forwards to the real one once its submission returns. */
function lazyHandle(p: Promise<JobHandle>): JobHandle {
  const proxy = {
    state: 'queued' as State,
    on(event: string, fn: (...a: unknown[]) => void) {
      void p.then((h) => h.on(event, fn));
      return proxy;
    },
    result: () => p.then((h) => h.result()),
  };
  void p.then((h) =>
    h.on('state', () => {
      proxy.state = h.state;
    }),
  );
  return proxy as unknown as JobHandle;
}

async function upload(rc: RunCell, file: string | undefined, v: Values): Promise<number> {
  if (!file) throw new UsageError('upload needs a FILE');
  const r = await resumableUpload(rc, file, basename(resolve(file)));
  if (v.json) printJson(r);
  else print(`${r.id}\n`);
  return 0;
}

/**
 * `--file NAME=PATH_OR_UPLOAD`: a local file is uploaded (resuming an interrupted upload of it) under
 * NAME; anything else is taken as the id of an earlier upload. Returns the upload ids.
 */
async function attach(rc: RunCell, specs: string[], quiet: boolean): Promise<string[]> {
  const ids: string[] = [];
  for (const spec of specs) {
    const eq = spec.indexOf('=');
    if (eq <= 0 || eq === spec.length - 1)
      throw new UsageError(`--file takes NAME=PATH_OR_UPLOAD, not ${JSON.stringify(spec)}`);
    const name = spec.slice(0, eq);
    const source = spec.slice(eq + 1);
    let local = false;
    try {
      local = statSync(source).isFile();
    } catch {}
    if (local) {
      if (!quiet) say(`uploading ${source} as ${name}…`);
      ids.push((await resumableUpload(rc, source, name)).id);
    } else if (/^[0-9a-zA-Z_-]{8,}$/.test(source)) {
      // An upload keeps the name it was uploaded with: say so rather than place it under another.
      const named = await rc.uploadName(source).catch((e: unknown) => {
        if (e instanceof RunCellError && e.status === 404)
          throw new UsageError(`--file ${name}=${source}: no such file, and no such upload`);
        throw e;
      });
      if (named !== undefined && named !== name)
        throw new UsageError(
          `--file ${name}=${source}: that upload is named ${JSON.stringify(named)}; use --file ${named}=${source}`,
        );
      ids.push(source);
    } else throw new UsageError(`--file ${name}=${source}: no such file, and not an upload id`);
  }
  return ids;
}

async function resumableUpload(rc: RunCell, file: string, name: string): Promise<Uploaded> {
  const path = resolve(file);
  let data: Buffer;
  let mtime: number;
  try {
    data = readFileSync(path);
    mtime = statSync(path).mtimeMs;
  } catch {
    throw new UsageError(`no such file: ${file}`);
  }
  // Interrupted uploads resume: their URL is kept per (server, path, size, mtime).
  const dir = join(process.env.XDG_CACHE_HOME ?? join(homedir(), '.cache'), 'runcell');
  const stateFile = join(dir, 'uploads.json');
  let state: Record<string, string> = {};
  try {
    state = JSON.parse(readFileSync(stateFile, 'utf8'));
  } catch {}
  const key = createHash('sha256')
    .update(`${rc.url}\n${path}\n${data.byteLength}\n${mtime}\n${name}`)
    .digest('hex');
  const save = () => {
    mkdirSync(dir, { recursive: true, mode: 0o700 });
    writeFileSync(stateFile, JSON.stringify(state), { mode: 0o600 });
  };
  const bar = new Progress();
  const resumeUrl = state[key];
  const r = await rc.upload(data, {
    name,
    ...(resumeUrl ? { resumeUrl } : {}),
    onCreated(url) {
      state[key] = url;
      save();
    },
    onProgress: (sent, total) => bar.draw(sent, total, 'bytes'),
  });
  bar.end();
  delete state[key];
  save();
  return r;
}

const say = (line: string) => process.stderr.write(`${line}\n`);
const credentials = () => new Credentials(credentialsPath(), (w) => say(`runcell: warning: ${w}`));
const LOGIN_TIMEOUT_S = 300;

/** Tells what became of the token a login replaced (see retireReplaced). */
function sayReplaced(url: string, r: Replaced | undefined): void {
  if (!r) return;
  const page = new URL('/tokens', url).href;
  if (r.token === 'revoked') say('The token kept before (from an earlier browser login) was revoked.');
  else if (r.token === 'already-invalid') say('The token kept before was no longer valid on the server.');
  else if (r.token === 'still-valid')
    say(
      `runcell: warning: could not revoke the token kept before (${r.failed}); it stays valid until it ` +
        `is revoked at ${page}`,
    );
  else
    say(
      `The token kept before was not issued by runcell login and may be in use elsewhere: it stays valid ` +
        `(revoke it at ${page} if nothing needs it).`,
    );
}

/** `login`: through the browser, or a token from standard input (`--token` without a value). */
async function login(url: string, v: Values): Promise<number> {
  const store = credentials();
  if (v.token !== undefined) {
    const token = v.token === '-' ? await readToken(say) : v.token;
    if (!token) throw new UsageError('no token on standard input');
    const me = await whoami({ url, token });
    const old = store.get(url);
    store.save(url, {
      token,
      ...(me.token ? { id: me.token.id, name: me.token.name } : {}),
      // The same token again keeps what it was.
      ...(old?.token === token && old.source ? { source: old.source } : {}),
    });
    const replaced = await retireReplaced(url, old, token);
    if (v.json)
      printJson({ server: url, owner: me.owner, file: store.path, ...(replaced ? { replaced } : {}) });
    else say(`Logged in to ${url} as ${me.owner}; the token is kept in ${store.path}`);
    if (!v.json) sayReplaced(url, replaced);
    return 0;
  }
  const timeoutS = num(v.timeout, 'timeout') ?? LOGIN_TIMEOUT_S;
  const issued = await browserLogin({
    server: url,
    name: hostname().slice(0, 80),
    browser: !v['no-browser'],
    timeoutMs: timeoutS * 1000,
    say,
  });
  const old = store.get(url);
  store.save(url, { token: issued.token, id: issued.id, name: issued.name, source: 'login' });
  const replaced = await retireReplaced(url, old, issued.token);
  const me = await whoami({ url, token: issued.token });
  if (v.json)
    printJson({
      server: url,
      owner: me.owner,
      token: { id: issued.id, name: issued.name },
      file: store.path,
      ...(replaced ? { replaced } : {}),
    });
  else {
    say(
      `Logged in to ${url} as ${me.owner} (token “${issued.name}”, ${issued.prefix}…), kept in ${store.path}`,
    );
    sayReplaced(url, replaced);
  }
  return 0;
}

/** `logout`: revoke the kept token on the server, then forget it here (even if the server cannot be told). */
async function logout(url: string, v: Values): Promise<number> {
  const store = credentials();
  const saved = store.get(url);
  if (!saved) {
    say(`runcell: not logged in to ${url}; nothing to do`);
    return 0;
  }
  const r = await revokeCurrent({ url, token: saved.token });
  store.remove(url);
  if (v.json) printJson({ server: url, revoked: r === 'revoked' || r === 'already-invalid', result: r });
  if (r === 'revoked') say(`Logged out of ${url}: the token was revoked and removed from ${store.path}`);
  else if (r === 'already-invalid')
    say(`Logged out of ${url}: the server no longer accepted the token; removed it`);
  else if (r === 'configured')
    say(
      `runcell: warning: the kept token is configured on the server (RUNCELL_TOKENS) and stays valid there; ` +
        `it was removed from ${store.path}`,
    );
  else {
    say(
      `runcell: warning: could not revoke the token on the server (${r.failed}). It was removed from ` +
        `${store.path} but stays valid until it is revoked at ${new URL('/tokens', url).href}`,
    );
    return 2;
  }
  return 0;
}

/** `login --token` with no value reads the token from standard input: `--token` becomes `--token=-`. */
function bareToken(argv: string[]): string[] {
  return argv.map((a, i) => {
    const next = argv[i + 1];
    return a === '--token' && (next === undefined || (next.startsWith('-') && next !== '-'))
      ? '--token=-'
      : a;
  });
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === 'env') return envCommand(argv.slice(1)); // on the server's machine (cli/env.ts)
  const { values: v, positionals } = parseArgs({
    args: bareToken(argv),
    options,
    allowPositionals: true,
    strict: true,
  });
  const [cmd, ...args] = positionals;
  if (v.help || !cmd) {
    print(`${USAGE}\n`);
    return v.help ? 0 : 2;
  }
  const url = v.server ?? process.env.RUNCELL_SERVER ?? 'http://127.0.0.1:8888';
  try {
    new URL(url);
  } catch {
    throw new UsageError(`not a URL: ${url}`);
  }
  if (cmd === 'login') return login(url, v);
  if (cmd === 'logout') return logout(url, v);
  if (v.token === '-')
    throw new UsageError('--token needs a value (runcell login --token keeps one for later)');
  const token = v.token ?? process.env.RUNCELL_TOKEN ?? credentials().get(url)?.token;
  const rc = new RunCell({ url, ...(token ? { token } : {}) });
  const one = (what: string) => {
    const id = args[0];
    if (!id) throw new UsageError(`${cmd} needs ${what}`);
    return id;
  };
  switch (cmd) {
    case 'run': {
      const file = one('a FILE');
      const timeoutS = num(v.timeout, 'timeout');
      const r = await runLive(url, token, readCode(file), {
        json: v.json,
        ...(v.kernel ? { kernel: v.kernel } : {}),
        ...(timeoutS ? { timeoutS } : {}),
      });
      if (v.json) printJson(r);
      else if (r.status === 'timeout') process.stderr.write(`runcell: timed out after ${timeoutS} s\n`);
      return r.status === 'ok' ? 0 : r.status === 'timeout' ? 124 : 1;
    }
    case 'submit':
      return submit(rc, args, v);
    case 'jobs': {
      const limit = num(v.limit, 'limit');
      const r = await rc.list({
        ...(v.state ? { state: v.state } : {}),
        ...(v.tag?.[0] ? { tag: v.tag[0] } : {}),
        ...(v.batch ? { batch: v.batch } : {}),
        ...(limit ? { limit } : {}),
      });
      if (v.json) printJson(r);
      else print(jobTable(r.jobs));
      return 0;
    }
    case 'logs': {
      const h = await rc.job(one('a job ID'));
      const d = await h.result();
      await rc.exit();
      if (v.json) {
        printJson(d);
        return d.state === 'succeeded' ? 0 : 1;
      }
      for (const o of d.result?.outputs ?? []) {
        if (o.output_type === 'stream') (o.name === 'stderr' ? process.stderr : process.stdout).write(o.text);
        else if (o.output_type === 'error') process.stderr.write(`${o.traceback.join('\n')}\n`);
        else {
          const plain = o.data['text/plain'];
          if (typeof plain === 'string') print(`${plain}\n`);
          else print(`[${Object.keys(o.data).join(', ')}]\n`);
        }
      }
      for (const f of d.result?.files ?? [])
        process.stderr.write(`file: ${f.name} (${f.size} bytes) ${f.id}\n`);
      if (d.state !== 'succeeded')
        process.stderr.write(`runcell: job ${d.state}${d.reason ? `: ${d.reason}` : ''}\n`);
      return d.state === 'succeeded' ? 0 : 1;
    }
    case 'rerun': {
      let handles: JobHandle[];
      if (v.aborted) {
        if (args[0]) throw new UsageError('rerun takes an ID or --aborted, not both');
        handles = await rc.rerunAll(v.batch ? { batch: v.batch } : {});
      } else handles = await rc.rerunWithDownstream(one('a job ID or --aborted'));
      if (handles.length === 0) {
        if (v.json) printJson([]);
        else process.stderr.write('runcell: nothing to rerun\n');
        return 0;
      }
      if (v['no-wait']) {
        if (v.json) printJson(handles.map((h) => ({ id: h.id, state: h.state })));
        else for (const h of handles) print(`${h.id}\n`);
        return 0;
      }
      const results = await follow(rc, [...handles], () => undefined, handles.length);
      await rc.exit();
      return report(results, v.json);
    }
    case 'cancel': {
      const d = await rc.cancel(one('a job ID'));
      if (v.json) printJson(d);
      else print(`${d.id} ${d.state}\n`);
      return 0;
    }
    case 'upload':
      return upload(rc, args[0], v);
    case 'whoami': {
      const me = await whoami({ url, token });
      if (v.json) printJson(me);
      else
        print(
          `${me.owner} on ${url} (${me.token ? `token “${me.token.name}”, ${me.token.prefix}…` : 'a token configured on the server'})\n`,
        );
      return 0;
    }
    default:
      throw new UsageError(`unknown command "${cmd}"\n${USAGE}`);
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    let line: string;
    if (e instanceof RunCellError) {
      line =
        e.status === 401
          ? `the server refused the token (${e.message}); run runcell login, or set --token or RUNCELL_TOKEN`
          : e.message;
    } else if (
      e instanceof UsageError ||
      e instanceof PipelineError ||
      e instanceof LoginError ||
      e instanceof CredentialsError
    )
      line = e.message;
    else if ((e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) line = (e as Error).message;
    else line = `unexpected error: ${e instanceof Error ? e.message : String(e)}`;
    process.stderr.write(`runcell: ${line}\n`);
    process.exit(2);
  },
);
