// What a kernel provider offers the manager: kernels started somewhere else than the local sandbox.
// The local provider is the manager's own pool (kernel-manager/index.ts, pool.ts); gateway.ts starts
// kernels on Jupyter Server / Kernel Gateway / Enterprise Gateway hosts.
import type { Kernel, StartOptions } from '../types.js';

export interface KernelProvider {
  /** Starts a kernel of `spec`; throws KernelManagerError (START_FAILED, CAPACITY) when it cannot. */
  start(spec: string, opts: StartOptions): Promise<Kernel>;
  /** Shuts every kernel it started down and stops its background checks. */
  close(): Promise<void>;
}

/** One Jupyter Server / Kernel Gateway / Enterprise Gateway host. */
export interface GatewayConfig {
  /** Base URL, e.g. http://eg.runcell.svc:8888 (no trailing /api). */
  url: string;
  /** Sent as `Authorization: token <token>`; empty for none. */
  token: string;
  /** Kernels runcell places there at most. */
  capacity: number;
  /** Kernelspecs it offers (default: any name is tried). */
  specs?: string[];
}
