// The kernel core on a fake transport (no process, no socket): execution tracking, the per-execution
// limits, the lost-idle grace, the idle clock, restart and shutdown sequencing, death.
import { pino } from 'pino';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { KernelManagerError } from '../../kernel-manager/errors.js';
import {
  INTERRUPT_AFTER_BUSY_MS,
  INTERRUPT_START_WAIT_MS,
  KernelCore,
  MISSING_REPLY_GRACE_MS,
} from '../../kernel-manager/kernel-core.js';
import type {
  ChannelMessage,
  Header,
  JsonObject,
  Message,
  SendChannel,
} from '../../kernel-manager/messages.js';
import type { KernelFiles, LimitInfo, Limits } from '../../kernel-manager/types.js';

const LIMITS: Limits = {
  startupTimeoutMs: 5_000,
  idleTimeoutMs: 0,
  maxLifetimeMs: 0,
  executionWallMs: 0,
  interruptGraceMs: 20,
  heartbeatIntervalMs: 1_000,
  maxMessageBytes: 1 << 20,
  executionOutputBytes: 0,
  shutdownGraceMs: 10,
};

const noFiles: KernelFiles = {
  hostSide: false,
  grow: async () => undefined,
  list: () => [],
  read: () => Buffer.alloc(0),
  write: async () => 0,
};

/** A promise the test resolves when it chooses. */
function gate(): { wait: Promise<void>; open(): void } {
  let open = () => {};
  const wait = new Promise<void>((r) => {
    open = r;
  });
  return { wait, open };
}

class FakeKernel extends KernelCore {
  readonly files = noFiles;
  readonly sent: { channel: SendChannel; msg: Message }[] = [];
  readonly calls: string[] = [];
  /** Held by restartKernel() until opened. */
  restartGate: Promise<void> = Promise.resolve();
  restartError: Error | undefined;
  /** Whether the fake kernel answers kernel_info (readiness). */
  answers = true;

  constructor(limits: Partial<Limits> = {}, idleGraceMs = 0) {
    super('k1', 'python3', { limits: { ...LIMITS, ...limits }, log: pino({ level: 'silent' }), idleGraceMs });
  }

  start(): Promise<void> {
    return this.awaitReady({
      deadline: Date.now() + this.limits.startupTimeoutMs,
      what: 'the fake kernel',
      failed: () => (this.isDead() ? 'the fake kernel was shut down' : undefined),
    });
  }

  /** A message from the kernel. */
  deliver(
    channel: ChannelMessage['channel'],
    msgType: string,
    content: JsonObject,
    parent: Partial<Header>,
    bytes = 10,
  ) {
    this.receive(
      {
        channel,
        header: {
          msg_id: `m${Math.random()}`,
          session: 's',
          username: 'k',
          date: '',
          msg_type: msgType,
          version: '5.3',
        },
        parent_header: parent,
        metadata: {},
        content,
        buffers: [],
      },
      bytes,
    );
  }

  protected transmit(channel: SendChannel, msg: Message): void {
    this.sent.push({ channel, msg });
    if (msg.header.msg_type === 'kernel_info_request' && this.answers) {
      queueMicrotask(() => {
        this.deliver('iopub', 'status', { execution_state: 'idle' }, msg.header);
        this.deliver('shell', 'kernel_info_reply', { status: 'ok', implementation: 'fake' }, msg.header);
      });
    }
  }
  protected async interruptKernel(): Promise<void> {
    this.calls.push('interrupt');
  }
  protected async restartKernel(): Promise<void> {
    this.calls.push('restart');
    await this.restartGate;
    if (this.restartError) throw this.restartError;
    await this.start();
  }
  protected async stopKernel(): Promise<void> {
    this.calls.push('stop');
  }
  protected async destroyKernel(): Promise<void> {
    this.calls.push('destroy');
  }
}

async function ready(limits: Partial<Limits> = {}, idleGraceMs = 0): Promise<FakeKernel> {
  const k = new FakeKernel(limits, idleGraceMs);
  await k.start();
  return k;
}

function execute(k: FakeKernel): Header {
  return k.send('shell', { header: { msg_type: 'execute_request' }, content: { code: 'x' } });
}

const limitsOf = (k: FakeKernel) => {
  const seen: LimitInfo[] = [];
  k.on('limit', (l: LimitInfo) => seen.push(l));
  return seen;
};
const deadOf = (k: FakeKernel) => new Promise<string>((r) => k.once('dead', r));
/** Runs the (fake) clock forward by `ms`, letting what it wakes settle. */
const tick = (ms: number) => vi.advanceTimersByTimeAsync(ms);

/** A ready kernel whose clock from now on is the test's (vi fake timers). */
async function readyOnTestClock(limits: Partial<Limits> = {}, idleGraceMs = 0): Promise<FakeKernel> {
  const k = await ready(limits, idleGraceMs);
  vi.useFakeTimers();
  return k;
}

afterEach(() => {
  vi.useRealTimers();
});

describe('kernel core', () => {
  it('is ready once kernel_info is answered and iopub has spoken; keeps the reply as info', async () => {
    const k = await ready();
    expect(k.state).toBe('idle');
    expect(k.info?.implementation).toBe('fake');
    expect(k.sent[0]?.msg.header).toMatchObject({ msg_type: 'kernel_info_request', session: k.session });
  });

  it('fails a start that never becomes ready with START_FAILED', async () => {
    const k = new FakeKernel({ startupTimeoutMs: 50 });
    k.answers = false;
    const e = await k
      .start()
      .then(() => undefined)
      .catch((x: unknown) => x);
    expect(e).toBeInstanceOf(KernelManagerError);
    expect((e as KernelManagerError).code).toBe('START_FAILED');
    expect((e as Error).message).toBe('the fake kernel did not become ready within 50 ms');
  });

  it('a kernel shut down before its transport is up stays dead', async () => {
    const k = new FakeKernel();
    await k.shutdown('gone');
    await expect(k.start()).rejects.toMatchObject({
      code: 'START_FAILED',
      message: 'the fake kernel was shut down',
    });
    expect(k.state).toBe('dead');
    expect(k.reason).toBe('gone');
  });

  it('fills in the headers of what it sends and follows the kernel state from its status', async () => {
    const k = await ready();
    const h = execute(k);
    expect(h).toMatchObject({ msg_type: 'execute_request', session: k.session, username: 'runcell' });
    expect(h.msg_id).toMatch(/^[0-9a-f-]{36}$/);
    k.deliver('iopub', 'status', { execution_state: 'busy' }, h);
    expect(k.state).toBe('busy');
    k.deliver('iopub', 'status', { execution_state: 'idle' }, h);
    expect(k.state).toBe('idle');
  });

  it('interrupts an execution at the wall-clock limit and kills the kernel if it keeps running', async () => {
    const k = await readyOnTestClock({ executionWallMs: 20, interruptGraceMs: 20 });
    const limits = limitsOf(k);
    const dead = deadOf(k);
    const h = execute(k);
    await tick(19);
    expect(limits).toEqual([]);
    await tick(1);
    expect(k.calls).toEqual(['interrupt']);
    await tick(20);
    const reason = await dead;
    expect(limits).toEqual([
      { kind: 'wall', message: 'execution time limit of 20 ms reached', parentMsgId: h.msg_id },
    ]);
    expect(k.calls).toEqual(['interrupt', 'destroy']);
    expect(reason).toBe('execution time limit of 20 ms reached; the kernel ignored the interrupt');
    expect(k.state).toBe('dead');
    expect(() => execute(k)).toThrow(/the kernel is dead/);
  });

  it('starts the wall clock of a queued execution only when it reaches the head', async () => {
    const k = await readyOnTestClock({ executionWallMs: 40, interruptGraceMs: 1_000 });
    const limits = limitsOf(k);
    const first = execute(k);
    const second = execute(k);
    await tick(25);
    k.deliver('shell', 'execute_reply', { status: 'ok' }, first);
    await tick(25);
    // 50 ms since the second was sent, 25 ms since it reached the head: within its limit.
    expect(limits).toEqual([]);
    k.deliver('shell', 'execute_reply', { status: 'ok' }, second);
    await tick(60);
    expect(limits).toEqual([]);
    expect(k.state).toBe('idle');
  });

  it('counts output bytes per execution and interrupts at the cap; a replied execution is not killed', async () => {
    const k = await readyOnTestClock({ executionOutputBytes: 100, interruptGraceMs: 20 });
    const limits = limitsOf(k);
    const h = execute(k);
    k.deliver('iopub', 'stream', { name: 'stdout', text: 'x' }, h, 60);
    expect(limits).toEqual([]);
    k.deliver('iopub', 'stream', { name: 'stdout', text: 'x' }, h, 60);
    expect(limits.map((l) => l.kind)).toEqual(['output']);
    expect(k.calls).toEqual(['interrupt']);
    k.deliver('shell', 'execute_reply', { status: 'error' }, h);
    await tick(40);
    expect(k.state).not.toBe('dead');
  });

  it('supplies a lost idle status after the grace period, and only then', async () => {
    const k = await readyOnTestClock({}, 20);
    const got: ChannelMessage[] = [];
    k.on('message', (m: ChannelMessage) => got.push(m));
    const lost = execute(k);
    k.deliver('shell', 'execute_reply', { status: 'ok' }, lost);
    const arrived = execute(k);
    k.deliver('iopub', 'status', { execution_state: 'idle' }, arrived);
    k.deliver('shell', 'execute_reply', { status: 'ok' }, arrived);
    await tick(19);
    expect(got.filter((m) => m.content.runcell_synthetic)).toEqual([]);
    await tick(1);
    const synthetic = got.filter((m) => m.content.runcell_synthetic);
    expect(synthetic).toHaveLength(1);
    expect(synthetic[0]?.parent_header.msg_id).toBe(lost.msg_id);
    expect(synthetic[0]?.content.execution_state).toBe('idle');
  });

  it('sends an interrupt at once when nothing runs, and while an execution runs', async () => {
    const k = await ready();
    await k.interrupt();
    expect(k.calls).toEqual(['interrupt']);
    const h = execute(k);
    k.deliver('iopub', 'status', { execution_state: 'busy' }, h);
    k.deliver('iopub', 'execute_input', { code: 'x', execution_count: 1 }, h);
    await k.interrupt();
    expect(k.calls).toEqual(['interrupt', 'interrupt']);
  });

  it('holds an interrupt asked for before the execution runs until the kernel says execute_input', async () => {
    const k = await ready();
    const h = execute(k);
    let sent = false;
    const interrupted = k.interrupt().then(() => {
      sent = true;
    });
    // A second click joins the first: one interrupt.
    const again = k.interrupt();
    // busy alone is not enough: ipykernel arms SIGINT after publishing it.
    k.deliver('iopub', 'status', { execution_state: 'busy' }, h);
    // Another request's execute_input (a different parent) is not this one's.
    k.deliver('iopub', 'execute_input', { code: 'y', execution_count: 1 }, { msg_id: 'other' });
    await Promise.resolve();
    expect(k.calls).toEqual([]);
    expect(sent).toBe(false);
    k.deliver('iopub', 'execute_input', { code: 'x', execution_count: 1 }, h);
    await Promise.all([interrupted, again]);
    expect(k.calls).toEqual(['interrupt']);
  });

  it('interrupts a silent execution at its busy, which has no execute_input', async () => {
    const k = await ready();
    const h = k.send('shell', {
      header: { msg_type: 'execute_request' },
      content: { code: 'x', silent: true },
    });
    const interrupted = k.interrupt();
    expect(k.calls).toEqual([]);
    k.deliver('iopub', 'status', { execution_state: 'busy' }, h);
    await interrupted;
    expect(k.calls).toEqual(['interrupt']);
  });

  it('does not hold an interrupt forever: after busy without execute_input, or with no busy at all', async () => {
    const k = await readyOnTestClock();
    const h = execute(k);
    const first = k.interrupt();
    k.deliver('iopub', 'status', { execution_state: 'busy' }, h);
    await tick(INTERRUPT_AFTER_BUSY_MS - 1);
    expect(k.calls).toEqual([]);
    await tick(1);
    await first;
    expect(k.calls).toEqual(['interrupt']);
    k.deliver('shell', 'execute_reply', { status: 'error' }, h);
    execute(k);
    const second = k.interrupt();
    await tick(INTERRUPT_START_WAIT_MS - 1);
    expect(k.calls).toEqual(['interrupt']);
    await tick(1);
    await second;
    expect(k.calls).toEqual(['interrupt', 'interrupt']);
  });

  it('drops a held interrupt whose execution ends first, or when the kernel restarts', async () => {
    const k = await ready();
    const h = execute(k);
    const held = k.interrupt();
    k.deliver('shell', 'execute_reply', { status: 'ok' }, h);
    await held;
    execute(k);
    const heldAcrossRestart = k.interrupt();
    await k.restart();
    await heldAcrossRestart;
    expect(k.calls).toEqual(['restart']);
  });

  it('supplies an execute_reply the kernel never sent, once its idle has come and the grace has passed', async () => {
    const k = await readyOnTestClock({}, 20);
    const got: ChannelMessage[] = [];
    k.on('message', (m: ChannelMessage) => got.push(m));
    const replies = () => got.filter((m) => m.header.msg_type === 'execute_reply');
    // The reply comes after the idle (another socket), within the grace: nothing is supplied.
    const late = execute(k);
    k.deliver('iopub', 'status', { execution_state: 'idle' }, late);
    await tick(MISSING_REPLY_GRACE_MS - 1);
    k.deliver('shell', 'execute_reply', { status: 'ok' }, late);
    // An interrupted execution the kernel dropped (ipykernel caught the KeyboardInterrupt in its own code).
    const dropped = execute(k);
    k.deliver('iopub', 'status', { execution_state: 'busy' }, dropped);
    k.deliver('iopub', 'execute_input', { code: 'x', execution_count: 2 }, dropped);
    await k.interrupt();
    k.deliver('iopub', 'status', { execution_state: 'idle' }, dropped);
    await tick(MISSING_REPLY_GRACE_MS - 1);
    expect(replies()).toHaveLength(1);
    await tick(1);
    expect(replies()).toHaveLength(2);
    expect(replies()[1]?.parent_header).toEqual(dropped);
    expect(replies()[1]?.content).toMatchObject({
      status: 'error',
      ename: 'KeyboardInterrupt',
      runcell_synthetic: true,
    });
    // Nothing asked it to stop: a generic error.
    const lost = execute(k);
    k.deliver('iopub', 'status', { execution_state: 'idle' }, lost);
    await tick(MISSING_REPLY_GRACE_MS);
    expect(replies()[2]?.content).toMatchObject({ status: 'error', ename: 'KernelError' });
    // The supplied replies ended the executions: no wall clock or reply is left for them.
    await tick(10 * MISSING_REPLY_GRACE_MS);
    expect(replies()).toHaveLength(3);
    expect(k.state).toBe('idle');
  });

  it('shuts down a kernel idle past the idle timeout, saying so', async () => {
    const k = await readyOnTestClock({ idleTimeoutMs: 20 });
    const limits = limitsOf(k);
    const dead = deadOf(k);
    k.assign('owner');
    await tick(10);
    // Sending counts as activity: the clock starts again from here.
    k.send('shell', { header: { msg_type: 'kernel_info_request' }, content: {} });
    await tick(19);
    expect(k.state).toBe('idle');
    await tick(1);
    expect(await dead).toBe('kernel idle for 20 ms, shut down');
    expect(limits).toEqual([{ kind: 'idle', message: 'kernel idle for 20 ms, shut down', afterMs: 20 }]);
    expect(k.calls).toEqual(['stop']);
    expect(k.owner).toBe('owner');
  });

  it('is not idle while it runs code: the idle clock starts again when the execution ends', async () => {
    const k = await readyOnTestClock({ idleTimeoutMs: 20 });
    const dead = deadOf(k);
    k.assign('owner');
    const h = execute(k);
    // Running far past the idle timeout with no client message: still in use.
    await tick(100);
    expect(k.state).not.toBe('dead');
    k.deliver('shell', 'execute_reply', { status: 'ok' }, h);
    await tick(19);
    expect(k.state).not.toBe('dead');
    await tick(1);
    expect(await dead).toBe('kernel idle for 20 ms, shut down');
  });

  it('restarts: status restarting, then restarted and idle; pending executions are forgotten', async () => {
    const k = await readyOnTestClock({ executionWallMs: 20, interruptGraceMs: 20 });
    const limits = limitsOf(k);
    const states: string[] = [];
    k.on('status', (s: string) => states.push(s));
    let restarted = 0;
    k.on('restarted', () => restarted++);
    execute(k);
    const restarting = k.restart();
    await tick(100);
    await restarting;
    expect(states).toEqual(['restarting', 'idle']);
    expect(restarted).toBe(1);
    expect(limits).toEqual([]);
    expect(k.state).toBe('idle');
  });

  it('kills a kernel whose restart fails, and says why', async () => {
    const k = await ready();
    k.restartError = new KernelManagerError('START_FAILED', 'no');
    const dead = deadOf(k);
    await expect(k.restart()).rejects.toBe(k.restartError);
    expect(await dead).toBe('the kernel could not be restarted');
    expect(k.calls).toEqual(['restart', 'destroy']);
  });

  it('joins a restart asked for while one is under way: one restart, both callers told when it is done', async () => {
    const k = await ready();
    const g = gate();
    k.restartGate = g.wait;
    let restarted = 0;
    k.on('restarted', () => restarted++);
    const settled: string[] = [];
    const first = k.restart().then(() => settled.push('first'));
    const second = k.restart().then(() => settled.push('second'));
    await new Promise((r) => setImmediate(r));
    expect(settled).toEqual([]);
    expect(k.state).toBe('restarting');
    g.open();
    await Promise.all([first, second]);
    expect(settled.sort()).toEqual(['first', 'second']);
    expect(k.calls).toEqual(['restart']);
    expect(restarted).toBe(1);
    expect(k.state).toBe('idle');
    // Once it is done, a new restart is a restart of its own.
    await k.restart();
    expect(k.calls).toEqual(['restart', 'restart']);
  });

  it('a joined restart that fails fails for both callers with the same error', async () => {
    const k = await ready();
    const g = gate();
    k.restartGate = g.wait;
    k.restartError = new KernelManagerError('START_FAILED', 'no');
    const first = k.restart().catch((e: unknown) => e);
    const second = k.restart().catch((e: unknown) => e);
    g.open();
    expect(await first).toBe(k.restartError);
    expect(await second).toBe(k.restartError);
    expect(k.calls).toEqual(['restart', 'destroy']);
    expect(k.reason).toBe('the kernel could not be restarted');
  });

  it('refuses a restart while shutting down and after death', async () => {
    const k = await ready();
    const stopping = k.shutdown();
    await expect(k.restart()).rejects.toMatchObject({ code: 'DEAD' });
    await stopping;
    await expect(k.restart()).rejects.toMatchObject({ code: 'DEAD', message: 'the kernel is dead' });
    await expect(k.interrupt()).rejects.toMatchObject({ code: 'DEAD' });
  });
});
