// The kernel start-up hooks that explain the sandbox (docs/SECURITY.md "Start-up hooks"). They ship
// with runcell, are written once per sandbox under the runtime root (root-owned, read-only to kernels)
// and bound read-only as /etc/ipython/ipython_kernel_config.py, which IPython reads from its system
// config dir whatever the environment (a venv's, a conda prefix's). R has none: IRkernel's evaluate
// catches every condition before a global handler could add a line (R's own message names the host).
// They only add a line: a network error's traceback ends with a note that kernels have no network,
// and `%pip install` / `!pip install` say where packages come from (`%pip list` still lists them).
import { chmod, mkdir, rename, writeFile } from 'node:fs/promises';

/** Where the hooks are inside the sandbox. */
export const HOOKS_INSIDE = '/run/runcell';
export const IPYTHON_CONFIG_INSIDE = '/etc/ipython/ipython_kernel_config.py';

export const NETWORK_NOTE = 'runcell: this kernel has no network access (the sandbox allows none).';
export const PIP_NOTE =
  "runcell: kernels cannot install packages; they come from the server's environments. " +
  '`%pip list` shows what this one has (and the "Packages" button beside the cell).';

// Loaded by traitlets as IPython's config: registers the hook module without touching sys.path, and
// loads it as an extension once the shell exists.
const IPYTHON_CONFIG = `# runcell: loads the sandbox notes (${HOOKS_INSIDE}/runcell_notes.py) into every IPython kernel.
import importlib.util as _u, sys as _s
_spec = _u.spec_from_file_location('runcell_notes', '${HOOKS_INSIDE}/runcell_notes.py')
_m = _u.module_from_spec(_spec)
_spec.loader.exec_module(_m)
_s.modules['runcell_notes'] = _m
c.InteractiveShellApp.extensions = list(c.InteractiveShellApp.get('extensions', [])) + ['runcell_notes']
del _u, _s, _spec, _m
`;

const PYTHON_NOTES = `"""runcell's sandbox notes for IPython kernels (see runcell's docs/SECURITY.md).

A network error's traceback gets one more line saying kernels have no network; \`%pip install\` and
\`!pip install\` say where packages come from. Nothing else changes.
"""
import errno
import re
import socket

NETWORK_NOTE = ${JSON.stringify(NETWORK_NOTE)}
PIP_NOTE = ${JSON.stringify(PIP_NOTE)}
_NO_ROUTE = {errno.ENETUNREACH, errno.EHOSTUNREACH, errno.ENETDOWN, errno.EADDRNOTAVAIL}
_LOOPBACK = re.compile(r"^(localhost|127\\.[0-9.]+|::1|0\\.0\\.0\\.0)$")
_PIP = re.compile(r"^\\s*(?:\\S*/)?(?:pip3?(?:\\.\\d+)?|python3?(?:\\.\\d+)? -m pip)\\s+(\\S+)")


def _address_in(tb):
    """The host the failing code connected to, when a frame of the traceback shows it."""
    found = None
    while tb is not None:
        for name in ("address", "sa", "addr"):
            v = tb.tb_frame.f_locals.get(name)
            if isinstance(v, tuple) and v and isinstance(v[0], str):
                found = v[0]
        tb = tb.tb_next
    return found


def _is_network(exc, depth=0):
    if exc is None or depth > 8:
        return False
    if isinstance(exc, socket.gaierror):
        return True
    if isinstance(exc, OSError) and exc.errno in _NO_ROUTE:
        return True
    if isinstance(exc, ConnectionRefusedError):
        host = _address_in(exc.__traceback__)
        return host is not None and not _LOOPBACK.match(host)
    for inner in (getattr(exc, "reason", None), exc.__cause__, exc.__context__,
                  *[a for a in getattr(exc, "args", ()) if isinstance(a, BaseException)]):
        if isinstance(inner, BaseException) and inner is not exc and _is_network(inner, depth + 1):
            return True
    return False


def _network_tb(shell, etype, value, tb, tb_offset=None):
    # What InteractiveShell.showtraceback does, plus the note; the handler shows it itself.
    shell._get_exc_info((etype, value, tb))
    if hasattr(value, "_render_traceback_"):
        stb = value._render_traceback_()
    else:
        stb = shell.InteractiveTB.structured_traceback(etype, value, tb, tb_offset=tb_offset)
    if _is_network(value):
        stb = list(stb) + [NETWORK_NOTE]
    shell._showtraceback(etype, value, stb)


def _pip_list():
    from importlib import metadata
    seen = {}
    for d in metadata.distributions():
        name = d.metadata["Name"]
        if name and name.lower() not in seen:
            seen[name.lower()] = (name, d.version)
    rows = sorted(seen.values(), key=lambda r: r[0].lower())
    width = max([len(n) for n, _ in rows] + [7])
    print("Package".ljust(width), "Version")
    print("-" * width, "-" * 7)
    for n, v in rows:
        print(n.ljust(width), v)


def _pip(line):
    words = line.split()
    if words and words[0] in ("list", "freeze"):
        _pip_list()
    else:
        print(PIP_NOTE)


def load_ipython_extension(ip):
    ip.set_custom_exc((OSError,), _network_tb)
    ip.register_magic_function(_pip, "line", "pip")
    system = ip.system

    def _system(cmd):
        m = _PIP.match(cmd)
        if m and m.group(1) in ("install", "download", "uninstall"):
            print(PIP_NOTE)
        elif m and m.group(1) in ("list", "freeze"):
            _pip_list()
        else:
            return system(cmd)

    ip.system = _system
`;

/** The hook files, by name under HOOKS_INSIDE. */
export const HOOK_FILES: Readonly<Record<string, string>> = {
  'ipython_kernel_config.py': IPYTHON_CONFIG,
  'runcell_notes.py': PYTHON_NOTES,
};

/** Writes the hooks to `${runtimeRoot}/hooks` (root-owned, world-readable); returns that dir. */
export async function installHooks(runtimeRoot: string): Promise<string> {
  const dir = `${runtimeRoot}/hooks`;
  await mkdir(dir, { recursive: true, mode: 0o755 });
  await chmod(dir, 0o755);
  for (const [name, text] of Object.entries(HOOK_FILES)) {
    const tmp = `${dir}/.${name}.${process.pid}`;
    await writeFile(tmp, text, { mode: 0o644 });
    await rename(tmp, `${dir}/${name}`);
  }
  return dir;
}
