// A spec's prelude: what a pooled kernel imports before it is handed out, so a visitor's first cell
// (a plot, most often) does not pay for it. Run as one silent, history-less execute (no
// execution_count, no In/Out, no `_`), inside exec() with a private globals dict, so the user's
// namespace gains nothing: only sys.modules (and matplotlib's inline backend, Jupyter's default anyway)
// remember it.
import type { JsonObject } from './messages.js';
import type { KernelSpecInfo, PreludeConfig } from './types.js';

const MODULE = /^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$/;

/** The spec's own `metadata.runcell.prelude`, or why it is not a list of module names. */
export function specPrelude(metadata: JsonObject): { modules: string[] | undefined } | { reason: string } {
  const rc = metadata.runcell;
  if (typeof rc !== 'object' || rc === null || Array.isArray(rc) || !('prelude' in rc)) {
    return { modules: undefined };
  }
  const p = (rc as JsonObject).prelude;
  if (!Array.isArray(p) || !p.every((m) => typeof m === 'string' && MODULE.test(m))) {
    return { reason: 'metadata.runcell.prelude must be a list of Python module names' };
  }
  return { modules: p as string[] };
}

/** The modules a spec's kernels import before hand-out. */
export function preludeModules(spec: KernelSpecInfo, cfg: PreludeConfig): string[] {
  const own = specPrelude(spec.metadata);
  if ('modules' in own && own.modules) return own.modules;
  return spec.language.toLowerCase() === 'python' ? cfg.python.filter((m) => MODULE.test(m)) : [];
}

/**
 * The code of the silent warm-up execute: 'pass' without a prelude (a fresh ipykernel's first execute
 * is slower than the rest). Modules that are not installed are skipped. With matplotlib.pyplot, a plain
 * kernel draws one small figure and encodes it as PNG (fonts, the Agg renderer, the inline backend's
 * set-up) and closes it, so nothing is shown. A fork of a zygote that already drew one
 * (`figureDrawn`) creates one axes with a line but does not render it, and renders one character: the
 * whole figure rendered again cost each fork about 115 ms of CPU for a first plot no faster (measured
 * on a 2-core VM: prelude 159 -> 46 ms, a fork's start 336 -> 216 ms of CPU, first plot unchanged);
 * without the axes the first plot was 16-20 ms slower (its first Axes pays for the pages it copies).
 * What does make a fork's first plot faster, a rehearsal of one (rehearsalCode), runs in idle time.
 */
export function preludeCode(
  spec: KernelSpecInfo,
  cfg: PreludeConfig,
  opts: { figureDrawn?: boolean } = {},
): string {
  const modules = preludeModules(spec, cfg);
  if (modules.length === 0 || spec.language.toLowerCase() !== 'python') return 'pass';
  const draw = opts.figureDrawn
    ? [
        '        plt.figure(figsize=(2, 1.5)).add_subplot().plot([0, 1])',
        '        fig = plt.figure(figsize=(0.5, 0.5))',
        "        fig.text(0, 0, 'x')",
      ]
    : [
        '        fig = plt.figure(figsize=(2, 1.5))',
        '        ax = fig.add_subplot()',
        "        ax.plot([0, 1], [0, 1], label='x')",
        "        ax.set_title('x')",
        '        ax.legend()',
      ];
  const body = [
    'import importlib, sys',
    `for m in ${JSON.stringify(modules)}:`,
    '    try:',
    '        importlib.import_module(m)',
    '    except Exception:',
    '        pass',
    "plt = sys.modules.get('matplotlib.pyplot')",
    'if plt is not None:',
    '    try:',
    '        from IPython.core.pylabtools import print_figure',
    ...draw,
    "        print_figure(fig, 'png')",
    '    except Exception:',
    '        pass',
    '    finally:',
    "        plt.close('all')",
  ].join('\n');
  return `exec(compile(${JSON.stringify(body)}, '<runcell-prelude>', 'exec'), {'__name__': '__runcell_prelude__'})`;
}

/**
 * The signal that asks a rehearsing kernel to stop (pool.ts: a request has arrived, so the CPU is
 * theirs). Its default disposition is to ignore it, so one that arrives before or after the rehearsal's
 * own handler is in place changes nothing; a kernel has no terminal, so nothing else sends it.
 */
export const REHEARSAL_YIELD_SIGNAL = 'SIGWINCH';

/**
 * The code of a warm kernel's rehearsal (pool.ts: idle time only), or undefined when the spec's prelude
 * has no matplotlib.pyplot: a first plot as Jupyter shows one, a default-size figure with one line
 * formatted by IPython's display formatter (the inline backend's PNG, `bbox_inches='tight'`), not
 * published, then closed. In a fork of the zygote most of a first plot's cost is pages it copies from
 * the zygote (each write to a shared page faults): the rehearsal copies them before the hand-out, so a
 * visitor's first plot costs what a later one does (measured on a 2-core VM: 1680 -> 890 page faults,
 * 122-170 -> 86-97 ms of CPU; docs/performance.md). Silent and history-less like the prelude.
 *
 * It yields: REHEARSAL_YIELD_SIGNAL, sent once, raises a private exception wherever the rehearsal is
 * (its handler puts the old one back first); the rehearsal catches it itself (no traceback is
 * formatted), and every figure is closed and the old handler is back in place whether it ran to the
 * end, yielded or failed.
 */
export function rehearsalCode(spec: KernelSpecInfo, cfg: PreludeConfig): string | undefined {
  if (spec.language.toLowerCase() !== 'python' || !preludeModules(spec, cfg).includes('matplotlib.pyplot'))
    return undefined;
  const body = [
    'import signal, sys',
    "plt = sys.modules.get('matplotlib.pyplot')",
    'class Yield(BaseException):',
    '    pass',
    `sig = signal.${REHEARSAL_YIELD_SIGNAL}`,
    'old = signal.getsignal(sig)',
    'if old is None:',
    '    old = signal.SIG_DFL',
    'def yield_(*_):',
    '    signal.signal(sig, old)',
    '    raise Yield()',
    'try:',
    '    try:',
    '        signal.signal(sig, yield_)',
    '        if plt is not None:',
    '            fig = plt.figure()',
    '            fig.add_subplot().plot([1, 3, 2])',
    '            from IPython import get_ipython',
    '            shell = get_ipython()',
    '            if shell is not None:',
    '                shell.display_formatter.format(fig)',
    '            else:',
    '                from IPython.core.pylabtools import print_figure',
    "                print_figure(fig, 'png', bbox_inches='tight')",
    '    except Exception:',
    '        pass',
    '    finally:',
    '        signal.signal(sig, old)',
    'except Yield:',
    '    pass',
    'if plt is not None:',
    "    plt.close('all')",
  ].join('\n');
  return `exec(compile(${JSON.stringify(body)}, '<runcell-rehearsal>', 'exec'), {'__name__': '__runcell_prelude__'})`;
}
