// Every error kernel-manager throws, declared once. server/ maps `code` to HTTP responses.

export type KernelManagerErrorCode =
  | 'NO_SUCH_SPEC' // the spec is unknown or unavailable
  | 'CAPACITY' // the global cap on live kernels is reached and the wait queue is full
  | 'QUEUE_TIMEOUT' // waited for a kernel longer than the queue timeout
  | 'START_FAILED' // the kernel did not become ready (sandbox refused, crashed, timed out)
  | 'DEAD' // the kernel is dead: nothing more can be sent to it
  | 'BUSY' // the kernel is not reading what was sent to it; too many messages are waiting
  | 'CLOSED' // the manager is shutting down
  | 'FILE_REFUSED'; // a work-dir file operation was refused (bad name, a link, too large, exists)

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
