// @vitest-environment jsdom
// The output area as a page sees it: long streams elided with a way to see all (the output list keeps
// everything), `name?` help from execute_reply payloads, clear and restart marks, no live region.
import { describe, expect, it } from 'vitest';
import type { Message, Output } from '../../web/src/messages.js';
import { OutputArea } from '../../web/src/output.js';

function area(maxLines = 10): OutputArea {
  return new OutputArea({
    input: () => undefined,
    executeReply: () => undefined,
    status: () => undefined,
    output: () => undefined,
    error: () => undefined,
    maxLines,
  });
}

function msg(type: string, content: Record<string, unknown>): Message {
  return {
    channel: type === 'execute_reply' ? 'shell' : 'iopub',
    header: { msg_id: 'm', msg_type: type, session: 's', username: 'u', date: '', version: '5.3' },
    parent_header: { msg_id: 'p' },
    metadata: {},
    content,
  };
}

const numbered = (from: number, to: number) =>
  Array.from({ length: to - from }, (_, i) => `${from + i}\n`).join('');

describe('OutputArea', () => {
  it('elides the middle of a stream as it grows, and shows all on request', () => {
    const a = area(10);
    a.handle(msg('stream', { name: 'stdout', text: numbered(0, 8) }));
    expect(a.el.querySelector('.rc-elided')).toBeNull();
    a.handle(msg('stream', { name: 'stdout', text: numbered(8, 30) }));
    const marker = a.el.querySelector('.rc-elided') as HTMLButtonElement;
    expect(marker.textContent).toBe('⋯ 20 more lines · show all');
    const pre = a.el.querySelector('pre.rc-stdout') as HTMLElement;
    expect(pre.textContent).toBe(`${numbered(0, 5)}${marker.textContent}${numbered(25, 30)}`);
    expect(a.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: numbered(0, 30) }]);
    marker.click();
    expect(pre.textContent).toBe(numbered(0, 30));
    // Shown in full from then on, also as it grows.
    a.handle(msg('stream', { name: 'stdout', text: numbered(30, 40) }));
    expect(pre.textContent).toBe(numbered(0, 40));
  });

  it('never elides with maxLines 0', () => {
    const a = area(0);
    a.handle(msg('stream', { name: 'stdout', text: numbered(0, 5_000) }));
    expect(a.el.querySelector('.rc-elided')).toBeNull();
  });

  it('shows the help of `name?` (an execute_reply "page" payload) as output', () => {
    const a = area();
    a.handle(
      msg('execute_reply', {
        status: 'ok',
        execution_count: 1,
        payload: [
          { source: 'page', data: { 'text/plain': '\x1b[31mSignature:\x1b[0m len(obj, /)' }, start: 0 },
          { source: 'set_next_input', text: 'x' },
          { source: 'page', data: 'not a bundle' },
        ],
      }),
    );
    expect(a.outputs).toEqual([
      {
        output_type: 'display_data',
        data: { 'text/plain': '\x1b[31mSignature:\x1b[0m len(obj, /)' },
        metadata: {},
      },
    ]);
    expect(a.el.textContent).toBe('Signature: len(obj, /)');
    expect(a.el.querySelector('.ansi-fg-1')?.textContent).toBe('Signature:');
  });

  it('is not a live region; marks output of an earlier kernel; clears', () => {
    const a = area();
    expect(a.el.getAttribute('aria-live')).toBeNull();
    a.markStale('old');
    expect(a.root.classList.contains('rc-stale')).toBe(false);
    a.handle(msg('stream', { name: 'stdout', text: 'hi\n' }));
    a.markStale('Output from before the kernel restarted');
    expect(a.root.classList.contains('rc-stale')).toBe(true);
    expect(a.el.querySelector('.rc-stale-note')?.textContent).toBe(
      '↻ Output from before the kernel restarted',
    );
    (a.root.querySelector('.rc-clear') as HTMLButtonElement).click();
    expect(a.outputs).toEqual([]);
    expect(a.el.childNodes).toHaveLength(0);
    expect(a.root.classList.contains('rc-stale')).toBe(false);
  });

  it('does not change the outputs it restores (a permalink’s)', () => {
    const stored: Output[] = [
      { output_type: 'stream', name: 'stdout', text: 'a\n' },
      { output_type: 'stream', name: 'stdout', text: 'b\n' },
    ];
    const a = area();
    a.restore(stored);
    expect(a.outputs).toEqual([{ output_type: 'stream', name: 'stdout', text: 'a\nb\n' }]);
    expect(stored[0]).toEqual({ output_type: 'stream', name: 'stdout', text: 'a\n' });
  });

  it('offers Expand only while it is expanded or its content overflows', async () => {
    const frame = () => new Promise((r) => requestAnimationFrame(r));
    const a = area();
    const expand = a.root.querySelector('.rc-expand') as HTMLButtonElement;
    await frame();
    expect(expand.hidden).toBe(true);
    a.setExpanded(true);
    await frame();
    expect(expand.hidden).toBe(false);
    expect(expand.getAttribute('aria-expanded')).toBe('true');
    expect(expand.textContent).toBe('Collapse');
  });
});
