// Every error kernel-manager throws, declared once: one type, KernelManagerError, with a code.
// server/ maps `code` to HTTP responses. The subclasses below carry what their failure adds (the
// sandbox's output, the gateway's status, …) and are exported where they are thrown, too.

export type KernelManagerErrorCode =
  | 'NO_SUCH_SPEC' // the spec is unknown or unavailable
  | 'CAPACITY' // the global cap on live kernels is reached and the wait queue is full; no free uid
  | 'NO_HOST' // every kernel host (gateway) is purged: kernels can be placed nowhere for now
  | 'QUEUE_TIMEOUT' // waited for a kernel longer than the queue timeout
  | 'START_FAILED' // the kernel did not become ready (sandbox refused, crashed, timed out)
  | 'DEAD' // the kernel is dead: nothing more can be sent to it
  | 'BUSY' // the kernel is not reading what was sent to it; too many messages are waiting
  | 'CLOSED' // the manager is shutting down
  | 'FILE_REFUSED' // a work-dir file operation was refused (bad name, a link, too large, exists)
  | 'WIRE' // a message from a kernel was malformed, badly signed or replayed (it is dropped)
  | 'GATEWAY'; // a remote gateway answered a request with an HTTP error status

export class KernelManagerError extends Error {
  constructor(
    readonly code: KernelManagerErrorCode,
    message: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'KernelManagerError';
  }
}

/** A frame that breaks the wire protocol (kernel-manager/wire.ts). */
export class WireError extends KernelManagerError {
  constructor(
    message: string,
    readonly kind: 'malformed' | 'signature' | 'replay',
  ) {
    super('WIRE', message);
    this.name = 'WireError';
  }
}

/** A start-up failure; `output` holds the last lines bubblewrap and the kernel wrote (for logs). */
export class SandboxStartError extends KernelManagerError {
  readonly output: string;
  constructor(why: string, output: string, cause?: unknown) {
    super('START_FAILED', `kernel sandbox failed to start: ${why}`, { cause });
    this.name = 'SandboxStartError';
    this.output = output;
  }
}

/**
 * A kernel that did not become ready. `output` holds the last lines it wrote (stdout and stderr, bounded,
 * host paths removed: see sandbox/tail.ts startOutput), fit to show to whoever asked for the kernel.
 */
export class KernelStartError extends KernelManagerError {
  readonly output: string;
  constructor(message: string, output: string, cause?: unknown) {
    super('START_FAILED', message, { cause });
    this.name = 'KernelStartError';
    this.output = output;
  }
}

/** Every uid of the sandbox's range is taken (sandbox/uids.ts). */
export class UidExhaustedError extends KernelManagerError {
  constructor(range: readonly [number, number]) {
    super(
      'CAPACITY',
      `no free kernel uid in ${range[0]}-${range[1]}: too many live kernels or leftover processes`,
    );
    this.name = 'UidExhaustedError';
  }
}

/** A gateway's non-2xx answer (providers/rest.ts); `status` is its HTTP status. */
export class GatewayHttpError extends KernelManagerError {
  constructor(
    readonly status: number,
    message: string,
  ) {
    super('GATEWAY', message);
    this.name = 'GatewayHttpError';
  }
}
