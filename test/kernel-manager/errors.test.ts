// kernel-manager has one error type with codes: the failures of the wire, the sandbox, the uid
// allocator and the gateways are KernelManagerErrors that keep what their failure adds.
import { describe, expect, it } from 'vitest';
import { KernelManagerError } from '../../kernel-manager/index.js';
import { GatewayHttpError, isHostFailure } from '../../kernel-manager/providers/rest.js';
import { SandboxStartError } from '../../kernel-manager/sandbox/launcher.js';
import { UidExhaustedError } from '../../kernel-manager/sandbox/uids.js';
import { WireError } from '../../kernel-manager/wire.js';

describe('KernelManagerError', () => {
  it('is the type of every failure kernel-manager reports, each with its code', () => {
    const cause = new Error('bwrap: setting up uid map: Permission denied');
    const cases = [
      [new WireError('bad signature', 'signature'), 'WIRE', 'WireError'],
      [new SandboxStartError('it exited', 'last lines', cause), 'START_FAILED', 'SandboxStartError'],
      [new UidExhaustedError([1000, 1009]), 'CAPACITY', 'UidExhaustedError'],
      [new GatewayHttpError(502, 'POST api/kernels: HTTP 502'), 'GATEWAY', 'GatewayHttpError'],
    ] as const;
    for (const [e, code, name] of cases) {
      expect(e).toBeInstanceOf(KernelManagerError);
      expect(e).toMatchObject({ code, name });
    }
  });

  it('keeps what each failure adds', () => {
    const cause = new Error('spawn failed');
    const s = new SandboxStartError('it exited', 'last lines', cause);
    expect(s).toMatchObject({
      output: 'last lines',
      cause,
      message: 'kernel sandbox failed to start: it exited',
    });
    expect(new WireError('replayed signature', 'replay').kind).toBe('replay');
    expect(new UidExhaustedError([1000, 1009]).message).toMatch(/no free kernel uid in 1000-1009/);
    const g = new GatewayHttpError(404, 'GET api/kernels/x: HTTP 404');
    expect(g.status).toBe(404);
    // A refused request is not the host failing; a server error or no answer is.
    expect(isHostFailure(g)).toBe(false);
    expect(isHostFailure(new GatewayHttpError(503, 'HTTP 503'))).toBe(true);
    expect(isHostFailure(new TypeError('fetch failed'))).toBe(true);
  });
});
