// What a client may send, and how a refusal is answered. A refused message is answered in the log,
// never by silence: a request gets an error reply its client's future resolves with (and, for an
// execute_request, an error output), between busy and idle status as a kernel would send them;
// anything else gets a stderr notice.
import type { Caller } from '../auth.js';
import type { Scope, Take } from '../limits.js';
import type { WireMessage } from './framing.js';
import { notice, type Outgoing, synthetic } from './outgoing.js';

/** Message types a client may send, per channel (DESIGN.md "Messages from browsers"). */
export const ALLOWED: Record<string, ReadonlySet<string>> = {
  shell: new Set([
    'execute_request',
    'complete_request',
    'inspect_request',
    'is_complete_request',
    'kernel_info_request',
    'history_request',
    'comm_info_request',
    'comm_open',
    'comm_msg',
    'comm_close',
  ]),
  stdin: new Set(['input_reply']),
  control: new Set(),
};

/** The types allowed on a channel; undefined for an unknown channel (own keys only: "toString" is none). */
export function allowedTypes(channel: string): ReadonlySet<string> | undefined {
  return Object.hasOwn(ALLOWED, channel) ? ALLOWED[channel] : undefined;
}

export interface Rules {
  /** Largest execute_request code accepted, in bytes. */
  maxCodeBytes: number;
  /** Executions per anonymous visitor and address; a token is taken for each execute_request that passes. */
  executions: { take(ipKey: string): Take & { scope?: Scope } };
  /** Why the kernel cannot take a message now (dead, or its restart queue is full), if it cannot. */
  unavailable?: string | undefined;
}

/**
 * Why this message may not go to the kernel, or undefined when it may: an unknown channel, a type
 * not allowed on its channel, an execute_request without code or with too much of it, a kernel that
 * cannot take it now, or too many executions from an anonymous caller's address (checked last: only a
 * message that passes the rest costs a token).
 */
export function refusal(msg: WireMessage, caller: Caller, rules: Rules): string | undefined {
  const type = String(msg.header.msg_type);
  const allowed = allowedTypes(msg.channel);
  if (!allowed) return `unknown channel "${msg.channel.slice(0, 32)}" (use shell, stdin or control)`;
  if (!allowed.has(type)) {
    return msg.channel === 'control' || type === 'shutdown_request' || type === 'interrupt_request'
      ? `${type} is not accepted over this connection: interrupt, restart and shut down through the REST API (/api/kernels/:id/interrupt, /restart, DELETE)`
      : `message type ${type} is not allowed on the ${msg.channel} channel`;
  }
  if (type !== 'execute_request') return rules.unavailable;
  const code = msg.content.code;
  if (typeof code !== 'string') return 'execute_request needs content.code';
  if (Buffer.byteLength(code) > rules.maxCodeBytes) return `code is larger than ${rules.maxCodeBytes} bytes`;
  if (rules.unavailable !== undefined) return rules.unavailable;
  if (caller.kind === 'anonymous') {
    const t = rules.executions.take(caller.ipKey);
    if (!t.ok)
      return `too many executions from ${t.scope === 'page' ? 'this page' : 'your address'}; retry in ${t.retryAfterS} s`;
  }
  return undefined;
}

/**
 * The messages that answer a refused message, seen only by the session that sent it: for a request
 * (Jupyter messaging, "Request-Reply"), status busy, an error output for execute_request, the error
 * reply and status idle; otherwise a stderr notice.
 */
export function refusalReplies(
  kernelSession: string,
  sid: string,
  msg: WireMessage,
  reason: string,
): Outgoing[] {
  const type = String(msg.header.msg_type);
  const route = { origin: { sid, header: msg.header }, target: sid };
  if (!type.endsWith('_request') || !allowedTypes(msg.channel))
    return [notice(kernelSession, `[runcell] message refused: ${reason}\n`, route)];
  const channel = msg.channel === 'control' ? 'control' : 'shell';
  const status = (execution_state: string) =>
    synthetic(kernelSession, 'iopub', 'status', { execution_state }, route);
  const error = { ename: 'RuncellError', evalue: reason, traceback: [`RuncellError: ${reason}`] };
  const out = [status('busy')];
  if (type === 'execute_request') out.push(synthetic(kernelSession, 'iopub', 'error', error, route));
  const reply = type.replace(/_request$/, '_reply');
  out.push(synthetic(kernelSession, channel, reply, { status: 'error', ...error }, route));
  out.push(status('idle'));
  return out;
}
