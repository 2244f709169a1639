// R through Debian's IRkernel in the real sandbox: a base-R plot as PNG, an error with its message,
// interrupt, the environment summary, and the sandbox's limits holding as for Python (fork bomb, memory
// bomb, network). One manager; a fresh kernel where an attack may kill one.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { KernelManager } from '../../kernel-manager/index.js';
import type { Kernel } from '../../kernel-manager/types.js';
import { pidsOfUids, run, startRun, testManager, waitFor } from './helpers.js';

const SLOT = 161;
const LO = 61_000 + SLOT * 100;
const MiB = 2 ** 20;
/** The execute_reply's content (empty when none came). */
const reply = (r: { reply?: { content: unknown } }) =>
  ({ traceback: [], ...(r.reply?.content ?? {}) }) as {
    status?: string;
    ename?: string;
    traceback: string[];
  };

let m: KernelManager;
let k: Kernel;

beforeAll(async () => {
  m = await testManager(SLOT, {
    pool: { size: 0 },
    limits: { executionWallMs: 20_000 },
    sandbox: { memoryBytes: 256 * MiB, pids: 128, rlimits: { processes: 64 } },
  });
  k = await m.start('ir');
});

afterAll(async () => {
  await m?.close();
  expect(pidsOfUids(LO, LO + 99)).toEqual([]);
});

/** run(), or what the kernel died of: an attack may end it. */
const attempt = (kernel: Kernel, code: string) => run(kernel, code).catch(() => undefined);

const errorOf = (r: Awaited<ReturnType<typeof run>>) =>
  r.messages.find((x) => x.header.msg_type === 'error')?.content as
    | { ename: string; evalue: string }
    | undefined;

describe('R kernel (IRkernel) in the sandbox', () => {
  it('is offered with its language and logo, and runs R', async () => {
    const spec = m.specs().find((s) => s.name === 'ir');
    expect(spec).toMatchObject({ language: 'R', display_name: 'R' });
    expect(Object.keys(spec?.resources ?? {})).toContain('logo-64x64');
    const r = await run(k, 'cat(R.version$language, sum(1:10), "\\n")');
    expect(r.stdout).toBe('R 55 \n');
    expect(k.info?.language_info).toMatchObject({ name: 'R' });
  });

  it('shows a base-R plot as PNG', async () => {
    const r = await run(k, 'plot(1:10, main = "runcell")');
    const shown = r.messages.find((x) => x.header.msg_type === 'display_data');
    const data = (shown?.content.data ?? {}) as Record<string, string>;
    expect(
      Buffer.from(data['image/png'] ?? '', 'base64')
        .subarray(1, 4)
        .toString(),
    ).toBe('PNG');
  });

  it('reports an error with its message', async () => {
    const r = await run(k, 'stop("no such thing here")');
    expect(errorOf(r)?.evalue).toMatch(/no such thing here/);
    expect(reply(r).status).toBe('error');
    // The kernel goes on.
    expect((await run(k, 'cat(2 + 2)')).stdout).toBe('4');
  });

  it('is interrupted out of a long computation and goes on', async () => {
    // Interrupted once the code runs (its first output), not when the kernel says busy: a SIGINT
    // before R evaluates the code is not an interrupt of it.
    const { out: r, done } = startRun(
      k,
      'cat("sleeping\\n"); flush.console(); Sys.sleep(60); cat("not interrupted")',
    );
    await waitFor(() => r.stdout.includes('sleeping'), 10_000, 'the code running');
    await k.interrupt();
    await done;
    expect(r.stdout).not.toMatch(/not interrupted/);
    // IRkernel says 'abort'; clients get the spec's 'aborted'.
    expect(reply(r).status).toBe('aborted');
    expect((await run(k, 'cat("after")')).stdout).toBe('after');
  });

  it('summarizes its environment: R version and installed packages', async () => {
    const env = await m.environment('ir');
    expect(env.language).toBe('R');
    expect(env.version).toMatch(/^4\.\d+\.\d+$/);
    const names = (env.packages ?? []).map((p) => p.name);
    expect(names).toEqual(expect.arrayContaining(['base', 'stats', 'IRkernel', 'jsonlite']));
    expect(env.error).toBeUndefined();
  });

  it('has no network: no DNS, no route out', async () => {
    const dns = await run(
      k,
      'nsl <- tryCatch(utils::nsl("example.com"), error = function(e) NULL); cat(is.null(nsl))',
    );
    expect(dns.stdout).toBe('TRUE');
    const web = await run(k, 'readLines(url("http://example.com"))');
    expect(`${web.stderr} ${errorOf(web)?.evalue}`).toMatch(/resolve host|cannot open/);
    const tcp = await run(k, 'make.socket("10.1.2.3", 80)');
    expect(errorOf(tcp)?.evalue).toMatch(/socket not established|cannot/i);
  });

  it('fork bomb: stopped at the process limit, all reaped with the kernel', async () => {
    const bomb = await m.start('ir');
    const r = await attempt(
      bomb,
      `n <- 0
why <- tryCatch({ for (i in 1:1000) { parallel::mcparallel(Sys.sleep(60)); n <- n + 1 }; "no limit" },
                error = function(e) conditionMessage(e))
cat("forked", n, ":", why, "\\n")`,
    );
    if (bomb.state === 'dead') expect(bomb.reason).toMatch(/heartbeat|process limit|time limit/);
    else {
      expect(r?.stdout).toMatch(/unable to fork/);
      expect(Number(/forked (\d+)/.exec(r?.stdout ?? '')?.[1])).toBeLessThan(130);
    }
    await bomb.shutdown();
  });

  it('memory bomb: an allocation error or the kernel killed at the memory limit, with the reason', async () => {
    const bomb = await m.start('ir');
    const r = await attempt(bomb, 'x <- list(); for (i in 1:1000) x[[i]] <- numeric(2e6) + i');
    if (bomb.state === 'dead') expect(bomb.reason).toMatch(/memory limit of 256 MiB reached/);
    else expect(r && errorOf(r)?.evalue).toMatch(/cannot allocate/);
    await bomb.shutdown();
  });
});
