// What a kernel provider offers the manager: kernels started somewhere else than the local sandbox.
// The local provider is the manager's own pool (kernel-manager/index.ts, pool.ts); gateway.ts starts
// kernels on Jupyter Server / Kernel Gateway / Enterprise Gateway hosts.
import type { Kernel, StartOptions } from '../types.js';

// Declared with the manager's configuration (types.ts); re-exported for the providers.
export type { GatewayConfig } from '../types.js';

export interface KernelProvider {
  /** Starts a kernel of `spec`; throws KernelManagerError (START_FAILED, CAPACITY) when it cannot. */
  start(spec: string, opts: StartOptions): Promise<Kernel>;
  /** Shuts every kernel it started down and stops its background checks. */
  close(): Promise<void>;
}
