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
  kernel: Kernel;
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
