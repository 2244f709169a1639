// Client sessions: creation at the head of the log, sinks, waiting long-polls, forgetting (pure).
import { describe, expect, it } from 'vitest';
import type { Outgoing } from '../../../server/bridge/outgoing.js';
import { MAX_SESSIONS, Sessions, type Sink } from '../../../server/bridge/sessions.js';

const sink = () => {
  const s = { wakes: 0, replaced: 0, gone: [] as [string, number][] };
  const impl: Sink = {
    wake: () => void s.wakes++,
    replaced: () => void s.replaced++,
    kernelGone: (reason, code) => void s.gone.push([reason, code]),
    direct: (_o: Outgoing) => undefined,
  };
  return { s, impl };
};

describe('Sessions', () => {
  it('creates a session once, at the given head, with a server session of its own', () => {
    const sessions = new Sessions(1_000);
    const a = sessions.get('a', 'ip1', 7);
    expect(a.created).toBe(true);
    expect(a.session.acked).toBe(7);
    expect(a.session.serverSession).not.toBe('a');
    const again = sessions.get('a', 'ip2', 9);
    expect(again).toEqual({ session: a.session, created: false });
    expect(again.session).toMatchObject({ acked: 7, ipKey: 'ip2' });
    expect(sessions.get('b', 'ip1', 0).session.serverSession).not.toBe(a.session.serverSession);
  });

  it('wakes only the sinks that may see an entry, and every waiter', async () => {
    const sessions = new Sessions(1_000);
    const a = sink();
    const b = sink();
    sessions.attach(sessions.get('a', 'ip', 0).session, a.impl);
    sessions.attach(sessions.get('b', 'ip', 0).session, b.impl);
    const waiting = sessions.wait(60_000);
    sessions.wake('a');
    await waiting;
    sessions.wake(undefined);
    expect([a.s.wakes, b.s.wakes]).toEqual([2, 1]);
    sessions.gone('bye', 1001);
    expect(a.s.gone).toEqual([['bye', 1001]]);
    expect(b.s.gone).toEqual([['bye', 1001]]);
  });

  it('forgets sessions without a connection after the TTL, and past MAX_SESSIONS', () => {
    let now = 0;
    const sessions = new Sessions(1_000, () => now);
    const kept = sink();
    sessions.attach(sessions.get('connected', 'ip', 0).session, kept.impl);
    sessions.get('idle', 'ip', 0);
    now = 1_001;
    sessions.get('new', 'ip', 0);
    expect(sessions.find('idle')).toBeUndefined();
    expect(sessions.find('connected')).toBeDefined();
    for (let i = 0; i <= MAX_SESSIONS; i++) sessions.get(`s${i}`, 'ip', 0);
    expect(sessions.find('connected')).toBeDefined();
    expect(sessions.find('s0')).toBeUndefined();
  });

  it('counts sockets and polls as connections, by address', () => {
    const sessions = new Sessions(1_000);
    const a = sink();
    const s = sessions.get('a', 'ip1', 0).session;
    expect(sessions.attach(s, a.impl)).toBe(false);
    expect(sessions.attach(s, a.impl)).toBe(false);
    const b = sink();
    expect(sessions.attach(s, b.impl)).toBe(true);
    expect(a.s.replaced).toBe(1);
    expect(sessions.connections).toBe(1);
    expect(sessions.connectedFrom('ip1')).toBe(true);
    expect(sessions.connectedFrom('ip2')).toBe(false);
    sessions.detach(s, b.impl);
    expect(sessions.connectedFrom('ip1')).toBe(false);
    const done = sessions.pollerEntered();
    expect(sessions.connections).toBe(1);
    expect(sessions.connectedFrom('ip1')).toBe(true);
    done();
    done();
    expect(sessions.connections).toBe(0);
  });
});
