// pollStreams without a server: one answer for several kernels' streams over fake kernels. The
// real-server suite is pagepoll.test.ts.
import { describe, expect, it } from 'vitest';
import type { Hub } from '../../../server/bridge/hub.js';
import { pollStreams } from '../../../server/bridge/pagepoll.js';
import { anonymous, fakeHub } from './fake-kernel.js';

const opts = (holdMs = 60_000, signal = new AbortController().signal) => ({
  holdMs,
  max: 100,
  signal,
  draining: () => false,
});

function stream(h: ReturnType<typeof fakeHub>, sid: string, after?: number) {
  const { session } = h.hub.session(sid, anonymous.ipKey);
  return { kernel: h.hub.id, hub: h.hub as unknown as Hub, session, after: after ?? session.acked };
}

describe('pollStreams', () => {
  it('holds until any stream has an entry, then answers every stream with its own cursor', async () => {
    const a = fakeHub();
    const b = fakeHub();
    const sa = stream(a, 'sa');
    const sb = stream(b, 'sb');
    let done = false;
    const pending = pollStreams([sa, sb], opts()).then((body) => {
      done = true;
      return JSON.parse(body);
    });
    await new Promise((r) => setTimeout(r, 50));
    expect(done).toBe(false);
    b.kernel.status('busy', {});
    const r = await pending;
    expect(r.streams.map((s: { messages: unknown[] }) => s.messages.length)).toEqual([0, 1]);
    expect(r.streams[1].next).toBeGreaterThan(sb.after);
  });

  it('answers at once for an unknown kernel, and empty when the hold ends', async () => {
    const gone = JSON.parse(
      await pollStreams([{ kernel: 'x', hub: undefined, session: undefined, after: 0 }], opts()),
    );
    expect(gone.streams[0]).toMatchObject({ kernel: 'x', gone: true });
    const a = fakeHub();
    const t0 = Date.now();
    const empty = JSON.parse(await pollStreams([stream(a, 's')], opts(200)));
    expect(Date.now() - t0).toBeGreaterThanOrEqual(190);
    expect(empty.streams[0].messages).toEqual([]);
  });
});
