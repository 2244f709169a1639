// The environment summary of a kernelspec (shared/environments.ts): its interpreter, run once in the
// spec's own sandbox (same binds, same env, same limits) with a short script that prints the language
// version and the installed packages as one JSON line. The output is untrusted: parsed, checked and
// capped here. Probes exist for Python and R; other languages get a summary without packages.
import { randomUUID } from 'node:crypto';
import { basename } from 'node:path';
import { ENV_LIMITS, type EnvironmentSummary, type EnvPackage } from '../shared/environments.js';
import { SandboxStartError } from './errors.js';
import type { Sandbox } from './sandbox/types.js';
import type { KernelSpecInfo } from './types.js';

const MARK = '@@runcell-env ';
/** Enough for ENV_LIMITS.packages entries of ordinary names. */
const OUTPUT_BYTES = 256 * 1024;

// stderr goes to /dev/null: only the JSON line reaches the output.
const PYTHON_PROBE = `import os, sys, json
os.dup2(os.open(os.devnull, os.O_WRONLY), 2)
pk = {}
try:
    from importlib import metadata
    for d in metadata.distributions():
        n = d.metadata["Name"]
        if n and n.lower() not in pk:
            pk[n.lower()] = [n, d.version or ""]
except Exception:
    pk = None
print(${JSON.stringify(MARK)} + json.dumps({"version": sys.version.split()[0], "packages": None if pk is None else sorted(pk.values(), key=lambda p: p[0].lower())}))
`;

const R_PROBE =
  'sink(file("/dev/null","w"),type="message");' +
  'ip<-installed.packages(fields=character(0))[,c("Package","Version"),drop=FALSE];' +
  'ip<-ip[!duplicated(ip[,1]),,drop=FALSE];ip<-ip[order(tolower(ip[,1])),,drop=FALSE];' +
  'q<-function(s)paste0("\\"",gsub("[^A-Za-z0-9._+-]","",s),"\\"");' +
  `cat("${MARK}{\\"version\\":",q(paste(R.version$major,R.version$minor,sep=".")),` +
  '",\\"packages\\":[",paste0("[",q(ip[,1]),",",q(ip[,2]),"]",collapse=","),"]}\\n",sep="")';

/** The command that probes this spec's environment, or undefined when there is no probe for it. */
export function probeArgv(spec: KernelSpecInfo): string[] | undefined {
  const cmd = spec.argv[0];
  if (!cmd) return undefined;
  const lang = spec.language.toLowerCase();
  if (lang === 'python') return [cmd, '-c', PYTHON_PROBE];
  if (lang === 'r' && /^R(script)?$/.test(basename(cmd))) {
    return basename(cmd) === 'R'
      ? [cmd, '--slave', '--no-save', '--no-restore', '-e', R_PROBE]
      : [cmd, '-e', R_PROBE];
  }
  return undefined;
}

const str = (v: unknown, max: number): string | undefined =>
  typeof v === 'string' && v.length <= max ? v : undefined;

/** The summary from a probe's output; throws when it holds none. */
export function parseProbe(language: string, output: string, now = new Date()): EnvironmentSummary {
  const line = output
    .split('\n')
    .reverse()
    .find((l) => l.startsWith(MARK));
  if (!line) throw new Error('the probe printed no summary');
  const raw = JSON.parse(line.slice(MARK.length)) as { version?: unknown; packages?: unknown };
  let packages: EnvPackage[] | null = null;
  let truncated = false;
  if (Array.isArray(raw.packages)) {
    packages = [];
    for (const p of raw.packages) {
      if (!Array.isArray(p)) continue;
      const name = str(p[0], ENV_LIMITS.name);
      const version = str(p[1], ENV_LIMITS.version);
      if (!name || version === undefined) continue;
      if (packages.length === ENV_LIMITS.packages) {
        truncated = true;
        break;
      }
      packages.push({ name, version });
    }
  }
  return {
    language,
    version: str(raw.version, ENV_LIMITS.version) ?? null,
    packages,
    truncated,
    probed_at: now.toISOString(),
  };
}

/** Runs the probe for `spec` in `sandbox` and returns its summary (with `error` when it failed). */
export async function probeEnvironment(
  sandbox: Sandbox,
  spec: KernelSpecInfo,
  o: { timeoutMs: number; hide(text: string): string; signal?: AbortSignal },
): Promise<EnvironmentSummary> {
  const base = { language: spec.language, version: null, packages: null, truncated: false };
  const argv = probeArgv(spec);
  if (!argv) return { ...base, probed_at: new Date().toISOString() };
  let output = '';
  try {
    const proc = await sandbox.launch({
      kernelId: `probe-${randomUUID()}`,
      argv,
      env: spec.env,
      binds: spec.binds,
      outputBytes: OUTPUT_BYTES,
      connectionFile: () => Buffer.from('{}'),
      deadline: Date.now() + o.timeoutMs,
      runsToExit: true,
    });
    let timer: NodeJS.Timeout | undefined;
    let onAbort: (() => void) | undefined;
    const timedOut = new Promise<'timeout'>((r) => {
      timer = setTimeout(() => r('timeout'), o.timeoutMs);
    });
    // The manager closing: the probe ends now rather than holding up the server's stop.
    const aborted = new Promise<'aborted'>((r) => {
      onAbort = () => r('aborted');
      if (o.signal?.aborted) onAbort();
      else o.signal?.addEventListener('abort', onAbort, { once: true });
    });
    const end = await Promise.race([proc.exited, timedOut, aborted]);
    clearTimeout(timer);
    if (onAbort) o.signal?.removeEventListener('abort', onAbort);
    output = proc.output?.() ?? '';
    await proc.destroy();
    if (end === 'timeout') throw new Error(`the probe did not finish within ${o.timeoutMs / 1000} s`);
    if (end === 'aborted') throw new Error('the probe was stopped: the server is shutting down');
  } catch (e) {
    // A probe quicker than the sandbox's set-up bookkeeping still left its output.
    if (e instanceof SandboxStartError) output = e.output;
    else return { ...base, probed_at: new Date().toISOString(), error: o.hide((e as Error).message) };
  }
  try {
    return parseProbe(spec.language, output);
  } catch (e) {
    const tail = o.hide(output.trim().split('\n').slice(-3).join('\n')).slice(-500);
    return {
      ...base,
      probed_at: new Date().toISOString(),
      error: `${(e as Error).message}${tail ? `: ${tail}` : ''}`,
    };
  }
}
