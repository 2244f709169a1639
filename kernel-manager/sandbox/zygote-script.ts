// The Python side of the fork-server, as text (the build is plain tsc and copies no .py files).
// It is read by `python3 -I` from fd 3 (BOOTSTRAP), so forked kernels' /proc/self/cmdline stays short.
//
// The zygote runs as root in a private mount namespace (tmpfs over /home and /tmp), imports ipykernel
// and the configured modules, and then only ever reads JSON lines from node on fd 0 and answers on
// fd 1. It never runs user code and never holds a kernel's key: a fork joins a sandbox that node has
// already built with bubblewrap (uid, cgroups, namespaces, minimal root, private connection file),
// so the zygote receives only a uid, the host pid of that sandbox's placeholder process and the
// kernel's cgroup.procs files. Each fork ("C"), before anything else:
//   closes every fd, joins the kernel's cgroups, sets the rlimits and niceness, opens the placeholder's namespaces
//   and root, enters its cgroup/ipc/uts/net/pid/mount namespaces and root (still host root), clears
//   supplementary groups, enters its user namespace last, drops the bounding set, ambient, permitted,
//   effective and inheritable capabilities, takes the kernel's uid and gid, sets no_new_privs, loads
//   the same seccomp filter as bubblewrap, checks all of that in /proc/self/status, and forks the
//   kernel ("G", inside the sandbox's pid namespace). C waits for G and exits with G's status, which
//   the zygote reports to node. G starts a new session, resets signals, clears the environment to the
//   kernel's, reseeds random state and runs IPKernelApp on the sandbox's private connection file.
export const BOOTSTRAP =
  "import os;f=os.fdopen(3,'rb');s=f.read();f.close();del f;exec(compile(s,'runcell-zygote','exec'))";

export const ZYGOTE_SCRIPT = String.raw`
import ctypes, json, os, resource, signal, select, sys, traceback

libc = ctypes.CDLL(None, use_errno=True)

def _ok(r, what):
    if r < 0:
        e = ctypes.get_errno()
        raise OSError(e, '%s: %s' % (what, os.strerror(e)))
    return r

def prctl(*a):
    return _ok(libc.prctl(*[ctypes.c_ulong(x) for x in a]), 'prctl %d' % a[0])

PR_SET_PDEATHSIG, PR_SET_DUMPABLE, PR_SET_SECCOMP = 1, 4, 22
PR_CAPBSET_DROP, PR_SET_NO_NEW_PRIVS, PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL = 24, 38, 47, 4
SECCOMP_MODE_FILTER = 2
NS = {'cgroup': 0x02000000, 'ipc': 0x08000000, 'uts': 0x04000000, 'net': 0x40000000,
      'pid': 0x20000000, 'mnt': 0x00020000, 'user': 0x10000000}
MS_REC, MS_PRIVATE, MS_NOSUID, MS_NODEV = 0x4000, 0x40000, 0x2, 0x4

def emit(obj):
    data = (json.dumps(obj) + '\n').encode()
    while data:
        data = data[os.write(1, data):]

def setns(fd, flag, name):
    _ok(libc.setns(fd, flag), 'setns ' + name)

class CapHeader(ctypes.Structure):
    _fields_ = [('version', ctypes.c_uint32), ('pid', ctypes.c_int)]

class CapData(ctypes.Structure):
    _fields_ = [('effective', ctypes.c_uint32), ('permitted', ctypes.c_uint32), ('inheritable', ctypes.c_uint32)]

class SockFprog(ctypes.Structure):
    _fields_ = [('len', ctypes.c_ushort), ('filter', ctypes.c_void_p)]

def drop_all_caps(last_cap):
    for cap in range(last_cap + 1):
        prctl(PR_CAPBSET_DROP, cap, 0, 0, 0)
    prctl(PR_CAP_AMBIENT, PR_CAP_AMBIENT_CLEAR_ALL, 0, 0, 0)

def clear_caps():
    hdr = CapHeader(0x20080522, 0)
    data = (CapData * 2)()
    _ok(libc.capset(ctypes.byref(hdr), ctypes.byref(data)), 'capset')

def load_seccomp(bpf):
    buf = ctypes.create_string_buffer(bpf, len(bpf))
    prog = SockFprog(len(bpf) // 8, ctypes.cast(buf, ctypes.c_void_p))
    _ok(libc.prctl(ctypes.c_int(PR_SET_SECCOMP), ctypes.c_ulong(SECCOMP_MODE_FILTER), ctypes.byref(prog),
                   ctypes.c_ulong(0), ctypes.c_ulong(0)), 'seccomp')

def status_fields(text):
    out = {}
    for line in text.splitlines():
        k, _, v = line.partition(':')
        out[k] = v.split()
    return out

# --- start-up (root, host namespaces, started by node with a fixed, non-secret environment) ---
inbuf = b''
while b'\n' not in inbuf:
    chunk = os.read(0, 65536)
    if not chunk:
        os._exit(1)
    inbuf += chunk
line, inbuf = inbuf.split(b'\n', 1)
INIT = json.loads(line)
del line
BPF = bytes.fromhex(INIT['seccomp']) if INIT.get('seccomp') else None
RLIMITS = [(getattr(resource, name), soft, hard) for name, soft, hard in INIT['rlimits']]
NICE = int(INIT['nice'])
KERNEL_ENV = dict(INIT['env'])
CONN = INIT['connectionFile']
HOME = INIT['home']
LAST_CAP = int(open('/proc/sys/kernel/cap_last_cap').read())
PARENT = os.getppid()
prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
if os.getppid() != PARENT:
    os._exit(1)

# A private mount namespace: imports that write caches (matplotlib's font list) or read home dirs
# see fresh tmpfs, never the host's /home or /tmp.
_ok(libc.unshare(NS['mnt']), 'unshare mount namespace')
_ok(libc.mount(b'none', b'/', None, MS_REC | MS_PRIVATE, None), 'make / private')
for d in ('/tmp', '/home'):
    if not os.path.isdir(d):
        emit({'fatal': d + ' does not exist on this host'})
        sys.exit(1)
    _ok(libc.mount(b'tmpfs', d.encode(), b'tmpfs', MS_NOSUID | MS_NODEV, b'size=64m,mode=0755'), 'tmpfs ' + d)
os.makedirs(HOME, mode=0o700, exist_ok=True)
os.chdir(HOME)

INITIAL_SIGNALS = {s: signal.getsignal(s) for s in signal.valid_signals()
                   if s not in (signal.SIGKILL, signal.SIGSTOP)}

import random
import importlib
for mod in INIT['preload']:
    importlib.import_module(mod)
import ipykernel.kernelapp

# With matplotlib preloaded, draw one small figure here, once, so that each fork's prelude draw (and a
# visitor's first plot) does not pay again for the renderer's lazy imports and first-use set-up: about
# 100 ms of CPU per kernel start. Through the object API with the Agg canvas only: pyplot's backend is
# left unresolved, for each kernel to choose (the inline backend). The font cache is emptied after,
# since a cached font holds an open file and every fork closes the fds it inherits.
DREW = False
if 'matplotlib.pyplot' in sys.modules:
    try:
        import io
        from matplotlib.figure import Figure
        from matplotlib.backends.backend_agg import FigureCanvasAgg
        fig = Figure(figsize=(2, 1.5))
        FigureCanvasAgg(fig)
        ax = fig.add_subplot()
        ax.plot([0, 1], [0, 1], label='x')
        ax.set_title('x')
        ax.legend()
        fig.savefig(io.BytesIO(), format='png')
        del fig, ax
        DREW = True
    except Exception:
        pass
    fonts = getattr(sys.modules.get('matplotlib.font_manager'), '_get_font', None)
    if hasattr(fonts, 'cache_clear'):
        fonts.cache_clear()
    del fonts

# Objects that exist now live in every fork: move them out of the collector's reach so that
# collections in the kernels do not write to (and so copy) the pages they share with the zygote.
import gc
gc.collect()
gc.freeze()

threads = int(status_fields(open('/proc/self/status').read())['Threads'][0])
if threads != 1:
    emit({'fatal': 'the zygote is not single-threaded after its imports (%d threads)' % threads})
    sys.exit(1)

# --- per fork ---

def read_status(fd):
    return status_fields(os.pread(fd, 65536, 0).decode())

def verify_self(fd, uid):
    st = read_status(fd)
    want = str(uid)
    problems = []
    if st['Uid'] != [want] * 4 or st['Gid'] != [want] * 4:
        problems.append('uid/gid %s %s' % (st['Uid'], st['Gid']))
    if st.get('Groups', []) != []:
        problems.append('groups %s' % st['Groups'])
    for k in ('CapInh', 'CapPrm', 'CapEff', 'CapBnd', 'CapAmb'):
        if int(st[k][0], 16) != 0:
            problems.append('%s %s' % (k, st[k][0]))
    if st['NoNewPrivs'] != ['1']:
        problems.append('no_new_privs not set')
    if BPF is not None and st['Seccomp'] != ['2']:
        problems.append('seccomp not in filter mode')
    if problems:
        raise RuntimeError('fork isolation check failed: ' + '; '.join(problems))

def enter_sandbox(cmd):
    uid = int(cmd['uid'])
    target = int(cmd['target'])
    if uid < 1000 or target < 2:
        raise ValueError('bad uid or target')
    # 1. Nothing of this process runs outside the kernel's cgroups.
    for f in cmd['cgroups']:
        if not f.startswith('/sys/fs/cgroup/') or not f.endswith('/cgroup.procs') or '..' in f:
            raise ValueError('bad cgroup path')
        fd = os.open(f, os.O_WRONLY | os.O_NOFOLLOW)
        try:
            os.write(fd, str(os.getpid()).encode())
        finally:
            os.close(fd)
    # 2. The target must be a process of this kernel's uid, in namespaces that are not ours.
    pdir = os.open('/proc/%d' % target, os.O_RDONLY | os.O_DIRECTORY)
    sfd = os.open('status', os.O_RDONLY, dir_fd=pdir)
    tst = status_fields(os.read(sfd, 65536).decode())
    os.close(sfd)
    if tst['Uid'] != [str(uid)] * 4:
        raise RuntimeError('the sandbox placeholder does not run as the kernel uid')
    nsfd = {}
    for name in NS:
        nsfd[name] = os.open('ns/' + name, os.O_RDONLY, dir_fd=pdir)
        if os.fstat(nsfd[name]).st_ino == os.stat('/proc/self/ns/' + name).st_ino:
            raise RuntimeError('the sandbox placeholder shares the %s namespace with the host' % name)
    rootfd = os.open('root', os.O_RDONLY | os.O_DIRECTORY, dir_fd=pdir)
    os.close(pdir)
    status_fd = os.open('/proc/%d/status' % os.getpid(), os.O_RDONLY)
    # 3. Limits, inherited by everything the kernel starts.
    for res, soft, hard in RLIMITS:
        resource.setrlimit(res, (soft, hard))
    os.nice(NICE)  # relative to the zygote's, i.e. the server's, like nice --adjustment in a plain start
    # 4. Namespaces: all but the user namespace while still root on the host, then the root directory
    #    (the placeholder's, i.e. bubblewrap's minimal read-only root), then the user namespace.
    os.setgroups([])
    for name in ('cgroup', 'ipc', 'uts', 'net', 'pid', 'mnt'):
        setns(nsfd[name], NS[name], name)
        os.close(nsfd[name])
    os.fchdir(rootfd)
    os.chroot('.')
    os.close(rootfd)
    os.chdir(HOME)
    setns(nsfd['user'], NS['user'], 'user')
    os.close(nsfd['user'])
    # 5. Privileges: full capabilities in the kernel's own user namespace only; drop them all.
    drop_all_caps(LAST_CAP)
    os.setresgid(uid, uid, uid)
    os.setresuid(uid, uid, uid)
    clear_caps()
    prctl(PR_SET_NO_NEW_PRIVS, 1, 0, 0, 0)
    if BPF is not None:
        load_seccomp(BPF)
    verify_self(status_fd, uid)
    os.close(status_fd)

def run_kernel(report, probe):
    # G: pid >= 3 in the sandbox's pid namespace; its parent C is outside it (getppid() == 0).
    prctl(PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    if os.getppid() != 0:
        os._exit(1)
    os.setsid()
    prctl(PR_SET_DUMPABLE, 1, 0, 0, 0)
    os.environ.clear()
    os.environ.update(KERNEL_ENV)
    random.seed()
    np = sys.modules.get('numpy')
    if np is not None:
        np.random.seed()
    if probe:
        os.close(report)
        while True:
            signal.pause()
    sys.argv = ['/usr/lib/python3/dist-packages/ipykernel_launcher.py', '-f', CONN]
    try:
        app = ipykernel.kernelapp.IPKernelApp.instance()
        app.initialize(sys.argv[1:])
    except BaseException:
        os.write(report, (json.dumps({'error': traceback.format_exc()[-4000:]}) + '\n').encode())
        os._exit(1)
    os.close(report)
    app.start()
    os._exit(0)

def child(cmd, report):
    # C. Runs nothing but this function; every path ends in os._exit.
    code = 127
    try:
        signal.set_wakeup_fd(-1)
        for s, h in INITIAL_SIGNALS.items():
            try:
                signal.signal(s, h if h is not None else signal.SIG_DFL)
            except (OSError, ValueError, TypeError):
                pass
        os.dup2(report, 3)
        null = os.open('/dev/null', os.O_RDWR)
        for fd in (0, 1, 2):
            os.dup2(null, fd)
        os.closerange(4, 1 << 20)
        report = 3
        enter_sandbox(cmd)
        g = os.fork()
        if g == 0:
            try:
                run_kernel(report, bool(cmd.get('probe')))
            finally:
                os._exit(1)
        os.write(report, (json.dumps({'pid': g}) + '\n').encode())
        os.close(report)
        while True:
            try:
                _, status = os.waitpid(g, 0)
                break
            except ChildProcessError:
                os._exit(126)
            except InterruptedError:
                continue
        code = os.waitstatus_to_exitcode(status)
        code = 128 - code if code < 0 else code
    except BaseException as e:
        try:
            os.write(3, (json.dumps({'error': '%s: %s' % (type(e).__name__, e)}) + '\n').encode())
        except OSError:
            pass
    os._exit(code)

forks = {}    # C pid -> {'seq', 'g'}
reports = {}  # report fd -> {'seq', 'buf', 'replied'}
by_seq = {}

def on_report_line(r, line):
    try:
        msg = json.loads(line)
    except ValueError:
        return
    if 'pid' in msg and not r['replied']:
        r['replied'] = True
        f = by_seq.get(r['seq'])
        if f is not None:
            f['g'] = int(msg['pid'])
        emit({'seq': r['seq'], 'pid': int(msg['pid'])})
    elif 'error' in msg:
        if not r['replied']:
            r['replied'] = True
            emit({'seq': r['seq'], 'error': str(msg['error'])})
        else:
            emit({'seq': r['seq'], 'log': str(msg['error'])})

def do_fork(cmd):
    seq = int(cmd['seq'])
    rfd, wfd = os.pipe()
    pid = os.fork()
    if pid == 0:
        os.close(rfd)
        child(cmd, wfd)
        os._exit(127)
    os.close(wfd)
    os.set_blocking(rfd, False)
    reports[rfd] = {'seq': seq, 'buf': b'', 'replied': False}
    forks[pid] = {'seq': seq, 'g': None}
    by_seq[seq] = forks[pid]

def reap():
    while True:
        try:
            pid, status = os.waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        f = forks.pop(pid, None)
        if f is None:
            continue
        by_seq.pop(f['seq'], None)
        code = os.waitstatus_to_exitcode(status)
        emit({'seq': f['seq'], 'exit': code})

wake_r, wake_w = os.pipe()
os.set_blocking(wake_w, False)
signal.set_wakeup_fd(wake_w)
signal.signal(signal.SIGCHLD, lambda *_: None)
emit({'ready': True, 'pid': os.getpid(), 'modules': sorted(INIT['preload']), 'drewFigure': DREW})

while True:
    try:
        ready, _, _ = select.select([0, wake_r] + list(reports), [], [])
    except InterruptedError:
        continue
    if wake_r in ready:
        try:
            os.read(wake_r, 4096)
        except BlockingIOError:
            pass
        reap()
    for fd in ready:
        if fd in reports:
            r = reports[fd]
            try:
                data = os.read(fd, 65536)
            except BlockingIOError:
                continue
            if data:
                r['buf'] = (r['buf'] + data)[-65536:]
                while b'\n' in r['buf']:
                    line, r['buf'] = r['buf'].split(b'\n', 1)
                    on_report_line(r, line)
            else:
                if not r['replied']:
                    emit({'seq': r['seq'], 'error': 'the fork exited during set-up'})
                os.close(fd)
                del reports[fd]
    if 0 in ready:
        data = os.read(0, 65536)
        if not data:
            os._exit(0)
        inbuf += data
        while b'\n' in inbuf:
            line, inbuf = inbuf.split(b'\n', 1)
            try:
                cmd = json.loads(line)
                do_fork(cmd)
            except Exception as e:
                emit({'seq': cmd.get('seq', -1) if isinstance(cmd, dict) else -1, 'error': str(e)})
    reap()
`;
