// A spec's prelude: which code runs before hand-out, and that both variants (a plain kernel's, a
// fork's) run cleanly in Debian's Python, leave no figure open and print nothing.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import {
  preludeCode,
  REHEARSAL_YIELD_SIGNAL,
  rehearsalCode,
  specPrelude,
} from '../../kernel-manager/prelude.js';
import type { KernelSpecInfo } from '../../kernel-manager/types.js';

const run = promisify(execFile);
const spec = (over: Partial<KernelSpecInfo> = {}): KernelSpecInfo => ({
  name: 'python3',
  display_name: 'Python 3',
  language: 'python',
  argv: [],
  env: {},
  interrupt_mode: 'message',
  metadata: {},
  resources: {},
  dir: '/nonexistent',
  binds: [],
  heartbeatWhileBusy: true,
  ...over,
});
const cfg = { python: ['numpy', 'matplotlib.pyplot'] };
/** Runs a check in Debian's Python, matplotlib off-screen. */
const python = (check: string) =>
  run('/usr/bin/python3', ['-c', check], {
    env: { MPLBACKEND: 'Agg', HOME: '/tmp', MPLCONFIGDIR: `/tmp/rct-prelude-${process.pid}` },
  });

describe('preludeCode', () => {
  it('renders a whole figure in a plain kernel; a fork of a zygote that drew makes an axes and renders one character', () => {
    const plain = preludeCode(spec(), cfg);
    const forked = preludeCode(spec(), cfg, { figureDrawn: true });
    expect(plain).toContain('ax.legend()');
    expect(forked).not.toContain('legend');
    expect(forked).toContain('add_subplot().plot([0, 1])');
    expect(forked).toContain("fig.text(0, 0, 'x')");
    for (const code of [plain, forked]) {
      expect(code).toContain('print_figure');
      expect(code).toMatch(
        /^exec\(compile\(.*'<runcell-prelude>', 'exec'\), \{'__name__': '__runcell_prelude__'\}\)$/s,
      );
    }
  });

  it("is 'pass' without modules, for other languages, and follows the spec's own list", () => {
    expect(preludeCode(spec(), { python: [] })).toBe('pass');
    expect(preludeCode(spec({ language: 'R' }), cfg)).toBe('pass');
    expect(preludeCode(spec({ metadata: { runcell: { prelude: [] } } }), cfg)).toBe('pass');
    const own = preludeCode(spec({ metadata: { runcell: { prelude: ['json'] } } }), cfg);
    expect(own).toContain('[\\"json\\"]');
    expect(specPrelude({ runcell: { prelude: ['os;rm'] } })).toHaveProperty('reason');
  });

  it('runs cleanly in Python either way: nothing printed, no figure left open, the globals untouched', async () => {
    for (const figureDrawn of [false, true]) {
      const code = preludeCode(
        spec(),
        { python: ['numpy', 'matplotlib.pyplot', 'no_such_module_x'] },
        { figureDrawn },
      );
      const check = [
        'before = set(globals())',
        code,
        'import matplotlib.pyplot as plt, sys',
        "sys.stderr.write(repr((sorted(set(globals()) - before - {'before'}), plt.get_fignums())))",
      ].join('\n');
      const { stdout, stderr } = await python(check);
      expect(stdout).toBe('');
      // Only the names this check imports itself appear; no figure is left open.
      expect(stderr).toBe("(['plt', 'sys'], [])");
    }
  });
});

describe('rehearsalCode', () => {
  it('rehearses a first plot only where the prelude has matplotlib.pyplot, in Python', () => {
    expect(rehearsalCode(spec(), cfg)).toContain("'<runcell-rehearsal>'");
    expect(rehearsalCode(spec(), { python: ['numpy'] })).toBeUndefined();
    expect(rehearsalCode(spec({ language: 'R' }), cfg)).toBeUndefined();
    expect(rehearsalCode(spec({ metadata: { runcell: { prelude: [] } } }), cfg)).toBeUndefined();
  });

  it('draws and encodes a figure, then leaves nothing: no output, no figure open, the globals untouched', async () => {
    const code = rehearsalCode(spec(), cfg) as string;
    const check = [
      'import matplotlib.pyplot as plt, sys, io',
      'from IPython.core import pylabtools',
      'drawn = []',
      'real = pylabtools.print_figure',
      'pylabtools.print_figure = lambda *a, **k: drawn.append(len(real(*a, **k)))',
      "before = set(globals()) | {'before'}",
      code,
      'sys.stderr.write(repr((sorted(set(globals()) - before), plt.get_fignums(), len(drawn), drawn[0] > 1000)))',
    ].join('\n');
    const { stdout, stderr } = await python(check);
    expect(stdout).toBe('');
    // One PNG encoded (outside IPython: print_figure, tight as the inline backend's), none left open.
    expect(stderr).toBe('([], [], 1, True)');
  });

  it('yields to REHEARSAL_YIELD_SIGNAL wherever it lands, and leaves nothing either way', async () => {
    const code = rehearsalCode(spec(), cfg) as string;
    // The signal is sent at each line the rehearsal runs, in turn, until one run ends before it; each
    // run reports whether it encoded its PNG, the figures open and the signal's handler after it.
    const check = [
      'import matplotlib.pyplot as plt, os, signal, sys',
      'from IPython.core import pylabtools',
      'drawn = []',
      'real = pylabtools.print_figure',
      'pylabtools.print_figure = lambda *a, **k: drawn.append(len(real(*a, **k)))',
      `sig = signal.${REHEARSAL_YIELD_SIGNAL}`,
      "before = set(globals()) | {'before', 'runs', 'n', 'tracer', 'line', 'fired'}",
      'runs = []',
      'for n in range(1, 200):',
      '    line = [0]',
      '    fired = [False]',
      '    def tracer(frame, event, arg):',
      "        if frame.f_code.co_filename == '<runcell-rehearsal>':",
      "            if event == 'line':",
      '                line[0] += 1',
      '                if line[0] == n:',
      '                    fired[0] = True',
      '                    os.kill(os.getpid(), sig)',
      '            return tracer',
      '        return None',
      '    drawn.clear()',
      '    sys.settrace(tracer)',
      `    ${code}`,
      '    sys.settrace(None)',
      '    runs.append((len(drawn), plt.get_fignums(), signal.getsignal(sig) == signal.SIG_DFL))',
      '    if not fired[0]:',
      '        break',
      'sys.stderr.write(repr((sorted(set(globals()) - before), runs)))',
    ].join('\n');
    const { stdout, stderr } = await python(check);
    expect(stdout).toBe('');
    const m = /^\(\[(.*?)\], (\[.*\])\)$/.exec(stderr);
    expect(m, stderr).not.toBeNull();
    // The rehearsal's own names stay in its private globals.
    expect(m?.[1]).toBe('');
    const runs = JSON.parse(
      (m?.[2] ?? '')
        .replaceAll('(', '[')
        .replaceAll(')', ']')
        .replaceAll('True', 'true')
        .replaceAll('False', 'false'),
    ) as [number, number[], boolean][];
    // Every run, stopped at any line or not: no figure open, the handler back to its default.
    expect(runs.length).toBeGreaterThan(10);
    for (const [, figs, restored] of runs) {
      expect(figs).toEqual([]);
      expect(restored).toBe(true);
    }
    // Before its handler is in place the signal is ignored (the rehearsal runs to its PNG); from then
    // until the PNG it stops the rehearsal; after it, or with no signal at all, the PNG was encoded.
    expect(runs[0]?.[0]).toBe(1);
    const stopped = runs.flatMap(([d], i) => (d === 0 ? [i] : []));
    expect(stopped.length).toBeGreaterThan(3);
    // One stretch of lines: the signal stops every run in it.
    expect(stopped).toEqual(stopped.map((_, i) => (stopped[0] ?? 0) + i));
    expect(runs.at(-1)?.[0]).toBe(1);
  });
});
