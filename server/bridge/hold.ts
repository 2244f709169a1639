// The work-file hold. When an execution a client asked for is over (its idle status on iopub), the
// files it wrote are stored and announced before that idle status reaches clients, so a client that
// stops listening at idle still sees them. Storing takes a moment: meanwhile every later message from
// the kernel is held, and then delivered in order (another execution's idle may hold again).
import type { ChannelMessage } from '../../kernel-manager/index.js';
import type { Capture, WorkFileWatcher } from './workfiles.js';

export interface HoldHooks {
  /** True when this msg_id is a request a client sent (not one the manager made itself). */
  isClientRequest(msgId: string): boolean;
  /** Passes a kernel message on to clients. */
  deliver(m: ChannelMessage): void;
  /** Tells clients about the files an execution wrote (or that they could not be stored). */
  announce(idle: ChannelMessage, capture: Promise<Capture>): Promise<void>;
}

/** The idle status that ends an execute_request (Jupyter messaging, "Kernel status"). */
export function endsExecution(m: ChannelMessage): boolean {
  return (
    m.channel === 'iopub' &&
    m.header.msg_type === 'status' &&
    m.content.execution_state === 'idle' &&
    m.parent_header.msg_type === 'execute_request'
  );
}

export class WorkFileHold {
  readonly #watcher: WorkFileWatcher | undefined;
  readonly #hooks: HoldHooks;
  /** Kernel messages held (in order), the idle status first; undefined when nothing is held. */
  #held: ChannelMessage[] | undefined;

  /** Without a watcher (no store for files), messages always go straight through. */
  constructor(watcher: WorkFileWatcher | undefined, hooks: HoldHooks) {
    this.#watcher = watcher;
    this.#hooks = hooks;
  }

  /** Messages are being held. */
  get holding(): boolean {
    return this.#held !== undefined;
  }

  /** Takes the work dir as it is now as the reference (uploads, a restart). */
  baseline(): void {
    this.#watcher?.baseline();
  }

  /** A message from the kernel: delivered now, or held behind the files of an execution that ended. */
  receive(m: ChannelMessage): void {
    if (this.#held) {
      this.#held.push(m);
      return;
    }
    const parentId = m.parent_header.msg_id;
    if (this.#watcher && endsExecution(m) && parentId && this.#hooks.isClientRequest(parentId)) {
      const changed = this.#watcher.changed();
      if (changed.length > 0) {
        this.#held = [m];
        void this.#announce(this.#watcher, m, changed);
        return;
      }
    }
    this.#hooks.deliver(m);
  }

  /** Delivers everything held now, without waiting for the files (the kernel died). */
  flush(): void {
    const held = this.#held ?? [];
    this.#held = undefined;
    for (const m of held) this.#hooks.deliver(m);
  }

  async #announce(
    watcher: WorkFileWatcher,
    idle: ChannelMessage,
    changed: Parameters<WorkFileWatcher['capture']>[0],
  ): Promise<void> {
    try {
      await this.#hooks.announce(idle, watcher.capture(changed));
    } finally {
      this.#release();
    }
  }

  #release(): void {
    const [idle, ...rest] = this.#held ?? [];
    this.#held = undefined;
    if (idle) this.#hooks.deliver(idle);
    // The rest go through the same path again, in order (another execution's idle may hold again).
    for (const m of rest) this.receive(m);
  }
}
