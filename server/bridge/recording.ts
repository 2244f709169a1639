// Every execute_request that passes through the server is recorded in the store, off the hot path:
// begin() when it is sent, finish() once its reply and its idle status have both arrived, with a
// bounded summary of the outputs built as they go by (the outputs themselves are not kept).
import type { ChannelMessage, Header, Kernel } from '../../kernel-manager/index.js';
import type { Caller } from '../auth.js';
import { OutputSummarizer, type Recorder, type Transport } from '../store/records.js';

export interface RecordStart {
  header: Header;
  code: string;
  content: Record<string, unknown>;
  kernel: Pick<Kernel, 'id' | 'specName'>;
  transport: Transport;
  caller: Caller;
  permalinkId?: string;
}

/** Follows one execution's messages and finishes its record when the execution is over. */
export class ExecutionRecord {
  readonly #recorder: Recorder;
  readonly #id: string;
  readonly #summary = new OutputSummarizer();
  #status: string | undefined;
  #idle = false;
  #done = false;

  constructor(recorder: Recorder, start: RecordStart) {
    this.#recorder = recorder;
    this.#id = recorder.begin({
      message: { header: { ...start.header }, content: { ...start.content, code: start.code } },
      kernelSpec: start.kernel.specName,
      kernelId: start.kernel.id,
      transport: start.transport,
      // The address key (IPv6 by /64); the store keeps only its keyed hash.
      clientAddress: start.caller.ipKey,
      principal: start.caller.kind === 'token' ? start.caller.owner : null,
      permalinkId: start.permalinkId ?? null,
    });
  }

  /** Feeds a message whose parent is this execution; true once the record is finished. */
  add(m: ChannelMessage): boolean {
    if (this.#done) return true;
    const type = m.header.msg_type;
    if (m.channel === 'iopub' && type === 'status') {
      if (m.content.execution_state === 'idle') this.#idle = true;
    } else if (m.channel === 'shell' && type === 'execute_reply') {
      this.#status = typeof m.content.status === 'string' ? m.content.status : 'unknown';
      this.#summary.add({ msg_type: type, content: m.content });
    } else if (m.channel === 'iopub') {
      this.#summary.add({ msg_type: type, content: m.content });
    }
    if (this.#status !== undefined && this.#idle) this.end(this.#status);
    return this.#done;
  }

  /** Ends the record now (kernel died, request lost). */
  end(status: string): void {
    if (this.#done) return;
    this.#done = true;
    this.#recorder.finish(this.#id, { status, summary: this.#summary.summary() });
  }
}

/** The records of executions in flight, by the server's msg_id (at most `max`; past that, unrecorded). */
export class Recordings {
  readonly #recorder: Recorder | undefined;
  readonly #byId = new Map<string, ExecutionRecord>();

  /** Without a recorder (tests that need none), nothing is recorded. */
  constructor(
    recorder: Recorder | undefined,
    readonly max = 4_096,
  ) {
    this.#recorder = recorder;
  }

  /** Starts the record of an execute_request just sent. */
  begin(start: RecordStart): void {
    if (!this.#recorder || this.#byId.size >= this.max) return;
    this.#byId.set(start.header.msg_id, new ExecutionRecord(this.#recorder, start));
  }

  /** Feeds a kernel message to the record of its parent execution, if one is in flight. */
  add(m: ChannelMessage): void {
    const parentId = m.parent_header.msg_id;
    if (!parentId) return;
    if (this.#byId.get(parentId)?.add(m)) this.#byId.delete(parentId);
  }

  get size(): number {
    return this.#byId.size;
  }

  /** Ends every record in flight (restarted, dead, lost). */
  endAll(status: string): void {
    for (const r of this.#byId.values()) r.end(status);
    this.#byId.clear();
  }
}
