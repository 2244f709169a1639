// The product's kernel defaults under an audience: fork-server kernels where the host passes its probe,
// the Python prelude, and a pool sized from demand. Twenty requests in two bursts: the first grows the
// pool, the second is served from it without a start of its own; each visitor's kernel is its own, and
// the prelude and the idle-time rehearsal of a first plot leave nothing in the user's namespace or
// history.
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { Kernel, KernelManager, LocalKernel } from '../../kernel-manager/index.js';
import { REHEARSAL_YIELD_SIGNAL, rehearsalCode } from '../../kernel-manager/prelude.js';
import type { KernelSpecInfo } from '../../kernel-manager/types.js';
import { run, testManager, waitFor } from './helpers.js';

const SLOT = 130;
let m: KernelManager;
beforeAll(async () => {
  m = await testManager(SLOT, {
    fork: { specs: 'auto' },
    prelude: { python: ['numpy', 'matplotlib.pyplot'] },
    pool: { size: 2, max: 10 },
  });
});
afterAll(() => m?.close());

const settled = () =>
  waitFor(
    () =>
      m.stats().starting === 0 &&
      !m.stats().refillPending &&
      m.stats().queued === 0 &&
      m.stats().rehearsing === 0,
    60_000,
    'the pool',
  );

describe('an audience arriving at once', () => {
  it('grows the pool with the first burst and serves the second from it, each visitor isolated', async () => {
    await waitFor(() => m.stats().pooled >= 2, 60_000, 'the pool to fill');
    const burst = async (tag: string) => {
      const ks = await Promise.all(
        Array.from({ length: 10 }, (_, i) => m.start(undefined, { owner: `${tag}${i}` })),
      );
      expect(new Set(ks.map((k) => k.id)).size).toBe(10);
      return ks;
    };
    const shutAll = (ks: Kernel[]) => Promise.all(ks.map((k) => k.shutdown()));

    const first = await burst('a');
    // A visitor's state stays in their own kernel.
    await run(first[0] as Kernel, 'secret = 41');
    expect((await run(first[1] as Kernel, "print('secret' in dir())")).stdout).toBe('False\n');
    await shutAll(first);
    // Ten requests within one start time: the pool grows to its ceiling and fills.
    expect(m.stats().poolTarget).toBe(10);
    await waitFor(() => m.stats().pooled >= 10 || undefined, 120_000, 'the pool to grow');
    await settled();

    const before = m.stats().served;
    const rehearsedBefore = m.stats().servedRehearsed;
    const second = await burst('b');
    const after = m.stats().served;
    // The pool had idle time: every warm kernel had rehearsed a first plot.
    expect(m.stats().servedRehearsed - rehearsedBefore).toBe(10);
    expect(after.pool - before.pool).toBe(10);
    expect(after.cold - before.cold + after.queued - before.queued + after.starting - before.starting).toBe(
      0,
    );

    // The prelude ran (numpy is imported, the inline backend set up) and left nothing visible: the first
    // cell is execution 1, the namespace is empty, the history holds only the user's cells.
    const k = second[0] as Kernel;
    // Forks of a zygote that drew a figure: their prelude drew only one character (prelude.ts).
    expect(second.every((x) => (x as LocalKernel).figureDrawn)).toBe(true);
    const first1 = await run(
      k,
      "import sys; print('numpy' in sys.modules, 'matplotlib.pyplot' in sys.modules)",
    );
    expect(first1.stdout).toBe('True True\n');
    expect(first1.reply?.content.execution_count).toBe(1);
    const who = await run(second[1] as Kernel, '%who');
    expect(who.stdout).toBe('Interactive namespace is empty.\n');
    const names = await run(
      second[2] as Kernel,
      "print(sorted(n for n in dir() if not n.startswith('_') and n not in ('In', 'Out', 'exit', 'quit', 'get_ipython')), len(In))",
    );
    expect(names.stdout).toBe('[] 2\n');
    // A plot is shown (the inline backend is set up) as a PNG of its own: the rehearsal's figure was
    // closed and published nothing, and the visitor's first figure is figure 1.
    const plot = await run(
      second[3] as Kernel,
      'import matplotlib.pyplot as plt; print(plt.get_fignums()); plt.plot([1, 2]); print(plt.gcf().number); plt.show()',
    );
    expect(plot.stdout).toBe('[]\n1\n');
    const png = plot.messages.filter((x) => x.header.msg_type === 'display_data');
    expect(png.length).toBe(1);
    expect(Object.keys((png[0]?.content.data ?? {}) as object)).toContain('image/png');
    await shutAll(second);
  });

  it("stops a rehearsal at the pool's signal, wherever the kernel is, and leaves it as it found it", async () => {
    const k = (await m.start(undefined, { owner: 'stop' })) as LocalKernel;
    // The rehearsal's first figure takes its time (as a loaded machine's would) and says when it starts.
    await run(
      k,
      [
        'import matplotlib.figure as mf, time',
        'state = {}',
        'slow_from = mf.Figure.add_subplot',
        'def slow(self, *a, **kw):',
        "    print('drawing', flush=True)",
        '    time.sleep(30)',
        "    state['slept'] = True",
        '    return slow_from(self, *a, **kw)',
        'mf.Figure.add_subplot = slow',
      ].join('\n'),
    );
    const spec = m.specs().find((s) => s.name === m.config.defaultSpec) as KernelSpecInfo;
    const code = rehearsalCode(spec, { python: ['matplotlib.pyplot'] }) as string;
    let signalled = false;
    const messages: string[] = [];
    for await (const msg of k.execute(code, { silent: true, storeHistory: false })) {
      messages.push(msg.header.msg_type);
      if (msg.header.msg_type === 'stream' && !signalled) {
        signalled = true;
        k.signal(REHEARSAL_YIELD_SIGNAL);
      }
      if (msg.header.msg_type === 'execute_reply') expect(msg.content.status).toBe('ok');
    }
    expect(signalled).toBe(true);
    // It stopped in the sleep (no traceback, no figure), the handler is back, and plots still work.
    expect(messages).not.toContain('error');
    const after = await run(
      k,
      [
        'import signal, matplotlib.pyplot as plt',
        'mf.Figure.add_subplot = slow_from',
        'print(state, plt.get_fignums(), signal.getsignal(signal.SIGWINCH) == signal.SIG_DFL)',
        'plt.plot([1, 2]); plt.show()',
      ].join('\n'),
    );
    expect(after.stdout).toBe('{} [] True\n');
    expect(after.messages.filter((x) => x.header.msg_type === 'display_data').length).toBe(1);
    await k.shutdown();
  });
});
