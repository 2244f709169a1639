// kernel-manager figures: cold start, pool hand-out, and the execute round trip of `1+1` through
// kernel-manager against a bare ZMQ client talking to an unsandboxed ipykernel, in the same run.
//   node --import tsx bench/kernel-manager.ts
import { spawn } from 'node:child_process';
import { randomBytes, randomUUID } from 'node:crypto';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { pino } from 'pino';
import * as zmq from 'zeromq';
import { KernelManager } from '../kernel-manager/index.js';
import type { Kernel } from '../kernel-manager/types.js';
import { newHeader, Signer } from '../kernel-manager/wire.js';
import { figure, report, time } from './stats.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 300);

async function executeVia(k: Kernel): Promise<void> {
  for await (const _ of k.execute('1+1', { storeHistory: false })) void _;
}

/** A bare client: the five sockets and the signer, nothing else. */
async function bareKernel() {
  const dir = mkdtempSync('/tmp/rcb-');
  const key = randomBytes(32).toString('hex');
  const conn = join(dir, 'k.json');
  writeFileSync(
    conn,
    JSON.stringify({
      transport: 'ipc',
      ip: join(dir, 'k'),
      shell_port: 1,
      iopub_port: 2,
      stdin_port: 3,
      control_port: 4,
      hb_port: 5,
      key,
      signature_scheme: 'hmac-sha256',
    }),
  );
  const proc = spawn('/usr/bin/python3', ['-m', 'ipykernel_launcher', '-f', conn], { stdio: 'ignore' });
  const shell = new zmq.Dealer({ linger: 0 });
  const iopub = new zmq.Subscriber({ linger: 0 });
  shell.connect(`ipc://${dir}/k-1`);
  iopub.connect(`ipc://${dir}/k-2`);
  iopub.subscribe();
  const signer = new Signer(key);
  const session = randomUUID();
  const pending = new Map<string, { reply: boolean; idle: boolean; done: () => void }>();
  const settle = (id: string | undefined, what: 'reply' | 'idle') => {
    const p = id ? pending.get(id) : undefined;
    if (!p) return;
    p[what] = true;
    if (p.reply && p.idle) {
      pending.delete(id as string);
      p.done();
    }
  };
  void (async () => {
    for await (const f of shell) settle(signer.parse(f).message.parent_header.msg_id, 'reply');
  })().catch(() => undefined);
  void (async () => {
    for await (const f of iopub) {
      const m = signer.parse(f).message;
      if (m.header.msg_type === 'status' && m.content.execution_state === 'idle')
        settle(m.parent_header.msg_id, 'idle');
    }
  })().catch(() => undefined);
  const request = (msgType: string, content: Record<string, unknown>) =>
    new Promise<void>((done) => {
      const header = newHeader(msgType, session);
      pending.set(header.msg_id, { reply: false, idle: false, done });
      void shell.send(signer.serialize({ header, parent_header: {}, metadata: {}, content, buffers: [] }));
    });
  // Ready once a kernel_info round trip (reply + idle on iopub) completes.
  for (;;) {
    const ok = await Promise.race([
      request('kernel_info_request', {}).then(() => true),
      new Promise((r) => setTimeout(() => r(false), 500)),
    ]);
    if (ok) break;
  }
  return {
    execute: () =>
      request('execute_request', {
        code: '1+1',
        silent: false,
        store_history: false,
        user_expressions: {},
        allow_stdin: false,
      }),
    close: () => {
      shell.close();
      iopub.close();
      proc.kill('SIGKILL');
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

async function main() {
  const log = pino({ level: 'silent' });
  const cold = await KernelManager.create(
    { pool: { size: 0 }, sandbox: { runtimeRoot: '/run/rcb-cold', uidRange: [64_000, 64_099] } },
    log,
  );
  const coldStarts: number[] = [];
  for (let i = 0; i < 5; i++) {
    let k: Kernel | undefined;
    coldStarts.push(await time(async () => (k = await cold.start())));
    await k?.shutdown();
  }
  await cold.close();

  const pooled = await KernelManager.create(
    { pool: { size: 3 }, sandbox: { runtimeRoot: '/run/rcb-pool', uidRange: [64_100, 64_199] } },
    log,
  );
  const handouts: number[] = [];
  let kernel: Kernel | undefined;
  for (let i = 0; i < 5; i++) {
    while (pooled.stats().pooled < 3) await new Promise((r) => setTimeout(r, 50));
    let k: Kernel | undefined;
    handouts.push(await time(async () => (k = await pooled.start())));
    if (i < 4) await k?.shutdown();
    else kernel = k;
  }
  if (!kernel) throw new Error('no kernel');

  const bare = await bareKernel();
  for (let i = 0; i < 30; i++) {
    await executeVia(kernel);
    await bare.execute();
  }
  const km: number[] = [];
  const raw: number[] = [];
  // Interleave the two so machine noise hits both alike.
  for (let i = 0; i < ROUNDS; i++) {
    km.push(await time(() => executeVia(kernel as Kernel)));
    raw.push(await time(() => bare.execute()));
  }
  bare.close();
  await pooled.close();

  const f = {
    cold_start: figure(coldStarts),
    pool_handout: figure(handouts),
    rtt_kernel_manager: figure(km),
    rtt_bare_zmq: figure(raw),
  };
  const ratio = f.rtt_kernel_manager.p50_ms / f.rtt_bare_zmq.p50_ms;
  const overhead = f.rtt_kernel_manager.p50_ms - f.rtt_bare_zmq.p50_ms;
  report(
    'kernel-manager',
    {
      ...f,
      rtt_ratio_p50: Math.round(ratio * 100) / 100,
      rtt_overhead_p50_ms: Math.round(overhead * 1000) / 1000,
    },
    `cold start p50 ${f.cold_start.p50_ms} ms; pool hand-out p50 ${f.pool_handout.p50_ms} ms; 1+1 round trip p50 ${f.rtt_kernel_manager.p50_ms} ms (p99 ${f.rtt_kernel_manager.p99_ms}) vs bare ZMQ ${f.rtt_bare_zmq.p50_ms} ms (p99 ${f.rtt_bare_zmq.p99_ms}): ratio ${ratio.toFixed(2)}, overhead ${overhead.toFixed(3)} ms`,
  );
}

await main();
