// The seccomp filter: what namespaces alone leave open (AF_VSOCK, AF_NETLINK) and the kernel surfaces
// a notebook never needs. Each call reports its errno; the same calls without the filter show that it
// is the filter, not something else, that refuses them.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { compileSeccomp, DENIED_SYSCALLS } from '../../../kernel-manager/sandbox/seccomp.js';
import { pyJson, type TestSandbox, testSandbox } from './helpers.js';

const PROBE = `import ctypes, errno, os, socket, threading
libc = ctypes.CDLL(None, use_errno=True)
libc.syscall.restype = ctypes.c_long
def sys_(nr, *args):
    r = libc.syscall(ctypes.c_long(nr), *[ctypes.c_long(a) for a in args])
    return 'ok' if r >= 0 else errno.errorcode.get(ctypes.get_errno(), str(ctypes.get_errno()))
def sock(family, kind):
    return sock_p(family, kind, 0)
def sock_p(family, kind, proto):
    try:
        socket.socket(family, kind, proto).close()
        return 'ok'
    except OSError as e:
        return errno.errorcode[e.errno]
out = {
  'vsock': sock(40, socket.SOCK_STREAM),
  'netlink': sock(16, socket.SOCK_RAW),          # NETLINK_ROUTE: libzmq's getifaddrs() needs it
  'netlink_uevent': sock_p(16, socket.SOCK_RAW, 15),
  'netlink_audit': sock_p(16, socket.SOCK_RAW, 9),
  'unix': sock(socket.AF_UNIX, socket.SOCK_STREAM),
  'inet': sock(socket.AF_INET, socket.SOCK_STREAM),
  'process_vm_readv': sys_(310, 1, 0, 0, 0, 0, 0),
  'keyctl': sys_(250, 0, 0, 0, 0),
  'add_key': sys_(248, 0, 0, 0, 0, 0),
  'io_uring_setup': sys_(425, 1, 0),
  'bpf': sys_(321, 0, 0, 0),
  'perf_event_open': sys_(298, 0, 0, -1, -1, 0),
  'userfaultfd': sys_(323, 0),
  'mount': sys_(165, 0, 0, 0, 0, 0),
  'unshare': sys_(272, 0x10000000),
  'setns': sys_(308, 0, 0),
  'tiocsti': sys_(16, 0, 0x5412, 0),             # ioctl(0, TIOCSTI): /dev/null would say ENOTTY
  'personality': sys_(135, 0x0040000),           # ADDR_NO_RANDOMIZE
  'clone3': sys_(435, 0, 0),
}
# Unfiltered, PTRACE_TRACEME would make bwrap's pid 1 our tracer (and end the run): ask only when filtered.
if os.environ.get('PROBE_PTRACE'):
    out['ptrace'] = sys_(101, 0, 0, 0, 0)      # PTRACE_TRACEME
t = threading.Thread(target=lambda: None); t.start(); t.join()
out['threads'] = 'ok'
pid = os.fork()
if pid == 0:
    os._exit(0)
os.waitpid(pid, 0)
out['fork'] = 'ok'
print(json.dumps(out))`;

describe('seccomp', () => {
  let on: TestSandbox;
  let off: TestSandbox;
  beforeAll(async () => {
    [on, off] = await Promise.all([
      testSandbox(1_710_000_200),
      testSandbox(1_710_000_220, { seccomp: false }),
    ]);
  });
  afterAll(async () => {
    await on.close();
    await off.close();
  });

  it('compiles with libseccomp and knows every denied syscall on this host', async () => {
    const prog = await compileSeccomp();
    expect(prog.bpf.length % 8).toBe(0);
    expect(prog.bpf.length).toBeGreaterThan(8 * DENIED_SYSCALLS.length);
    expect(prog.skipped).toEqual([]);
    expect(on.sb.report.join('\n')).toMatch(/seccomp: on/);
    expect(off.sb.report.join('\n')).toMatch(/seccomp: OFF/);
  });

  it('fails clearly when libseccomp cannot be used', async () => {
    await expect(compileSeccomp('/nonexistent/python3')).rejects.toThrow(
      /seccomp filter could not be compiled/,
    );
  });

  it('denies vsock, non-route netlink, ptrace, keyrings, io_uring, bpf, mount, namespaces and TIOCSTI', async () => {
    const { json } = await pyJson<Record<string, string>>(on.sb, PROBE, { PROBE_PTRACE: '1' });
    expect(json).toMatchObject({
      vsock: 'EAFNOSUPPORT',
      netlink_uevent: 'EAFNOSUPPORT',
      netlink_audit: 'EAFNOSUPPORT',
      ptrace: 'EPERM',
      process_vm_readv: 'EPERM',
      keyctl: 'EPERM',
      add_key: 'EPERM',
      io_uring_setup: 'EPERM',
      bpf: 'EPERM',
      perf_event_open: 'EPERM',
      userfaultfd: 'EPERM',
      mount: 'EPERM',
      unshare: 'EPERM',
      setns: 'EPERM',
      tiocsti: 'EPERM',
      personality: 'EPERM',
      clone3: 'ENOSYS',
    });
    // What a notebook needs still works.
    expect(json).toMatchObject({ unix: 'ok', inet: 'ok', netlink: 'ok', threads: 'ok', fork: 'ok' });
  });

  it('is what closes AF_VSOCK: without it the namespaces leave vsock open', async () => {
    const { json } = await pyJson<Record<string, string>>(off.sb, PROBE);
    expect(json.vsock).toBe('ok');
    expect(json.netlink_uevent).toBe('ok');
    expect(json.tiocsti).toBe('ENOTTY');
    expect(json.clone3).not.toBe('ENOSYS');
  });
});
