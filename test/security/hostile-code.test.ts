// Hostile programs, each in a real sandboxed kernel reached only through the public API (REST and the
// kernel websocket). For every attack: the attacker gets a clear error or a killed kernel with the
// reason, nothing outside its sandbox changes, no process of its uid survives the kernel, the server
// stays up, and a victim kernel keeps answering `1+1` over its websocket during the attack. The victim's
// round trips (quiet and during, and their ratio) are recorded in test-output/security-rtt.jsonl, not
// asserted: timings belong in bench/ (docs/performance.md quotes them).
import { existsSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { executeMsg, type Msg } from '../server/helpers.js';
import {
  api,
  healthy,
  type Json,
  processesOf,
  record,
  startSecurityServer,
  Tenant,
  type TestServer,
} from './helpers.js';

const SLOT = 50;
const MiB = 2 ** 20;
const MARKER = `rc-sec-marker-${process.pid}`;
const CANARY = `/tmp/rc-sec-canary-${process.pid}`;
let s: TestServer;
let victim: Tenant;
let victimKey: string;

beforeAll(async () => {
  process.env.RUNCELL_SECURITY_MARKER = MARKER;
  mkdirSync(CANARY, { recursive: true });
  writeFileSync(`${CANARY}/keep`, 'keep');
  s = await startSecurityServer(SLOT, {
    poolSize: 2,
    maxKernels: 6,
    executionTimeoutMs: 3_000,
    kernelMessageBytes: 8 * MiB,
    executionOutputBytes: 16 * MiB,
    sandboxMemoryBytes: 256 * MiB,
  });
  victim = await Tenant.open(s);
  victimKey = JSON.parse((await victim.client.run('print(open("/run/conn/kernel.json").read())')).stdout).key;
  expect(victimKey).toMatch(/^[0-9a-f-]{32,}$/);
  await victim.rtt(5); // warm up
});

afterAll(async () => {
  await victim?.destroy();
  await s?.stop();
  rmSync(CANARY, { recursive: true, force: true });
});

interface Outcome {
  t: Tenant;
  /** The execute_reply, when the kernel survived to send one. */
  reply?: Msg;
  stdout: string;
  stderr: string;
  /** `content.reason` of the iopub status `dead` the server sent, when the kernel was killed. */
  dead?: string;
  messages: Msg[];
  ms: number;
}

/**
 * Opens an attacker kernel, runs `code` in it without waiting, measures the victim during the attack,
 * then waits for the attack to end (reply and idle, or the kernel's death) and checks the server.
 */
async function attack(
  name: string,
  code: string,
  opts: { settleMs?: number; timeoutMs?: number; after?: (t: Tenant) => Promise<void> } = {},
): Promise<Outcome> {
  const t = await Tenant.open(s);
  expect(processesOf(t.uid).length).toBeGreaterThan(0);
  // The quiet value is measured once the pool has refilled behind the attacker (a kernel starting
  // is not quiet), so the ratio compares the attack against a truly idle machine.
  await settled(s);
  const quiet = await victim.rtt(7);
  const m = executeMsg(code, t.client.session);
  const from = t.client.messages.length;
  const t0 = Date.now();
  const cpu0 = process.cpuUsage();
  t.client.send(m);
  await new Promise((r) => setTimeout(r, opts.settleMs ?? 300));
  const during = await victim.rtt(11);
  await opts.after?.(t);
  const mine = (x: Msg) => x.parent_header?.msg_id === m.header.msg_id;
  const end = await t.client
    .next(
      (x) =>
        (x.header.msg_type === 'status' && x.content.execution_state === 'dead') ||
        (mine(x) && x.header.msg_type === 'status' && x.content.execution_state === 'idle'),
      opts.timeoutMs ?? 30_000,
      from,
    )
    .catch(() => undefined);
  // The reply (shell) and the idle (iopub) are not ordered: have both before judging the outcome.
  if (end && end.content.execution_state !== 'dead') {
    await t.client
      .next((x) => mine(x) && x.header.msg_type === 'execute_reply', 10_000, from)
      .catch(() => undefined);
  }
  const ms = Date.now() - t0;
  const cpu = process.cpuUsage(cpu0);
  const serverCpu = Math.round((cpu.user + cpu.system) / 1000);
  const all = t.client.messages.slice(from);
  const text = (n: string) =>
    all
      .filter((x) => x.header.msg_type === 'stream' && x.content.name === n)
      .map((x) => x.content.text)
      .join('');
  const dead = all.find((x) => x.header.msg_type === 'status' && x.content.execution_state === 'dead');
  const ratio = during / quiet;
  record('rtt', {
    attack: name,
    quietMs: +quiet.toFixed(2),
    duringMs: +during.toFixed(2),
    ratio: +ratio.toFixed(2),
    outcomeMs: ms,
    serverCpuMs: serverCpu,
    dead: dead?.content.reason,
  });
  expect(
    end,
    `${name}: the attack neither finished nor was stopped; last: ${JSON.stringify(all.slice(-4).map((x) => [x.channel, x.header.msg_type, x.content.execution_state ?? x.content.status ?? String(x.content.text).slice(0, 80)]))}; kernel ${JSON.stringify(await t.model())}`,
  ).toBeDefined();
  await healthy(s);
  return {
    t,
    reply: all.find((x) => mine(x) && x.header.msg_type === 'execute_reply'),
    stdout: text('stdout'),
    stderr: text('stderr'),
    dead: dead?.content.reason,
    messages: all,
    ms,
  };
}

async function settled(server: TestServer): Promise<void> {
  const deadline = Date.now() + 20_000;
  const busy = () => server.manager.stats().starting > 0 || server.manager.stats().refillPending;
  while (busy() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 25));
  expect(busy(), 'the pool refilled behind the attacker').toBe(false);
}

const lastJson = (out: string): Json => JSON.parse(out.trim().split('\n').at(-1) ?? 'null');

describe('hostile code through the public API', () => {
  it('fork bomb of spinning processes: stopped at the process limit, all reaped', async () => {
    const o = await attack(
      'fork bomb',
      `import os, time
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
      { settleMs: 1_000 },
    );
    if (o.dead) {
      // On a saturated host the spinning children can starve the kernel's own heartbeat thread, or the
      // cell outlives the 3 s wall limit: the kernel is then killed with that reason, also contained.
      expect(o.dead).toMatch(/heartbeat|process limit|execution time limit/);
    } else {
      expect(o.stdout).toMatch(/fork failed after \d+ Resource temporarily unavailable/);
      expect(Number(/after (\d+)/.exec(o.stdout)?.[1])).toBeLessThan(130);
      // Either the cell reaped its children itself, or (slow host) the wall limit interrupted it first
      // and said so; in both cases the children are gone (checked by destroy below and the suite's sweep).
      if (!o.stdout.includes('reaped')) expect(o.stderr).toMatch(/execution time limit/);
    }
    await o.t.destroy();
  });

  it('memory bomb: MemoryError or a kernel killed at the memory limit, with the reason', async () => {
    const o = await attack('memory bomb', 'blocks = []\nwhile True:\n    blocks.append(b"x" * (16 * 2**20))');
    if (o.dead) {
      expect(o.dead).toMatch(/memory limit of 256 MiB reached/);
      expect((await o.t.model()).execution_state).toBe('dead');
    } else expect(o.reply?.content.ename).toBe('MemoryError');
    await o.t.destroy();
  });

  it('CPU spin: interrupted through the API, the kernel lives on', async () => {
    const o = await attack('cpu spin (interrupted)', 'print("spinning", flush=True)\nwhile True:\n    pass', {
      after: async (t) => {
        // Once the code runs (its first output): a SIGINT that lands before it starts is lost.
        await t.client.next((x) => x.header.msg_type === 'stream', 10_000, 0);
        expect((await api(s, 'POST', `/api/kernels/${t.id}/interrupt`)).status).toBe(204);
      },
    });
    expect(o.reply?.content.ename).toBe('KeyboardInterrupt');
    expect((await o.t.client.run('print("alive")')).stdout).toBe('alive\n');
    await o.t.destroy();
  });

  it('CPU spin ignoring SIGINT: killed at the wall limit, with the reason', async () => {
    const o = await attack(
      'cpu spin ignoring SIGINT',
      'import signal\nsignal.signal(signal.SIGINT, signal.SIG_IGN)\nwhile True:\n    pass',
      { settleMs: 500 },
    );
    expect(o.dead).toMatch(/execution time limit of 3 s reached; the kernel ignored the interrupt/);
    expect(o.stderr).toMatch(/execution time limit/);
    expect(processesOf(o.t.uid)).toEqual([]);
    await o.t.destroy();
  });

  it('disk fill of /tmp, home and /dev/shm: ENOSPC at the sandbox caps, nothing on the host', async () => {
    const o = await attack(
      'disk fill',
      `import os, json
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
    open(f"{d}/${MARKER}", "w").write("x")
    for i in range(n + 1):
        try: os.remove(f"{d}/fill{i}")
        except OSError: pass
print(json.dumps(res))`,
    );
    const r = lastJson(o.stdout);
    expect(r['/tmp']).toEqual([28, expect.any(Number)]);
    expect(r['/home/kernel']).toEqual([28, expect.any(Number)]);
    expect(r['/dev/shm']).toEqual([28, expect.any(Number)]);
    expect(r['/tmp'][1]).toBeLessThanOrEqual(64);
    expect(r['/dev/shm'][1]).toBeLessThanOrEqual(16);
    for (const d of ['/tmp', '/dev/shm', '/home', '/root', process.cwd()])
      expect(existsSync(`${d}/${MARKER}`)).toBe(false);
    await o.t.destroy();
  });

  it('one huge line of output: the kernel is stopped at the message cap with the reason', async () => {
    const o = await attack(
      'huge line',
      'import sys\nsys.stdout.write("x" * (24 * 2**20))\nsys.stdout.flush()',
    );
    expect(o.dead ?? o.stderr).toMatch(/exceeded the 8 MiB limit|output limit of 16 MiB/);
    expect(o.stdout.length).toBeLessThan(16 * MiB);
    await o.t.destroy();
  });

  it('a flood of small messages: dropped over the rate with a notice', async () => {
    const o = await attack(
      'message flood',
      'import time\nt = time.time()\nn = 0\nwhile time.time() - t < 3:\n    print(n, flush=True)\n    n += 1\nprint("sent", n, flush=True)',
      { settleMs: 500 },
    );
    expect(o.stderr).toMatch(/\[runcell\] Output message rate/);
    // At most the configured rate (1000/s, Jupyter Server's default) over the 3 s window gets through.
    const got = o.messages.filter(
      (m) => m.header.msg_type === 'stream' && m.content.name === 'stdout',
    ).length;
    expect(got).toBeLessThanOrEqual(3_100);
    await o.t.destroy();
  });

  it('writing straight to fd 1 and 2: bounded on the server, the kernel goes on', async () => {
    const rss0 = process.memoryUsage().rss;
    const o = await attack(
      'fd 1 and 2',
      'import os\nfor fd in (1, 2):\n    for i in range(64):\n        os.write(fd, b"y" * 2**20)\nprint("wrote")',
      { settleMs: 200 },
    );
    // ipykernel captures fds 1 and 2 into stream messages: the output caps apply.
    expect(o.stdout === 'wrote\n' || /exceeded the 8 MiB limit|output limit/.test(o.dead ?? '')).toBe(true);
    expect(process.memoryUsage().rss - rss0).toBeLessThan(64 * MiB);
    await o.t.destroy();
  });

  it('network: no Postgres over TCP, UDP or its socket, no DNS, no metadata, no vsock or netlink', async () => {
    const o = await attack(
      'network',
      `import socket, json
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
    );
    const r = lastJson(o.stdout);
    expect(r).toEqual({
      tcp_pg: 111,
      tcp6_pg: expect.toSatisfy((v: unknown) => v === 111 || v === 99 || v === 101),
      udp_pg: expect.toSatisfy((v: unknown) => v === 111 || v === 'timeout'),
      unix_pg: 2,
      dns: expect.toSatisfy((v: unknown) => typeof v === 'number' && v < 0),
      metadata: 101,
      metadata_udp: 101,
      internet: 101,
      vsock: 97,
      netlink_audit: 97,
      netlink_uevent: 97,
      raw: 1,
      packet: expect.toSatisfy((v: unknown) => v === 1 || v === 97),
    });
    await o.t.destroy();
  });

  it("reads: no /etc/shadow, server source, config, env, database, other kernels' keys or processes", async () => {
    const cwd = process.cwd();
    const paths = [
      '/etc/shadow',
      `${cwd}/server/config.ts`,
      `${cwd}/package.json`,
      '/root',
      '/var/lib/postgresql',
      '/run/postgresql',
      s.config.sandboxRuntimeRoot,
      `${s.config.sandboxRuntimeRoot}/${victim.uid}`,
    ];
    const o = await attack(
      'reads',
      `import os, json, glob
paths = ${JSON.stringify(paths)}
r = {"exists": {p: os.path.exists(p) for p in paths}}
pids = sorted(int(p) for p in os.listdir("/proc") if p.isdigit())
def uid(p):
    return int([l.split()[1] for l in open(f"/proc/{p}/status") if l.startswith("Uid:")][0])
r["uids"] = sorted(set(uid(p) for p in pids))
env = "".join(open(f"/proc/{p}/environ", errors="replace").read() for p in pids) + json.dumps(dict(os.environ))
r["marker"] = ${JSON.stringify(MARKER)} in env
# The key in two halves: the code itself, kept in IPython's history file, must not contain it.
needle = ${JSON.stringify(victimKey.slice(0, 16))} + ${JSON.stringify(victimKey.slice(16))}
found = []
for root in ["/run", "/tmp", "/home", "/dev/shm", "/etc", "/var"]:
    for d, _, files in os.walk(root):
        for f in files:
            try:
                if needle in open(os.path.join(d, f), errors="replace").read(2**20): found.append(os.path.join(d, f))
            except OSError:
                pass
r["victim_key"] = found
r["own_key"] = os.path.exists("/run/conn/kernel.json")
r["run"] = sorted(os.listdir("/run"))
print(json.dumps(r))`,
    );
    const r = lastJson(o.stdout);
    expect(r.exists).toEqual(Object.fromEntries(paths.map((p) => [p, false])));
    expect(r.uids).toEqual([o.t.uid]);
    expect(r.marker).toBe(false);
    expect(r.victim_key).toEqual([]);
    expect(r.own_key).toBe(true);
    expect(r.run.join(' ')).not.toContain(String(victim.uid));
    await o.t.destroy();
  });

  it('writes outside the sandbox fail and change nothing on the host', async () => {
    const cwd = process.cwd();
    const targets = [
      '/etc/rc-pwn',
      '/usr/rc-pwn',
      '/rc-pwn',
      '/run/rc-pwn',
      '/var/rc-pwn',
      `${cwd}/rc-pwn`,
      '/proc/sys/kernel/hostname',
      '/sys/kernel/rc-pwn',
      '/run/kernel/../rc-pwn2',
    ];
    const o = await attack(
      'writes',
      `import json
r = {}
for p in ${JSON.stringify(targets)}:
    try:
        open(p, "w").write("pwn"); r[p] = "OK"
    except OSError as e:
        r[p] = e.errno
print(json.dumps(r))`,
    );
    const r = lastJson(o.stdout);
    for (const p of targets) expect([2, 13, 30]).toContain(r[p]);
    for (const p of ['/etc/rc-pwn', '/usr/rc-pwn', '/rc-pwn', '/run/rc-pwn', '/var/rc-pwn', `${cwd}/rc-pwn`])
      expect(existsSync(p)).toBe(false);
    await o.t.destroy();
  });

  it('symlinks planted in the work and runtime dirs are never followed by the server (restart, shutdown)', async () => {
    const o = await attack(
      'symlinks',
      `import os
for d in [os.path.expanduser("~"), "/tmp", "/run/kernel"]:
    for name, target in [("evil-dir", ${JSON.stringify(CANARY)}), ("evil-file", ${JSON.stringify(`${CANARY}/keep`)}), ("evil-etc", "/etc"), ("evil-root", "/")]:
        os.symlink(target, f"{d}/{name}")
# and the kernel's own socket files, which the server connects to
for f in os.listdir("/run/kernel"):
    if f.startswith("kernel-"):
        try:
            os.rename(f"/run/kernel/{f}", f"/run/kernel/{f}.moved")
            os.symlink(${JSON.stringify(`${CANARY}/keep`)}, f"/run/kernel/{f}")
        except OSError as e:
            print("sock", f, e.errno)
print("planted")`,
    );
    expect(o.stdout).toContain('planted');
    const restart = await api(s, 'POST', `/api/kernels/${o.t.id}/restart`);
    expect([200, 409, 500]).toContain(restart.status);
    expect(restart.body.code ?? 'ok').not.toBe('RUNCELL_ERR_INTERNAL');
    await o.t.destroy();
    expect(readFileSync(`${CANARY}/keep`, 'utf8')).toBe('keep');
    expect(existsSync('/etc/passwd')).toBe(true);
    expect(existsSync(`${s.config.sandboxRuntimeRoot}/${o.t.uid}`)).toBe(false);
  });

  it('signals reach only its own processes, never the server or other kernels', async () => {
    const hostPids = [process.pid, 1, ...processesOf(victim.uid).map((l) => Number(l.split(' ')[0]))];
    const o = await attack(
      'signals',
      `import os, signal, json
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
print(json.dumps({"mine": mine, "hits": sorted(set(hits))}))`,
    );
    // kill(-1) may take the kernel itself down with its helpers; either way only its own processes.
    if (!o.dead) {
      const r = lastJson(o.stdout);
      expect(r.hits.every((p: number) => r.mine.includes(p))).toBe(true);
    }
    expect(processesOf(victim.uid).length).toBeGreaterThan(0);
    expect((await victim.client.run('print("victim ok")')).stdout).toBe('victim ok\n');
    await o.t.destroy();
  });

  it('ptrace, process_vm_readv and /proc/<pid>/mem are denied', async () => {
    const o = await attack(
      'ptrace',
      `import ctypes, json, os
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
    );
    const r = lastJson(o.stdout);
    expect(r.attach_init).toEqual([-1, 1]);
    expect(r.attach_self).toEqual([-1, 1]);
    expect(r.vm_readv).toEqual([-1, 1]);
    expect([1, 5, 13]).toContain(r.mem);
    await o.t.destroy();
  });

  it('a setsid double-forked daemon does not outlive its kernel', async () => {
    const o = await attack(
      'setsid daemon',
      `import os, time, signal
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
    );
    expect(o.stdout).toContain('daemonized');
    expect(processesOf(o.t.uid).length).toBeGreaterThanOrEqual(3);
    await o.t.destroy(); // checks that no process of the uid is left
  });

  it('exhausting file descriptors: EMFILE at the limit, the kernel recovers', async () => {
    const o = await attack(
      'fd exhaustion',
      `import os, socket
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
    );
    expect(o.stdout).toMatch(/open failed after \d+ 24/);
    expect(Number(/after (\d+)/.exec(o.stdout)?.[1])).toBeLessThan(1024);
    expect((await o.t.client.run('print("alive")')).stdout).toBe('alive\n');
    await o.t.destroy();
  });

  it('SIGSTOP of itself: killed for missing its heartbeat, with the reason', async () => {
    const o = await attack('SIGSTOP self', 'import os, signal\nos.kill(os.getpid(), signal.SIGSTOP)', {
      timeoutMs: 15_000,
    });
    expect(o.dead).toMatch(/heartbeat/);
    await o.t.destroy();
  });

  it('forged iopub messages with its own key reach only its own clients', async () => {
    const before = (await api(s, 'GET', '/api/kernels')).body.length;
    const vmsgs = victim.client.messages;
    const vreq = vmsgs.findLast((m) => m.header.msg_type === 'execute_reply')?.parent_header;
    const vserver = vmsgs.findLast((m) => m.channel === 'iopub')?.header;
    const victimFrom = vmsgs.length;
    const o = await attack(
      'forged iopub',
      `import json
k = get_ipython().kernel
s = k.session
parents = [${JSON.stringify(vreq)}, ${JSON.stringify(vserver)}, {}]
for p in parents:
    for st in ["dead", "starting", "restarting", "busy"]:
        s.send(k.iopub_socket, "status", {"execution_state": st, "reason": "FORGED"}, parent=p)
    s.send(k.iopub_socket, "stream", {"name": "stdout", "text": "FORGED-STREAM"}, parent=p)
    s.send(k.iopub_socket, "display_data", {"data": {"text/html": "<script>FORGED</script>"}, "metadata": {}}, parent=p)
    s.send(k.iopub_socket, "comm_open", {"comm_id": "x", "target_name": "FORGED", "data": {}}, parent=p)
    s.send(k.stdin_socket, "input_request", {"prompt": "FORGED", "password": False}, parent=p)
print("forged")`,
    );
    expect(o.stdout).toContain('forged');
    // Not even the attacker's own clients are told of a death or restart the kernel made up.
    expect(o.dead).toBeUndefined();
    expect(
      o.messages.filter(
        (m) =>
          m.header.msg_type === 'status' && !['busy', 'idle', 'starting'].includes(m.content.execution_state),
      ),
    ).toEqual([]);
    expect((await o.t.model()).execution_state).toBe('idle');
    const seen = JSON.stringify(victim.client.messages.slice(victimFrom));
    expect(seen).not.toContain('FORGED');
    expect((await victim.model()).execution_state).toBe('idle');
    expect((await api(s, 'GET', '/api/kernels')).body.length).toBe(before + 1);
    expect((await victim.client.run('print("victim ok")')).stdout).toBe('victim ok\n');
    await o.t.destroy();
  });

  it('a segfault kills only that kernel, and its clients are told why', async () => {
    const o = await attack('segfault', 'import ctypes\nctypes.string_at(0)');
    expect(o.dead).toBeDefined();
    expect(o.dead).toMatch(/SIGSEGV|signal|exit|died/i);
    expect((await o.t.model()).execution_state).toBe('dead');
    await o.t.destroy();
  });
});
