// The hostile programs of test/security/hostile-code.test.ts (copied: benches do not import test files),
// each with a judge of its outcome for the soak run (bench/soak.ts). An attacker's own kernel dying is the
// expected end of many of them; what is checked is that it ends contained and the attacker is told
// plainly why (a reason on the dead status, an error, ENOSPC/EPERM…). A judge returns undefined when
// the outcome is the expected one, else what was unexpected.
import { existsSync, readFileSync } from 'node:fs';
import type { Answer, Header, KernelSocket, Run } from './soak-clients.js';

export interface AttackContext {
  id: string;
  uid: number;
  sock: KernelSocket;
  /** The public API as the attacker (anonymous, same origin). */
  api(method: string, path: string, body?: unknown): Promise<Answer>;
  /** Processes of the attacker's uid on the host. */
  processes(): number;
  serverPid: number;
  /** The server's working directory (the repository). */
  cwd: string;
  runtimeRoot: string;
  /** A value in the server's environment that no kernel may see. */
  marker: string;
  /** The API token the server was started with (in its environment). */
  token: string;
  /** A host directory with a file `keep` that must survive symlink tricks. */
  canary: string;
  /** Headers a forging attacker would aim at: another user's last request and iopub message. */
  victim(): { request?: Header; iopub?: Header };
  /** FORGED frames seen so far by every other client of the soak, and that count when the attack began. */
  forgedSeen(): number;
  forgedAtStart: number;
}

export interface Attack {
  name: string;
  code(c: AttackContext): string;
  /** Run while the attack is in flight, after `settleMs`. */
  during?(c: AttackContext): Promise<string | undefined>;
  settleMs?: number;
  timeoutMs?: number;
  judge(o: Run, c: AttackContext): Promise<string | undefined> | string | undefined;
  /** Checks once the kernel has been deleted. */
  afterDelete?(c: AttackContext): string | undefined;
}

const lastJson = (out: string): Record<string, unknown> | undefined => {
  try {
    return JSON.parse(out.trim().split('\n').at(-1) ?? 'null') ?? undefined;
  } catch {
    return undefined;
  }
};
const same = (a: unknown, b: unknown) => JSON.stringify(a) === JSON.stringify(b);
const show = (o: Run) =>
  JSON.stringify({
    dead: o.dead,
    reply: o.reply?.status,
    ename: o.reply?.ename,
    stdout: o.stdout.slice(-120),
    stderr: o.stderr.slice(-300),
    timedOut: o.timedOut,
  });

/** A follow-up cell on the attacker's kernel that must work. */
async function alive(c: AttackContext): Promise<string | undefined> {
  const r = await c.sock.run('print("alive")', 20_000);
  return r.stdout === 'alive\n' ? undefined : `the kernel did not recover: ${show(r)}`;
}

export const ATTACKS: Attack[] = [
  {
    name: 'fork bomb',
    settleMs: 1_000,
    code: () => `import os, time
kids = []
try:
    while True:
        pid = os.fork()
        if pid == 0:
            while True:
                pass
        kids.append(pid)
except OSError as e:
    print("fork failed after", len(kids), e.strerror, flush=True)
time.sleep(1)
for k in kids: os.kill(k, 9)
for k in kids: os.waitpid(k, 0)
print("reaped")`,
    judge(o) {
      // Contained either way: the process limit stops the forks (and the cell reaps, or the wall limit
      // interrupts it and says so), or the spinning children starve the kernel and it is killed with
      // that reason.
      if (o.dead) return /heartbeat|process limit|execution time limit/.test(o.dead) ? undefined : show(o);
      const n = Number(/fork failed after (\d+) Resource temporarily unavailable/.exec(o.stdout)?.[1]);
      if (!(n < 130)) return `no fork failure at the process limit: ${show(o)}`;
      if (!o.stdout.includes('reaped') && !/execution time limit/.test(o.stderr)) return show(o);
      return undefined;
    },
  },
  {
    name: 'memory bomb',
    code: () => 'blocks = []\nwhile True:\n    blocks.append(b"x" * (16 * 2**20))',
    judge: (o) =>
      (o.dead && /memory limit of 256 MiB reached/.test(o.dead)) || o.reply?.ename === 'MemoryError'
        ? undefined
        : show(o),
  },
  {
    name: 'cpu spin (interrupted)',
    code: () => 'while True:\n    pass',
    async during(c) {
      const r = await c.api('POST', `/api/kernels/${c.id}/interrupt`);
      return r.status === 204 ? undefined : `interrupt: ${r.status}`;
    },
    async judge(o, c) {
      if (o.reply?.ename !== 'KeyboardInterrupt') return `not interrupted: ${show(o)}`;
      return alive(c);
    },
  },
  {
    name: 'cpu spin ignoring SIGINT',
    settleMs: 500,
    code: () => 'import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass',
    judge(o) {
      if (!o.dead || !/execution time limit of \d+ s reached; the kernel ignored the interrupt/.test(o.dead))
        return show(o);
      if (!/execution time limit/.test(o.stderr)) return `no notice on stderr: ${show(o)}`;
      // The limit + 5 s interrupt grace, plus the kill.
      return o.ms < 20_000 ? undefined : `killed only after ${Math.round(o.ms)} ms`;
    },
  },
  {
    name: 'disk fill',
    code: (c) => `import os, json
res = {}
for d in ["/tmp", os.path.expanduser("~"), "/dev/shm"]:
    n = 0
    try:
        while True:
            with open(f"{d}/fill{n}", "wb") as f:
                f.write(b"\\1" * 2**20)
            n += 1
    except OSError as e:
        res[d] = [e.errno, n]
    open(f"{d}/${c.marker}", "w").write("x")
    for i in range(n + 1):
        try: os.remove(f"{d}/fill{i}")
        except OSError: pass
print(json.dumps(res))`,
    judge(o, c) {
      const r = lastJson(o.stdout) as Record<string, [number, number]> | undefined;
      if (!r) return show(o);
      for (const d of ['/tmp', '/home/kernel', '/dev/shm'])
        if (r[d]?.[0] !== 28) return `${d}: no ENOSPC at the cap: ${JSON.stringify(r)}`;
      if ((r['/tmp']?.[1] ?? 0) > 64 || (r['/dev/shm']?.[1] ?? 0) > 16) return `caps: ${JSON.stringify(r)}`;
      for (const d of ['/tmp', '/dev/shm', '/home', '/root', c.cwd])
        if (existsSync(`${d}/${c.marker}`)) return `a file reached the host: ${d}/${c.marker}`;
      return undefined;
    },
  },
  {
    name: 'huge line',
    code: () => 'import sys\nsys.stdout.write("x" * (24 * 2**20))\nsys.stdout.flush()',
    judge: (o) =>
      /exceeded the 8 MiB limit|output limit of 16 MiB/.test(o.dead ?? o.stderr) &&
      o.stdout.length < 16 * 2 ** 20
        ? undefined
        : show(o),
  },
  {
    name: 'message flood',
    settleMs: 500,
    code: () =>
      'import time\nt = time.time()\nn = 0\nwhile time.time() - t < 3:\n    print(n, flush=True)\n    n += 1\nprint("sent", n, flush=True)',
    judge(o) {
      // On a busy machine the kernel may print under the rate (1000/s over 3 s): then no notice is due.
      const sent = Number(/sent (\d+)/.exec(o.stdout)?.[1] ?? Number.POSITIVE_INFINITY);
      if (sent > 3_300 && !/\[runcell\] Output message rate/.test(o.stderr))
        return `no rate notice: ${show(o)}`;
      // At most the configured rate over the 3 s window gets through, plus status and notices.
      return o.messages <= 3_200 ? undefined : `${o.messages} messages got through`;
    },
  },
  {
    name: 'fd 1 and 2',
    settleMs: 200,
    code: () =>
      'import os\nfor fd in (1, 2):\n    for i in range(64):\n        os.write(fd, b"y" * 2**20)\nprint("wrote")',
    // ipykernel captures fds 1 and 2 into stream messages: the output caps apply (the cell finishes
    // under the rate limit, or is interrupted or killed at the output cap, and says so).
    judge: (o) =>
      o.stdout.endsWith('wrote\n') || /exceeded the 8 MiB limit|output limit/.test(o.dead ?? o.stderr)
        ? undefined
        : show(o),
  },
  {
    name: 'network',
    code: () => `import socket, json
r = {}
def t(name, f):
    try:
        f(); r[name] = "OK"
    except socket.timeout:
        r[name] = "timeout"
    except OSError as e:
        r[name] = e.errno
def udp(host):
    def go():
        s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM); s.settimeout(1)
        s.sendto(b"x", (host, 5432)); s.recvfrom(10)
    return go
def unix():
    s = socket.socket(socket.AF_UNIX); s.connect("/run/postgresql/.s.PGSQL.5432")
t("tcp_pg", lambda: socket.create_connection(("127.0.0.1", 5432), timeout=2))
t("tcp6_pg", lambda: socket.create_connection(("::1", 5432), timeout=2))
t("udp_pg", udp("127.0.0.1"))
t("unix_pg", unix)
t("dns", lambda: socket.getaddrinfo("example.com", 80))
t("metadata", lambda: socket.create_connection(("169.254.169.254", 80), timeout=2))
t("metadata_udp", udp("169.254.169.254"))
t("internet", lambda: socket.create_connection(("1.1.1.1", 443), timeout=2))
t("vsock", lambda: socket.socket(40, socket.SOCK_STREAM))
t("netlink_audit", lambda: socket.socket(16, socket.SOCK_RAW, 9))
t("netlink_uevent", lambda: socket.socket(16, socket.SOCK_DGRAM, 15))
t("raw", lambda: socket.socket(socket.AF_INET, socket.SOCK_RAW, socket.IPPROTO_ICMP))
t("packet", lambda: socket.socket(17, socket.SOCK_RAW, 0))
print(json.dumps(r))`,
    judge(o) {
      const r = lastJson(o.stdout);
      if (!r) return show(o);
      const want: Record<string, (v: unknown) => boolean> = {
        tcp_pg: (v) => v === 111,
        tcp6_pg: (v) => v === 111 || v === 99 || v === 101,
        udp_pg: (v) => v === 111 || v === 'timeout',
        unix_pg: (v) => v === 2,
        dns: (v) => typeof v === 'number' && v < 0,
        metadata: (v) => v === 101,
        metadata_udp: (v) => v === 101,
        internet: (v) => v === 101,
        vsock: (v) => v === 97,
        netlink_audit: (v) => v === 97,
        netlink_uevent: (v) => v === 97,
        raw: (v) => v === 1,
        packet: (v) => v === 1 || v === 97,
      };
      const bad = Object.entries(want).filter(([k, ok]) => !ok(r[k]));
      return bad.length
        ? `reached: ${JSON.stringify(Object.fromEntries(bad.map(([k]) => [k, r[k]])))}`
        : undefined;
    },
  },
  {
    name: 'reads',
    code(c) {
      const paths = [
        '/etc/shadow',
        `${c.cwd}/server/config.ts`,
        `${c.cwd}/package.json`,
        '/root',
        '/var/lib/postgresql',
        '/run/postgresql',
        c.runtimeRoot,
      ];
      const half = c.token.length >> 1;
      // The server's API token (in its environment) in two halves: the code itself, kept in IPython's
      // history file, must not contain it.
      return `import os, json
paths = ${JSON.stringify(paths)}
r = {"exists": [p for p in paths if os.path.exists(p)]}
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
def uid(p):
    return int([l.split()[1] for l in open(f"/proc/{p}/status") if l.startswith("Uid:")][0])
r["uids"] = sorted(set(uid(p) for p in pids))
env = "".join(open(f"/proc/{p}/environ", errors="replace").read() for p in pids) + json.dumps(dict(os.environ))
r["marker"] = ${JSON.stringify(c.marker)} in env
needle = ${JSON.stringify(c.token.slice(0, half))} + ${JSON.stringify(c.token.slice(half))}
found = [] if needle not in env else ["environ"]
for root in ["/run", "/tmp", "/home", "/dev/shm", "/etc", "/var"]:
    for d, _, files in os.walk(root):
        for f in files:
            try:
                if needle in open(os.path.join(d, f), errors="replace").read(2**20): found.append(os.path.join(d, f))
            except OSError:
                pass
r["token"] = found
r["own_key"] = os.path.exists("/run/conn/kernel.json")
print(json.dumps(r))`;
    },
    judge(o, c) {
      const r = lastJson(o.stdout);
      if (!r) return show(o);
      if (!same(r.exists, [])) return `sees ${JSON.stringify(r.exists)}`;
      if (!same(r.uids, [c.uid])) return `sees processes of uids ${JSON.stringify(r.uids)}`;
      if (r.marker !== false) return "sees the server's environment";
      if (!same(r.token, [])) return `finds the API token in ${JSON.stringify(r.token)}`;
      return r.own_key === true ? undefined : 'no connection file of its own';
    },
  },
  {
    name: 'writes',
    code(c) {
      const targets = [
        '/etc/rc-pwn',
        '/usr/rc-pwn',
        '/rc-pwn',
        '/run/rc-pwn',
        '/var/rc-pwn',
        `${c.cwd}/rc-pwn`,
        '/proc/sys/kernel/hostname',
        '/sys/kernel/rc-pwn',
        '/run/kernel/../rc-pwn2',
      ];
      return `import json
r = {}
for p in ${JSON.stringify(targets)}:
    try:
        open(p, "w").write("pwn"); r[p] = "OK"
    except OSError as e:
        r[p] = e.errno
print(json.dumps(r))`;
    },
    judge(o, c) {
      const r = lastJson(o.stdout);
      if (!r) return show(o);
      const bad = Object.entries(r).filter(([, v]) => ![2, 13, 30].includes(v as number));
      if (bad.length || Object.keys(r).length !== 9) return `wrote: ${JSON.stringify(r)}`;
      for (const p of [
        '/etc/rc-pwn',
        '/usr/rc-pwn',
        '/rc-pwn',
        '/run/rc-pwn',
        '/var/rc-pwn',
        `${c.cwd}/rc-pwn`,
      ])
        if (existsSync(p)) return `${p} exists on the host`;
      return undefined;
    },
  },
  {
    name: 'symlinks',
    code: (c) => `import os
for d in [os.path.expanduser("~"), "/tmp", "/run/kernel"]:
    for name, target in [("evil-dir", ${JSON.stringify(c.canary)}), ("evil-file", ${JSON.stringify(`${c.canary}/keep`)}), ("evil-etc", "/etc"), ("evil-root", "/")]:
        os.symlink(target, f"{d}/{name}")
# and the kernel's own socket files, which the server connects to
for f in os.listdir("/run/kernel"):
    if f.startswith("kernel-"):
        try:
            os.rename(f"/run/kernel/{f}", f"/run/kernel/{f}.moved")
            os.symlink(${JSON.stringify(`${c.canary}/keep`)}, f"/run/kernel/{f}")
        except OSError as e:
            print("sock", f, e.errno)
print("planted")`,
    async judge(o, c) {
      if (!o.stdout.includes('planted')) return show(o);
      // The server restarts a kernel whose sockets are now links: it must not follow them.
      const r = await c.api('POST', `/api/kernels/${c.id}/restart`);
      if (![200, 409, 500].includes(r.status) || r.body?.code === 'RUNCELL_ERR_INTERNAL')
        return `restart: ${r.status} ${JSON.stringify(r.body)}`;
      return undefined;
    },
    afterDelete(c) {
      if (readFileSync(`${c.canary}/keep`, 'utf8') !== 'keep') return 'the canary changed';
      if (!existsSync('/etc/passwd')) return '/etc/passwd is gone';
      if (existsSync(`${c.runtimeRoot}/${c.uid}`)) return `${c.runtimeRoot}/${c.uid} was left behind`;
      return undefined;
    },
  },
  {
    name: 'signals',
    code: (c) => {
      const hostPids = [process.pid, 1, c.serverPid];
      return `import os, signal, json
# every task (thread) of its own pid namespace: kill() accepts thread ids too
mine = sorted(int(t) for p in os.listdir("/proc") if p.isdigit() for t in os.listdir(f"/proc/{p}/task"))
hits = []
for pid in list(range(1, 70000)) + ${JSON.stringify(hostPids)}:
    try:
        os.kill(pid, 0); hits.append(pid)
    except OSError:
        pass
for pid in ${JSON.stringify(hostPids)}:
    try: os.kill(pid, signal.SIGKILL)
    except OSError: pass
try: os.kill(-1, signal.SIGKILL)
except OSError: pass
print(json.dumps({"mine": mine, "hits": sorted(set(hits))}))`;
    },
    judge(o, c) {
      try {
        process.kill(c.serverPid, 0);
      } catch {
        return 'the server process is gone';
      }
      // kill(-1) may take the kernel itself down with its helpers; either way only its own processes.
      if (o.dead) return undefined;
      const r = lastJson(o.stdout) as { mine: number[]; hits: number[] } | undefined;
      if (!r) return show(o);
      return r.hits.every((p) => r.mine.includes(p)) ? undefined : `reached pids ${JSON.stringify(r.hits)}`;
    },
  },
  {
    name: 'ptrace',
    code: () => `import ctypes, json, os
libc = ctypes.CDLL(None, use_errno=True)
r = {}
for name, pid in [("init", 1), ("self", os.getpid())]:
    ctypes.set_errno(0); rc = libc.ptrace(16, pid, 0, 0); r["attach_" + name] = [rc, ctypes.get_errno()]
class iovec(ctypes.Structure):
    _fields_ = [("base", ctypes.c_void_p), ("len", ctypes.c_size_t)]
buf = ctypes.create_string_buffer(16)
local = iovec(ctypes.cast(buf, ctypes.c_void_p), 16)
remote = iovec(ctypes.cast(buf, ctypes.c_void_p), 16)
ctypes.set_errno(0)
rc = libc.process_vm_readv(1, ctypes.byref(local), 1, ctypes.byref(remote), 1, 0)
r["vm_readv"] = [rc, ctypes.get_errno()]
try:
    f = open("/proc/1/mem", "rb"); f.seek(0x400000); f.read(8); r["mem"] = "OK"
except OSError as e:
    r["mem"] = e.errno
print(json.dumps(r))`,
    judge(o) {
      const r = lastJson(o.stdout);
      if (!r) return show(o);
      const ok =
        same(r.attach_init, [-1, 1]) &&
        same(r.attach_self, [-1, 1]) &&
        same(r.vm_readv, [-1, 1]) &&
        [1, 5, 13].includes(r.mem as number);
      return ok ? undefined : `not denied: ${JSON.stringify(r)}`;
    },
  },
  {
    name: 'setsid daemon',
    code: () => `import os, time, signal
if os.fork() == 0:
    os.setsid()
    if os.fork() == 0:
        for sig in (signal.SIGTERM, signal.SIGHUP, signal.SIGINT):
            signal.signal(sig, signal.SIG_IGN)
        while True:
            time.sleep(1)
    os._exit(0)
time.sleep(0.5)
print("daemonized")`,
    // The daemon is there; that it does not outlive the kernel is the check after every delete.
    judge: (o, c) =>
      o.stdout.includes('daemonized') && c.processes() >= 3
        ? undefined
        : `${show(o)}, ${c.processes()} processes`,
  },
  {
    name: 'fd exhaustion',
    code: () => `import os, socket
fds = []
try:
    while True:
        fds.append(os.open("/dev/null", os.O_RDONLY))
except OSError as e:
    print("open failed after", len(fds), e.errno)
socks = []
try:
    while True:
        socks.append(socket.socketpair())
except OSError as e:
    print("socketpair failed", e.errno)
for fd in fds: os.close(fd)
for a, b in socks: a.close(); b.close()
print("closed")`,
    async judge(o, c) {
      const n = Number(/open failed after (\d+) 24/.exec(o.stdout)?.[1]);
      if (!(n < 1024)) return `no EMFILE below 1024: ${show(o)}`;
      return alive(c);
    },
  },
  {
    name: 'SIGSTOP self',
    timeoutMs: 15_000,
    code: () => 'import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)',
    judge: (o) =>
      o.dead && /heartbeat/.test(o.dead) && o.ms < 10_000
        ? undefined
        : `${show(o)} after ${Math.round(o.ms)} ms`,
  },
  {
    name: 'forged iopub',
    code(c) {
      const v = c.victim();
      return `import json
k = get_ipython().kernel
s = k.session
parents = [${JSON.stringify(v.request ?? {})}, ${JSON.stringify(v.iopub ?? {})}, {}]
for p in parents:
    for st in ["dead", "starting", "restarting", "busy"]:
        s.send(k.iopub_socket, "status", {"execution_state": st, "reason": "FORGED"}, parent=p)
    s.send(k.iopub_socket, "stream", {"name": "stdout", "text": "FORGED-STREAM"}, parent=p)
    s.send(k.iopub_socket, "display_data", {"data": {"text/html": "<script>FORGED</script>"}, "metadata": {}}, parent=p)
    s.send(k.iopub_socket, "comm_open", {"comm_id": "x", "target_name": "FORGED", "data": {}}, parent=p)
    s.send(k.stdin_socket, "input_request", {"prompt": "FORGED", "password": False}, parent=p)
print("forged")`;
    },
    async judge(o, c) {
      if (!o.stdout.includes('forged')) return show(o);
      // Whatever reached another client has arrived by now.
      await new Promise((r) => setTimeout(r, 500));
      const seen = c.forgedSeen() - c.forgedAtStart;
      return seen === 0 ? undefined : `other clients saw ${seen} forged messages`;
    },
  },
  {
    name: 'segfault',
    code: () => 'import ctypes\nctypes.string_at(0)',
    judge: (o) => (o.dead && /SIGSEGV|signal|exit|died/i.test(o.dead) ? undefined : show(o)),
  },
];
