// What every Kernel implementation (local, remote) offers on top of send() and its 'message' and
// 'dead' events: a message stream, and one execute_request followed until its reply and idle status.
import { randomUUID } from 'node:crypto';
import { KernelManagerError } from './errors.js';
import { type ChannelMessage, isExecuteReply, isInputRequest, isStatus } from './messages.js';
import { AsyncQueue } from './queue.js';
import type { ExecuteOptions, Kernel } from './types.js';

/** Every message from now on, until the kernel dies (then the iterator ends). */
export function messagesOf(k: Kernel): AsyncIterableIterator<ChannelMessage> {
  const onMessage = (m: ChannelMessage) => q.push(m);
  const onDead = () => q.end();
  const q = new AsyncQueue<ChannelMessage>(() => {
    k.off('message', onMessage);
    k.off('dead', onDead);
  });
  k.on('message', onMessage);
  k.once('dead', onDead);
  if (k.state === 'dead') q.end();
  return q;
}

/** Runs code; yields the messages of this request until both its execute_reply and idle arrived. */
export async function* executeOn(
  k: Kernel,
  code: string,
  opts: ExecuteOptions = {},
): AsyncIterableIterator<ChannelMessage> {
  const msgId = randomUUID();
  const onMessage = (m: ChannelMessage) => {
    if (m.parent_header.msg_id === msgId) q.push(m);
  };
  const onDead = (reason: string) => q.end(new KernelManagerError('DEAD', reason));
  const q = new AsyncQueue<ChannelMessage>(() => {
    k.off('message', onMessage);
    k.off('dead', onDead);
  });
  k.on('message', onMessage);
  k.once('dead', onDead);
  try {
    const content = {
      code,
      silent: opts.silent ?? false,
      store_history: opts.storeHistory ?? true,
      user_expressions: {},
      allow_stdin: opts.input !== undefined,
      // ipykernel aborts requests that arrive shortly after an error when this is true, which
      // would abort an independent execute sent right after a failed one.
      stop_on_error: opts.stopOnError ?? false,
    };
    const header = k.send('shell', {
      header: { msg_type: 'execute_request', msg_id: msgId, session: k.session },
      content,
    });
    opts.onRequest?.(header, content);
    let reply = false;
    let idle = false;
    for await (const m of q) {
      yield m;
      if (m.channel === 'stdin' && isInputRequest(m) && opts.input !== undefined) {
        const value = typeof opts.input === 'string' ? opts.input : await opts.input(m.content.prompt);
        k.send('stdin', {
          header: { msg_type: 'input_reply', session: k.session },
          parent_header: m.header,
          content: { value },
        });
      }
      // Spec: shell and iopub are separate sockets, so the reply and the idle come in either order.
      if (m.channel === 'shell' && isExecuteReply(m)) reply = true;
      if (m.channel === 'iopub' && isStatus(m) && m.content.execution_state === 'idle') idle = true;
      if (reply && idle) return;
    }
  } finally {
    q.end();
  }
}
