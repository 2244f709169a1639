// Restart queueing and death as decisions on state (pure).
import { describe, expect, it } from 'vitest';
import { Lifecycle, type Queued } from '../../../server/bridge/lifecycle.js';
import { anonymous, clientMsg } from './fake-kernel.js';

const q = (sid = 'a'): Queued => ({
  sid,
  msg: clientMsg('shell', 'kernel_info_request'),
  caller: anonymous,
  transport: 'websocket',
});

describe('Lifecycle', () => {
  it('sends while the kernel runs, queues while it (re)starts, up to its limit', () => {
    const life = new Lifecycle(2);
    expect(life.admit('idle', q())).toEqual({ send: true });
    expect(life.admit('busy', q())).toEqual({ send: true });
    const [a, b, c] = [q('a'), q('b'), q('c')];
    expect(life.admit('restarting', a)).toEqual({ queued: true });
    expect(life.admit('starting', b)).toEqual({ queued: true });
    expect(life.admit('restarting', c)).toEqual({ refuse: 'the kernel is restarting' });
    expect(life.restarted()).toEqual([a, b]);
    expect(life.restarted()).toEqual([]);
  });

  it('once dead, refuses everything and hands back what was queued, once', () => {
    const life = new Lifecycle();
    const a = q();
    life.admit('restarting', a);
    const died = life.died('oom', 42);
    expect(died).toEqual({ queued: [a], refusal: 'the kernel is dead: oom' });
    expect(life.dead).toEqual({ reason: 'oom', at: 42 });
    expect(life.died('again')).toBeUndefined();
    expect(life.dead?.reason).toBe('oom');
    expect(life.admit('idle', q())).toEqual({ refuse: 'the kernel is dead: oom' });
    expect(life.queued).toBe(0);
  });
});
