// A kernel for the bridge's unit tests: just what the hub uses of kernel-manager's Kernel (HubKernel,
// picked from the real interface, so the fake cannot drift from it), with no process, sockets or
// sandbox. It records what it is sent and lets a test play the kernel's side of the conversation.
import { randomUUID } from 'node:crypto';
import { EventEmitter } from 'node:events';
import pino from 'pino';
import {
  type Channel,
  type ChannelMessage,
  type ExecutionState,
  type FileStat,
  type Header,
  KernelManagerError,
  type KernelModelInfo,
  type OutgoingMessage,
  type SendChannel,
} from '../../../kernel-manager/index.js';
import type { Caller } from '../../../server/auth.js';
import type { WireMessage } from '../../../server/bridge/framing.js';
import { Hub, type HubConfig, type HubDeps, type HubKernel } from '../../../server/bridge/hub.js';

export interface Sent {
  channel: SendChannel;
  msg: OutgoingMessage;
  header: Header;
}

export class FakeKernel extends EventEmitter implements HubKernel {
  readonly id = 'fake-kernel';
  readonly specName = 'python3';
  readonly session = 'kernel-session';
  state: ExecutionState = 'idle';
  reason: string | undefined;
  readonly lastActivity = new Date(0);
  readonly sent: Sent[] = [];
  readonly throttled: boolean[] = [];
  /** The work dir: name -> bytes. */
  readonly dir = new Map<string, { data: Buffer; mtimeMs: number }>();
  /** Thrown by the next send() (e.g. a BUSY error). */
  failNextSend: Error | undefined;

  readonly files = {
    hostSide: true,
    grow: async (): Promise<void> => undefined,
    list: (): FileStat[] =>
      [...this.dir].map(([name, f]) => ({ name, size: f.data.length, mtimeMs: f.mtimeMs }) as FileStat),
    read: (name: string): Buffer => {
      const f = this.dir.get(name);
      if (!f) throw new KernelManagerError('FILE_REFUSED', `no file ${name}`);
      return f.data;
    },
    write: async (): Promise<number> => {
      throw new Error('the hub never writes files');
    },
  };

  model(): KernelModelInfo {
    return {
      id: this.id,
      name: this.specName,
      last_activity: this.lastActivity.toISOString(),
      execution_state: this.state,
    };
  }

  send(channel: SendChannel, msg: OutgoingMessage): Header {
    const e = this.failNextSend;
    this.failNextSend = undefined;
    if (e) throw e;
    if (this.state === 'dead') throw new KernelManagerError('DEAD', 'the kernel is dead');
    const header = {
      msg_id: randomUUID(),
      session: this.session,
      username: 'kernel',
      date: new Date().toISOString(),
      version: '5.3',
      ...msg.header,
    } as Header;
    this.sent.push({ channel, msg, header });
    return header;
  }

  deprioritize(on: boolean): void {
    this.throttled.push(on);
  }

  // ---- the kernel's side -------------------------------------------------------------------------

  /** Emits one message from the kernel, parented by `parent` (a header the kernel was sent). */
  emitMessage(
    channel: Channel,
    msgType: string,
    content: Record<string, unknown>,
    parent: Partial<Header> = {},
    buffers: Buffer[] = [],
  ): ChannelMessage {
    const m: ChannelMessage = {
      channel,
      header: {
        msg_id: randomUUID(),
        msg_type: msgType,
        session: this.session,
        username: 'kernel',
        date: new Date().toISOString(),
        version: '5.3',
      },
      parent_header: parent,
      metadata: {},
      content,
      buffers,
    };
    this.emit('message', m);
    return m;
  }

  status(state: 'busy' | 'idle', parent: Partial<Header>): void {
    this.emitMessage('iopub', 'status', { execution_state: state }, parent);
  }

  /** The header of the last message sent to this kernel. */
  last(): Header {
    const s = this.sent.at(-1);
    if (!s) throw new Error('nothing was sent to the kernel');
    return s.header;
  }

  restarting(): void {
    this.state = 'restarting';
  }

  restarted(): void {
    this.state = 'idle';
    this.emit('restarted');
  }

  die(reason: string): void {
    this.state = 'dead';
    this.reason = reason;
    this.emit('dead', reason);
  }
}

export const config: HubConfig = {
  replayMessages: 1_000,
  replayBytes: 10_000_000,
  iopubMsgRate: 0,
  iopubDataRate: 0,
  iopubRateWindowMs: 1_000,
  sessionTtlMs: 60_000,
  maxCodeBytes: 1_000,
};

export const anonymous: Caller = { kind: 'anonymous', ipKey: '192.0.2.1', owner: 'ip:192.0.2.1' };
export const tokenCaller: Caller = { kind: 'token', ipKey: '192.0.2.2', owner: 'token:0' };

/** A hub over a fake kernel, with no limits unless `over` sets them. */
export function fakeHub(
  over: Omit<Partial<HubDeps>, 'config'> & { config?: Partial<HubConfig> } = {},
  kernel = new FakeKernel(),
): { hub: Hub<FakeKernel>; kernel: FakeKernel } {
  const hub = new Hub(kernel, anonymous.ipKey, {
    log: pino({ level: 'silent' }),
    executions: { take: () => ({ ok: true }), refund: () => undefined },
    ...over,
    config: { ...config, ...over.config },
  });
  return { hub, kernel };
}

let n = 0;
/** A client's message, with the client's own ids in its header. */
export function clientMsg(
  channel: string,
  msgType: string,
  content: Record<string, unknown> = {},
  session = 'client-session',
): WireMessage {
  return {
    channel,
    header: {
      msg_id: `client-${++n}`,
      msg_type: msgType,
      session,
      username: 'mallory',
      date: '2001-01-01T00:00:00Z',
      version: '5.2',
    },
    parent_header: { msg_id: 'forged-parent' },
    metadata: { tag: 'm' },
    content,
    buffers: [],
  };
}
