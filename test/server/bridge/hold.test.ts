// The work-file hold on its own: an execution's idle status waits for its files to be announced, and
// what the kernel sends meanwhile follows in order (a fake kernel's work dir, a fake file store).
import { describe, expect, it } from 'vitest';
import type { ChannelMessage } from '../../../kernel-manager/index.js';
import { endsExecution, type HoldHooks, WorkFileHold } from '../../../server/bridge/hold.js';
import { type Capture, WorkFileWatcher } from '../../../server/bridge/workfiles.js';
import { FakeKernel } from './fake-kernel.js';

const tick = () => new Promise((r) => setImmediate(r));

function setup(opts: { watch?: boolean; failStore?: boolean } = {}) {
  const kernel = new FakeKernel();
  const store = {
    files: {
      put: async (f: { name: string; mediaType: string; data: Buffer }) => {
        if (opts.failStore) throw new Error('database down');
        return { id: f.name, name: f.name, size: f.data.length, mediaType: f.mediaType };
      },
    },
  };
  const watcher =
    opts.watch === false
      ? undefined
      : new WorkFileWatcher(kernel, store as never, { maxFiles: 5, maxFileBytes: 1_000 });
  const delivered: string[] = [];
  const announced: (string[] | string)[] = [];
  const clientRequests = new Set(['exec-1', 'exec-2']);
  const hooks: HoldHooks = {
    isClientRequest: (id) => clientRequests.has(id),
    deliver: (m) => delivered.push(label(m)),
    announce: async (_idle, capture: Promise<Capture>) => {
      try {
        announced.push((await capture).files.map((f) => f.name));
      } catch (e) {
        announced.push((e as Error).message);
      }
    },
  };
  const hold = new WorkFileHold(watcher, hooks);
  const write = (name: string) => kernel.dir.set(name, { data: Buffer.from(name), mtimeMs: Date.now() });
  const say = (type: string, parent: string, state?: string) =>
    hold.receive(
      msg(type, { msg_id: parent, msg_type: 'execute_request' }, state ? { execution_state: state } : {}),
    );
  return { hold, delivered, announced, write, say };
}

function msg(
  type: string,
  parent: Record<string, unknown>,
  content: Record<string, unknown>,
): ChannelMessage {
  return {
    channel: type === 'execute_reply' ? 'shell' : 'iopub',
    header: { msg_id: `${type}`, msg_type: type, session: 's', username: 'k', date: '', version: '5.3' },
    parent_header: parent,
    metadata: {},
    content,
    buffers: [],
  };
}
const label = (m: ChannelMessage) =>
  `${m.header.msg_type}${m.content.execution_state ? `:${m.content.execution_state}` : ''}@${m.parent_header.msg_id}`;

describe('endsExecution', () => {
  it('is an iopub idle status whose parent is an execute_request', () => {
    expect(endsExecution(msg('status', { msg_type: 'execute_request' }, { execution_state: 'idle' }))).toBe(
      true,
    );
    expect(
      endsExecution(msg('status', { msg_type: 'kernel_info_request' }, { execution_state: 'idle' })),
    ).toBe(false);
    expect(endsExecution(msg('status', { msg_type: 'execute_request' }, { execution_state: 'busy' }))).toBe(
      false,
    );
  });
});

describe('WorkFileHold', () => {
  it('passes everything straight through when nothing was written, or without a watcher', () => {
    for (const watch of [true, false]) {
      const { delivered, announced, say } = setup({ watch });
      say('status', 'exec-1', 'idle');
      expect(delivered).toEqual(['status:idle@exec-1']);
      expect(announced).toEqual([]);
    }
  });

  it('holds the idle status and what follows until the files are announced, then delivers in order', async () => {
    const { delivered, announced, write, say } = setup();
    write('a.txt');
    say('status', 'exec-1', 'idle');
    say('status', 'exec-2', 'busy');
    write('b.txt');
    say('status', 'exec-2', 'idle');
    say('status', 'exec-3', 'busy');
    expect(delivered).toEqual([]);
    await tick();
    expect(announced).toEqual([['a.txt'], ['b.txt']]);
    expect(delivered).toEqual([
      'status:idle@exec-1',
      'status:busy@exec-2',
      'status:idle@exec-2',
      'status:busy@exec-3',
    ]);
  });

  it('announces nothing for executions no client asked for', () => {
    const { delivered, announced, write, say } = setup();
    write('a.txt');
    say('status', 'manager-request', 'idle');
    expect(delivered).toEqual(['status:idle@manager-request']);
    expect(announced).toEqual([]);
  });

  it('releases what it holds when storing fails, and delivers at once when flushed', async () => {
    const failing = setup({ failStore: true });
    failing.write('a.txt');
    failing.say('status', 'exec-1', 'idle');
    await tick();
    expect(failing.announced).toEqual(['database down']);
    expect(failing.delivered).toEqual(['status:idle@exec-1']);

    const { hold, delivered, write, say } = setup();
    write('a.txt');
    say('status', 'exec-1', 'idle');
    say('stream', 'exec-1');
    expect(hold.holding).toBe(true);
    hold.flush();
    expect(delivered).toEqual(['status:idle@exec-1', 'stream@exec-1']);
    await tick();
    expect(delivered).toHaveLength(2);
  });
});
