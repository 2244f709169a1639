// Jupyter messaging protocol types (https://jupyter-client.readthedocs.io/en/latest/messaging.html).
// One typed shape per message we act on; everything else is carried as an opaque record.
// Content arriving from a kernel is untrusted: the type guards below check what we rely on.

export const PROTOCOL_VERSION = '5.3';

/** Channels a client may send on. iopub is kernel-to-client only. */
export type SendChannel = 'shell' | 'control' | 'stdin';
export type Channel = SendChannel | 'iopub';
export const CHANNELS: readonly Channel[] = ['shell', 'control', 'stdin', 'iopub'];

export interface Header {
  msg_id: string;
  session: string;
  username: string;
  date: string;
  msg_type: string;
  version: string;
  [extra: string]: unknown;
}

export type JsonObject = { [key: string]: unknown };

export interface Message<C extends JsonObject = JsonObject> {
  header: Header;
  /** Empty object when the message has no parent. */
  parent_header: Partial<Header>;
  metadata: JsonObject;
  content: C;
  buffers: Buffer[];
}

/** A message received from a kernel, tagged with the channel it arrived on. */
export interface ChannelMessage<C extends JsonObject = JsonObject> extends Message<C> {
  channel: Channel;
}

export type ExecutionState = 'starting' | 'idle' | 'busy' | 'restarting' | 'dead';

export interface StatusContent extends JsonObject {
  execution_state: 'busy' | 'idle' | 'starting';
}
export interface StreamContent extends JsonObject {
  name: 'stdout' | 'stderr';
  text: string;
}
export interface DisplayDataContent extends JsonObject {
  data: JsonObject;
  metadata: JsonObject;
  transient?: JsonObject;
}
export interface ExecuteResultContent extends DisplayDataContent {
  execution_count: number;
}
export interface ErrorContent extends JsonObject {
  ename: string;
  evalue: string;
  traceback: string[];
}
export interface ExecuteReplyContent extends JsonObject {
  status: 'ok' | 'error' | 'aborted';
  execution_count?: number;
  ename?: string;
  evalue?: string;
  traceback?: string[];
}
export interface InputRequestContent extends JsonObject {
  prompt: string;
  password: boolean;
}

const isObj = (v: unknown): v is JsonObject => typeof v === 'object' && v !== null && !Array.isArray(v);
const isStr = (v: unknown): v is string => typeof v === 'string';

function is<C extends JsonObject>(type: string, check: (c: JsonObject) => boolean) {
  return (m: Message): m is Message<C> => m.header.msg_type === type && isObj(m.content) && check(m.content);
}

export const isStatus = is<StatusContent>('status', (c) =>
  ['busy', 'idle', 'starting'].includes(c.execution_state as string),
);
export const isStream = is<StreamContent>(
  'stream',
  (c) => (c.name === 'stdout' || c.name === 'stderr') && isStr(c.text),
);
export const isDisplayData = is<DisplayDataContent>('display_data', (c) => isObj(c.data));
export const isUpdateDisplayData = is<DisplayDataContent>('update_display_data', (c) => isObj(c.data));
export const isExecuteResult = is<ExecuteResultContent>('execute_result', (c) => isObj(c.data));
export const isError = is<ErrorContent>(
  'error',
  (c) => isStr(c.ename) && isStr(c.evalue) && Array.isArray(c.traceback),
);
export const isExecuteReply = is<ExecuteReplyContent>('execute_reply', (c) =>
  ['ok', 'error', 'aborted'].includes(c.status as string),
);
export const isInputRequest = is<InputRequestContent>('input_request', (c) => isStr(c.prompt));
export const isClearOutput = is<JsonObject>('clear_output', () => true);
