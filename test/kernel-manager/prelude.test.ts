// A spec's prelude: which code runs before hand-out, and that both variants (a plain kernel's, a
// fork's) run cleanly in Debian's Python, leave no figure open and print nothing.
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, expect, it } from 'vitest';
import { preludeCode, rehearsalCode, specPrelude } from '../../kernel-manager/prelude.js';
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
      const { stdout, stderr } = await run('/usr/bin/python3', ['-c', check], {
        env: { MPLBACKEND: 'Agg', HOME: '/tmp', MPLCONFIGDIR: `/tmp/rct-prelude-${process.pid}` },
      });
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
    const { stdout, stderr } = await run('/usr/bin/python3', ['-c', check], {
      env: { MPLBACKEND: 'Agg', HOME: '/tmp', MPLCONFIGDIR: `/tmp/rct-prelude-${process.pid}` },
    });
    expect(stdout).toBe('');
    // One PNG encoded (outside IPython: print_figure, tight as the inline backend's), none left open.
    expect(stderr).toBe('([], [], 1, True)');
  });
});
