// The kernel's seccomp filter, compiled once by libseccomp's official Python bindings (Debian's
// python3-seccomp) and handed to bubblewrap per kernel with --seccomp FD. A maintained library
// compiles the BPF so that architecture checks (i386 and x32 syscalls are killed) and syscall
// numbering are right; we only say what to deny.
import { execFile } from 'node:child_process';

/** Syscalls that return EPERM. Names unknown to the host's libseccomp are skipped (and reported). */
export const DENIED_SYSCALLS: readonly string[] = [
  // another process's memory
  'ptrace',
  'process_vm_readv',
  'process_vm_writev',
  'process_madvise',
  'pidfd_getfd',
  'kcmp',
  // kernel keyrings
  'keyctl',
  'add_key',
  'request_key',
  // large, often-exploited kernel surfaces
  'io_uring_setup',
  'io_uring_enter',
  'io_uring_register',
  'bpf',
  'perf_event_open',
  'userfaultfd',
  // filesystems and namespaces
  'mount',
  'umount2',
  'pivot_root',
  'chroot',
  'move_mount',
  'open_tree',
  'fsopen',
  'fsconfig',
  'fsmount',
  'fspick',
  'mount_setattr',
  'unshare',
  'setns',
  'name_to_handle_at',
  'open_by_handle_at',
  'fanotify_init',
  // the machine itself
  'kexec_load',
  'kexec_file_load',
  'init_module',
  'finit_module',
  'delete_module',
  'reboot',
  'swapon',
  'swapoff',
  'acct',
  'quotactl',
  'quotactl_fd',
  'syslog',
  'lookup_dcookie',
  'uselib',
  'iopl',
  'ioperm',
  'settimeofday',
  'clock_settime',
  'clock_adjtime',
  'adjtimex',
  'vhangup',
];

// Python run with -I (isolated: no user site, no PYTHON* env). Prints skipped names on stderr.
const SCRIPT = `
import errno, sys, seccomp
f = seccomp.SyscallFilter(seccomp.ALLOW)
def deny(err, name, *args):
    try:
        f.add_rule(seccomp.ERRNO(err), name, *args)
    except Exception as e:
        print("skipped", name, e, file=sys.stderr)
for name in sys.argv[1:]:
    deny(errno.EPERM, name)
# Sockets the network namespace does not cover: vsock reaches the hypervisor, netlink the kernel.
deny(errno.EAFNOSUPPORT, "socket", seccomp.Arg(0, seccomp.EQ, 40))  # AF_VSOCK
# AF_NETLINK except NETLINK_ROUTE (protocol 0): libzmq's getifaddrs() needs route netlink to bind even
# tcp://127.0.0.1 (ipykernel's iopub pipe) and aborts without it; it only sees the kernel's own netns.
deny(errno.EAFNOSUPPORT, "socket", seccomp.Arg(0, seccomp.EQ, 16), seccomp.Arg(2, seccomp.NE, 0))  # AF_NETLINK
# Terminal injection: the ioctl command is 32-bit, so compare only the low half.
deny(errno.EPERM, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xffffffff, 0x5412))  # TIOCSTI
deny(errno.EPERM, "ioctl", seccomp.Arg(1, seccomp.MASKED_EQ, 0xffffffff, 0x541C))  # TIOCLINUX
# clone3 takes its flags in memory seccomp cannot read: ENOSYS makes libc fall back to clone,
# whose namespace flags we can check.
deny(errno.ENOSYS, "clone3")
# CLONE_NEWNS, NEWCGROUP, NEWUTS, NEWIPC, NEWUSER, NEWPID, NEWNET, NEWTIME
for bit in (0x00020000, 0x02000000, 0x04000000, 0x08000000, 0x10000000, 0x20000000, 0x40000000, 0x00000080):
    deny(errno.EPERM, "clone", seccomp.Arg(0, seccomp.MASKED_EQ, bit, bit))
# personality: no ADDR_NO_RANDOMIZE, READ_IMPLIES_EXEC, ADDR_COMPAT_LAYOUT, MMAP_PAGE_ZERO.
for bit in (0x0040000, 0x0400000, 0x0200000, 0x0100000):
    deny(errno.EPERM, "personality", seccomp.Arg(0, seccomp.MASKED_EQ, bit, bit))
f.export_bpf(sys.stdout)
`;

export interface SeccompProgram {
  bpf: Buffer;
  /** Syscall names the host's libseccomp did not know (left allowed: the kernel lacks them too). */
  skipped: string[];
}

/** Compiles the filter with `python` (an absolute path); rejects if libseccomp is unavailable. */
export function compileSeccomp(python = '/usr/bin/python3'): Promise<SeccompProgram> {
  return new Promise((resolve, reject) => {
    execFile(
      python,
      ['-I', '-c', SCRIPT, ...DENIED_SYSCALLS],
      { env: {}, encoding: 'buffer', timeout: 10_000, maxBuffer: 1 << 20 },
      (err, stdout, stderr) => {
        const errText = stderr.toString('utf8').trim();
        if (err) {
          reject(
            new Error(`seccomp filter could not be compiled (python3-seccomp): ${errText || err.message}`),
          );
          return;
        }
        // A BPF program is a non-empty array of 8-byte instructions.
        if (stdout.length === 0 || stdout.length % 8 !== 0) {
          reject(new Error(`seccomp filter compilation produced ${stdout.length} bytes`));
          return;
        }
        const skipped = [...errText.matchAll(/^skipped (\S+)/gm)].map((m) => m[1] ?? '');
        resolve({ bpf: stdout, skipped });
      },
    );
  });
}
