// The server-made header and the tables that route the kernel's answers back (pure).
import { describe, expect, it } from 'vitest';
import type { Header } from '../../../kernel-manager/index.js';
import { PendingInput, Requests, serverHeader } from '../../../server/bridge/headers.js';

const header = (msg_id: string): Header => ({
  msg_id,
  msg_type: 'execute_request',
  session: 's',
  username: 'u',
  date: '',
  version: '5.3',
});

describe('serverHeader', () => {
  it('keeps only msg_type and a string version of the client header', () => {
    const client = {
      msg_id: 'c',
      session: 'cs',
      username: 'root',
      date: 'then',
      msg_type: 'x',
      version: '5.0',
    };
    const h = serverHeader(client, 'server-session', { kind: 'anonymous' });
    expect(h).toMatchObject({
      session: 'server-session',
      username: 'anonymous',
      msg_type: 'x',
      version: '5.0',
    });
    expect(h.msg_id).not.toBe('c');
    expect(h.date).not.toBe('then');
    expect(serverHeader({ ...client, version: 5 }, 's', { kind: 'token' })).toMatchObject({
      username: 'runcell-token',
      version: '5.3',
    });
    expect(serverHeader(client, 's', { kind: 'token' }).msg_id).not.toBe(h.msg_id);
  });
});

describe('Requests', () => {
  it("gives the origin of an answer by its parent's msg_id, forgetting the oldest past its size", () => {
    const r = new Requests(2);
    for (const id of ['1', '2', '3'])
      r.add({
        sid: `c${id}`,
        header: { msg_id: `client-${id}` },
        server: header(id),
        at: 0,
        transport: 'websocket',
      });
    expect(r.origin('1')).toBeUndefined();
    expect(r.origin('3')).toEqual({ sid: 'c3', header: { msg_id: 'client-3' } });
    expect(r.has(undefined)).toBe(false);
    expect(r.size).toBe(2);
    r.clear();
    expect(r.get('3')).toBeUndefined();
  });
});

describe('PendingInput', () => {
  it('answers an input_request once, from the session that was asked', () => {
    const p = new PendingInput();
    p.asked('a', header('q'));
    expect(p.take('b')).toBeUndefined();
    expect(p.take('a')?.msg_id).toBe('q');
    expect(p.take('a')).toBeUndefined();
    p.asked('a', header('q2'));
    p.clear();
    expect(p.take('a')).toBeUndefined();
  });
});
