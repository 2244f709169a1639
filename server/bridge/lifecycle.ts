// Restarts and death as the bridge sees them. While the kernel starts or restarts, client messages
// are queued (up to MAX_QUEUED) and sent in order once the restart completes; once it is dead,
// nothing more is sent, and whatever was queued is refused with the reason it died.
import type { ExecutionState } from '../../kernel-manager/index.js';
import type { Caller } from '../auth.js';
import type { Transport } from '../store/records.js';
import type { WireMessage } from './framing.js';

/** Client messages queued across a restart, at most. */
export const MAX_QUEUED = 100;

/** A client message waiting for the kernel. */
export interface Queued {
  sid: string;
  msg: WireMessage;
  caller: Caller;
  transport: Transport;
}

/** What becomes of a client message that passed the checks: sent now, queued, or refused with why. */
export type Admission = { send: true } | { queued: true } | { refuse: string };

export interface Death {
  reason: string;
  /** Date.now() when it died. */
  at: number;
}

export class Lifecycle {
  #queue: Queued[] = [];
  #dead: Death | undefined;

  constructor(readonly maxQueued = MAX_QUEUED) {}

  get dead(): Death | undefined {
    return this.#dead;
  }

  /** Messages waiting for a restart to complete. */
  get queued(): number {
    return this.#queue.length;
  }

  /** Why a client message would be refused in this state (dead, or the restart queue is full), if so. */
  refusal(state: ExecutionState): string | undefined {
    if (this.#dead) return `the kernel is dead: ${this.#dead.reason}`;
    if (state !== 'restarting' && state !== 'starting') return undefined;
    if (this.#queue.length >= this.maxQueued) return 'the kernel is restarting';
    return undefined;
  }

  /** Decides for a client message, given the kernel's state now; a queued message is kept here. */
  admit(state: ExecutionState, q: Queued): Admission {
    const refuse = this.refusal(state);
    if (refuse !== undefined) return { refuse };
    if (state !== 'restarting' && state !== 'starting') return { send: true };
    this.#queue.push(q);
    return { queued: true };
  }

  /** A restart completed: the messages queued for it, to send now, in order. */
  restarted(): Queued[] {
    const queued = this.#queue;
    this.#queue = [];
    return queued;
  }

  /**
   * The kernel died: from now on it is dead. Returns the messages queued for a restart, to refuse
   * with `refusal`, or undefined when it was already dead.
   */
  died(reason: string, now = Date.now()): { queued: Queued[]; refusal: string } | undefined {
    if (this.#dead) return undefined;
    this.#dead = { reason, at: now };
    const queued = this.#queue;
    this.#queue = [];
    return { queued, refusal: `the kernel is dead: ${reason}` };
  }
}
