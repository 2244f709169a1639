// @vitest-environment jsdom
// The widget manager against recorded message sequences of both protocol versions:
//  - protocol 1: recorded from Debian's ipywidgets 6.0 (python3-ipywidgets) running interact and an
//    Output widget on a runcell kernel;
//  - protocol 2.0 / 2.1: written from jupyter-widgets/ipywidgets packages/schema/messages.md and the
//    7.x/8.x widget sources (widget.py: open(), send_state(), _handle_msg(); echo_update in 8.x).
// The renderers are the embed's own (output.ts, DOMPurify); `send` records what would go to the kernel.
import { describe, expect, it } from 'vitest';
import type { Message } from '../../../web/src/messages.js';
import { renderOutput } from '../../../web/src/output.js';
import { renderTex } from '../../../web/src/render/latex.js';
import { sanitizeHtml } from '../../../web/src/render/sanitize.js';
import { MAX_MODELS, WidgetManager } from '../../../web/src/widgets/manager.js';
import type { CommType } from '../../../web/src/widgets/types.js';

let seq = 0;
function msg(
  type: string,
  content: Record<string, unknown>,
  parent = 'exec-1',
  buffers?: unknown[],
): Message {
  return {
    channel: 'iopub',
    header: { msg_id: `k${++seq}`, msg_type: type, session: 's', username: 'u', date: '', version: '5.3' },
    parent_header: parent ? { msg_id: parent } : {},
    metadata: {},
    content,
    ...(buffers ? { buffers } : {}),
  };
}

function setup() {
  const sent: {
    type: CommType;
    content: Record<string, unknown>;
    id: string;
    metadata?: Record<string, unknown> | undefined;
  }[] = [];
  const mgr = new WidgetManager({
    send: (type, content, metadata) => {
      const id = `c${sent.length + 1}`;
      sent.push({ type, content, id, metadata });
      return id;
    },
    renderOutput: (o) => renderOutput(o),
    mount: () => undefined,
    sanitizeHtml,
    renderTex,
  });
  const show = (id: string) => {
    const el = document.createElement('div');
    document.body.append(el);
    expect(mgr.render(id, el)).toBe(true);
    return el;
  };
  return { mgr, sent, show };
}

const v1 = (name: string, view: string | null, extra: Record<string, unknown> = {}) => ({
  _model_module: 'jupyter-js-widgets',
  _model_module_version: '~2.1.4',
  _model_name: name,
  _view_module: 'jupyter-js-widgets',
  _view_module_version: '~2.1.4',
  _view_name: view,
  ...extra,
});

describe('protocol 1 (ipywidgets 6.0, recorded)', () => {
  function interact() {
    const t = setup();
    const open = (id: string, data: Record<string, unknown>) =>
      t.mgr.handleComm(msg('comm_open', { comm_id: id, target_name: 'jupyter.widget', data }));
    open('L1', v1('LayoutModel', 'LayoutView'));
    open('S1', v1('SliderStyleModel', 'StyleView', { handle_color: null }));
    open(
      'I1',
      v1('IntSliderModel', 'IntSliderView', {
        _range: false,
        continuous_update: true,
        description: '',
        disabled: false,
        layout: 'IPY_MODEL_L1',
        max: 10,
        min: 1,
        orientation: 'horizontal',
        readout: true,
        readout_format: 'd',
        step: 1,
        style: 'IPY_MODEL_S1',
        value: 5,
      }),
    );
    t.mgr.handleComm(
      msg('comm_msg', { comm_id: 'I1', data: { method: 'update', state: { value: 3 }, buffers: [] } }),
    );
    t.mgr.handleComm(
      msg('comm_msg', {
        comm_id: 'I1',
        data: { method: 'update', state: { description: 'freq' }, buffers: [] },
      }),
    );
    open('O1', v1('OutputModel', 'OutputView', { layout: 'IPY_MODEL_L1', msg_id: '' }));
    open(
      'V1',
      v1('VBoxModel', 'VBoxView', {
        _dom_classes: ['widget-interact'],
        children: [],
        layout: 'IPY_MODEL_L1',
      }),
    );
    t.mgr.handleComm(
      msg('comm_msg', {
        comm_id: 'V1',
        data: { method: 'update', state: { children: ['IPY_MODEL_I1', 'IPY_MODEL_O1'] }, buffers: [] },
      }),
    );
    t.mgr.handleComm(msg('comm_msg', { comm_id: 'V1', data: { method: 'display' } }));
    return t;
  }

  it('opens the version comm once and answers it as a validated frontend', () => {
    const { mgr, sent } = interact();
    const opens = sent.filter((s) => s.type === 'comm_open');
    expect(opens).toHaveLength(1);
    expect(opens[0]?.content.target_name).toBe('jupyter.widget.version');
    mgr.handleComm(msg('comm_msg', { comm_id: opens[0]?.content.comm_id, data: { version: '~2.1.4' } }, ''));
    expect(sent.at(-1)?.content).toEqual({
      comm_id: opens[0]?.content.comm_id,
      data: { validated: true, frontend_version: '2.1.4' },
    });
  });

  it('drops the "Widget Javascript not detected" warning but keeps other stderr', () => {
    const { mgr } = interact();
    const warning =
      'Widget Javascript not detected.  It may not be installed or enabled properly. Reconnecting the current kernel may help.\n';
    expect(mgr.intercept(msg('stream', { name: 'stderr', text: warning }))).toBe(true);
    const mixed = msg('stream', { name: 'stderr', text: `${warning}real error\n` });
    expect(mgr.intercept(mixed)).toBe(false);
    expect((mixed.content as { text: string }).text).toBe('real error\n');
  });

  it('renders the interact box, sends a slider move as a backbone sync, captures the Output', () => {
    const { mgr, sent, show } = interact();
    const el = show('V1');
    expect(el.querySelector('.rc-w-widget-interact, .widget-interact')).not.toBeNull();
    const input = el.querySelector<HTMLInputElement>('input[type=range]');
    expect(input?.value).toBe('3');
    expect(el.querySelector('.rc-w-desc')?.textContent).toBe('freq');
    (input as HTMLInputElement).value = '7';
    input?.dispatchEvent(new Event('input'));
    expect(sent.at(-1)).toMatchObject({
      type: 'comm_msg',
      content: { comm_id: 'I1', data: { method: 'backbone', sync_data: { value: 7 }, buffer_keys: [] } },
    });
    // The kernel runs the callback under our comm_msg: msg_id is the server's id, the parent ours.
    const run = sent.at(-1)?.id as string;
    mgr.handleComm(
      msg(
        'comm_msg',
        { comm_id: 'O1', data: { method: 'update', state: { msg_id: 'server-id' }, buffers: [] } },
        run,
      ),
    );
    expect(mgr.intercept(msg('clear_output', { wait: true }, run))).toBe(true);
    expect(mgr.intercept(msg('stream', { name: 'stdout', text: 'freq is 7\n' }, run))).toBe(true);
    expect(
      mgr.intercept(msg('stream', { name: 'stdout', text: 'seen by another page\n' }, 'server-id')),
    ).toBe(true);
    mgr.handleComm(
      msg('comm_msg', { comm_id: 'O1', data: { method: 'update', state: { msg_id: '' }, buffers: [] } }, run),
    );
    expect(mgr.intercept(msg('stream', { name: 'stdout', text: 'after\n' }, run))).toBe(false);
    expect(el.querySelector('.rc-w-output')?.textContent).toBe('freq is 7\nseen by another page\n');
  });

  it('a reconnect in the middle of a drag: the answer to request_state does not move the slider back', () => {
    // Recorded from the browser test "a dropped websocket in the middle of a drag" when it failed: the
    // kernel answered request_state with value 24 after the page had moved on to 25, the slider jumped
    // back to 24, and the drag ended one step short.
    const { mgr, sent, show } = interact();
    const el = show('V1');
    const input = el.querySelector('input[type=range]') as HTMLInputElement;
    const move = (v: string) => {
      input.value = v;
      input.dispatchEvent(new Event('input'));
    };
    move('4'); // sent while the connection is down (the transport queues it)
    const queued = sent.at(-1)?.id as string;
    mgr.resync(); // back: what was in flight is released, then every model is asked for its state
    const asks = sent.filter((s) => (s.content.data as { method?: string }).method === 'request_state');
    expect(asks.map((s) => s.content.comm_id).sort()).toEqual(['I1', 'L1', 'O1', 'S1', 'V1']);
    mgr.intercept(msg('status', { execution_state: 'idle' }, queued));
    move('5'); // the drag goes on
    const ask = asks.find((s) => s.content.comm_id === 'I1')?.id as string;
    mgr.handleComm(
      msg(
        'comm_msg',
        {
          comm_id: 'I1',
          data: { method: 'update', state: { ...v1('IntSliderModel', 'IntSliderView'), value: 4, max: 12 } },
        },
        ask,
      ),
    );
    expect(input.value).toBe('5');
    expect(el.querySelector('.rc-w-readout')?.textContent).toBe('5');
    move('6');
    expect(sent.filter((s) => s.content.comm_id === 'I1').at(-1)?.content.data).toMatchObject({
      sync_data: { value: 5 },
    });
    // Keys the page did not change are taken from the answer, and later updates apply as ever.
    expect(mgr.models.get('I1')?.get('max')).toBe(12);
    mgr.handleComm(
      msg('comm_msg', { comm_id: 'I1', data: { method: 'update', state: { value: 2 }, buffers: [] } }),
    );
    expect(input.value).toBe('2');
  });
});

const v2 = (name: string, view: string | null, module: string, extra: Record<string, unknown> = {}) => ({
  _model_module: module,
  _model_module_version: '1.5.0',
  _model_name: name,
  _view_module: module,
  _view_module_version: '1.5.0',
  _view_name: view,
  ...extra,
});

const ctl2 = '@jupyter-widgets/controls';

describe('protocol 2 (ipywidgets 7.x / 8.x, from the protocol document)', () => {
  function open(
    t: ReturnType<typeof setup>,
    id: string,
    state: Record<string, unknown>,
    version = '2.0.0',
    paths: unknown[] = [],
    buffers?: unknown[],
  ) {
    const m = msg(
      'comm_open',
      {
        comm_id: id,
        target_name: 'jupyter.widget',
        data: { state, buffer_paths: paths },
        metadata: { version },
      },
      'exec-1',
      buffers,
    );
    t.mgr.handleComm(m);
  }

  it('opens with {state, buffer_paths}, updates views, sends {method: update}', () => {
    const t = setup();
    open(
      t,
      'D1',
      v2('DropdownModel', 'DropdownView', '@jupyter-widgets/controls', {
        _options_labels: ['a', 'b', 'c'],
        index: 1,
        description: 'pick',
      }),
    );
    const el = t.show('D1');
    const second = t.show('D1');
    const sel = el.querySelector('select') as HTMLSelectElement;
    expect(sel.selectedIndex).toBe(1);
    sel.selectedIndex = 2;
    sel.dispatchEvent(new Event('change'));
    expect(t.sent.at(-1)?.content).toEqual({
      comm_id: 'D1',
      data: { method: 'update', state: { index: 2 }, buffer_paths: [] },
    });
    // Two views of one model stay in step.
    expect((second.querySelector('select') as HTMLSelectElement).selectedIndex).toBe(2);
    t.mgr.handleComm(
      msg('comm_msg', { comm_id: 'D1', data: { method: 'update', state: { index: 0 }, buffer_paths: [] } }),
    );
    expect(sel.selectedIndex).toBe(0);
  });

  it('places binary buffers at their paths (Image value) and shows them as a data: URL', () => {
    const t = setup();
    const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
    open(
      t,
      'IM',
      v2('ImageModel', 'ImageView', '@jupyter-widgets/controls', {
        format: 'png',
        width: '',
        height: '',
        value: {},
      }),
      '2.0.0',
      [['value']],
      [png.buffer],
    );
    const el = t.show('IM');
    expect(el.querySelector('img')?.getAttribute('src')).toBe('data:image/png;base64,iVBORw==');
    // Long-poll gives buffers in base64.
    t.mgr.handleComm(
      msg(
        'comm_msg',
        { comm_id: 'IM', data: { method: 'update', state: { value: {} }, buffer_paths: [['value']] } },
        'x',
        ['R0lGOA=='],
      ),
    );
    expect(el.querySelector('img')?.getAttribute('src')).toBe('data:image/png;base64,R0lGOA==');
    // format 'url' (8.x) would make the browser fetch: refused.
    t.mgr.handleComm(
      msg('comm_msg', {
        comm_id: 'IM',
        data: { method: 'update', state: { format: 'url' }, buffer_paths: [] },
      }),
    );
    expect(el.querySelector('img')?.hasAttribute('src')).toBe(false);
  });

  it('a Button click is the custom {event: click} message', () => {
    const t = setup();
    open(
      t,
      'B1',
      v2('ButtonModel', 'ButtonView', '@jupyter-widgets/controls', {
        description: 'Go',
        button_style: 'danger',
      }),
    );
    const el = t.show('B1');
    const b = el.querySelector('button') as HTMLButtonElement;
    expect(b.className).toContain('rc-w-danger');
    b.click();
    expect(t.sent.at(-1)?.content).toEqual({
      comm_id: 'B1',
      data: { method: 'custom', content: { event: 'click' } },
    });
  });

  it('throttles: one update in flight, later changes merged, the last value sent after idle', () => {
    const t = setup();
    open(
      t,
      'F1',
      v2('FloatSliderModel', 'FloatSliderView', '@jupyter-widgets/controls', {
        value: 0,
        min: 0,
        max: 10,
        step: 0.5,
      }),
      '2.1.0',
    );
    const el = t.show('F1');
    const input = el.querySelector('input') as HTMLInputElement;
    for (const v of ['1', '2', '3', '4']) {
      input.value = v;
      input.dispatchEvent(new Event('input'));
    }
    const updates = () => t.sent.filter((s) => s.type === 'comm_msg');
    expect(updates()).toHaveLength(1);
    // 8.x echoes what it received; an echo of an older value must not move the slider back.
    t.mgr.handleComm(
      msg('comm_msg', {
        comm_id: 'F1',
        data: { method: 'echo_update', state: { value: 1 }, buffer_paths: [] },
      }),
    );
    expect(input.value).toBe('4');
    t.mgr.intercept(msg('status', { execution_state: 'idle' }, updates()[0]?.id));
    expect(updates()).toHaveLength(2);
    expect(updates()[1]?.content).toMatchObject({ data: { method: 'update', state: { value: 4 } } });
    t.mgr.intercept(msg('status', { execution_state: 'idle' }, updates()[1]?.id));
    expect(updates()).toHaveLength(2);
  });

  it('after a reconnect, the answer to a state request does not undo a change made since', () => {
    const t = setup();
    open(
      t,
      'F2',
      v2('IntSliderModel', 'IntSliderView', '@jupyter-widgets/controls', { value: 2, max: 50 }),
      '2.0.0', // request_state model by model (2.1 asks the control comm: tested below)
    );
    const el = t.show('F2');
    const input = el.querySelector('input') as HTMLInputElement;
    t.mgr.resync();
    const request = t.sent.at(-1);
    expect(request?.content).toMatchObject({ data: { method: 'request_state' } });
    // Moved on after the request went out; the kernel answers with what it had before.
    input.value = '7';
    input.dispatchEvent(new Event('input'));
    t.mgr.handleComm(
      msg('comm_msg', { comm_id: 'F2', data: { method: 'update', state: { value: 6 } } }, request?.id),
    );
    expect(input.value).toBe('7');
    // An update the kernel makes itself still applies.
    t.mgr.intercept(msg('status', { execution_state: 'idle' }, t.sent.at(-1)?.id));
    t.mgr.handleComm(msg('comm_msg', { comm_id: 'F2', data: { method: 'update', state: { value: 9 } } }));
    expect(input.value).toBe('9');
  });

  describe('resync after a reconnect: the jupyter.widget.control comm (2.1), else request_state', () => {
    // Written from ipywidgets 8's widget.py (Widget.handle_control_comm_opened and
    // _handle_control_comm_msg: the answer's buffer_paths start at `states`, [model_id, 'state', ...])
    // and ipykernel's CommManager.comm_open (a target it does not have: the comm is closed again).
    const data = (s: { content: Record<string, unknown> }) => s.content.data as Record<string, unknown>;
    const asks = (t: ReturnType<typeof setup>) =>
      t.sent.filter((s) => data(s)?.method === 'request_state').map((s) => s.content.comm_id);
    function twoOne(version = '2.1.0') {
      const t = setup();
      const ctl = '@jupyter-widgets/controls';
      open(t, 'S1', v2('IntSliderModel', 'IntSliderView', ctl, { value: 1, max: 10 }), version);
      open(
        t,
        'IM',
        v2('ImageModel', 'ImageView', ctl, { format: 'png', value: {} }),
        version,
        [['value']],
        [new Uint8Array([1]).buffer],
      );
      return t;
    }

    it('2.1: every state in one round trip; newer local changes kept; the comm closed after', () => {
      const t = twoOne();
      const el = t.show('S1');
      const img = t.show('IM');
      t.mgr.resync();
      const open2 = t.sent.find((s) => s.type === 'comm_open');
      expect(open2?.content).toMatchObject({ target_name: 'jupyter.widget.control', data: {} });
      expect(open2?.metadata).toEqual({ version: '1.0.0' });
      const comm = open2?.content.comm_id as string;
      const req = t.sent.at(-1);
      expect(req?.content).toEqual({ comm_id: comm, data: { method: 'request_states' } });
      expect(asks(t)).toEqual([]);
      // The page moves the slider before the answer comes.
      const input = el.querySelector('input') as HTMLInputElement;
      input.value = '7';
      input.dispatchEvent(new Event('input'));
      const png = new Uint8Array([0x89, 0x50, 0x4e, 0x47]);
      t.mgr.handleComm(
        msg(
          'comm_msg',
          {
            comm_id: comm,
            data: {
              method: 'update_states',
              // A key "__proto__" of its own, as JSON from the wire has it.
              states: Object.assign(JSON.parse('{"__proto__": {"state": {"polluted": 1}}}'), {
                S1: {
                  model_name: 'IntSliderModel',
                  model_module: ctl2,
                  model_module_version: '2.0.0',
                  state: { value: 3, max: 20 },
                },
                IM: {
                  model_name: 'ImageModel',
                  model_module: ctl2,
                  model_module_version: '2.0.0',
                  state: { format: 'png' },
                },
                NEW: {
                  model_name: 'LabelModel',
                  model_module: ctl2,
                  model_module_version: '2.0.0',
                  state: v2('LabelModel', 'LabelView', ctl2, { value: 'opened while away' }),
                },
              }),
              buffer_paths: [
                ['IM', 'state', 'value'],
                ['__proto__', 'state', 'polluted'],
              ],
            },
          },
          req?.id as string,
          [png.buffer],
        ),
      );
      expect(input.value).toBe('7');
      expect(t.mgr.models.get('S1')?.get('max')).toBe(20);
      expect(img.querySelector('img')?.getAttribute('src')).toBe('data:image/png;base64,iVBORw==');
      expect(t.show('NEW').textContent).toBe('opened while away');
      expect(({} as Record<string, unknown>).polluted).toBeUndefined();
      expect(t.mgr.models.has('__proto__')).toBe(false);
      expect(t.sent.at(-1)).toMatchObject({ type: 'comm_close', content: { comm_id: comm } });
      // An update_states nobody asked for (a hostile kernel) changes nothing.
      t.mgr.handleComm(
        msg('comm_msg', {
          comm_id: comm,
          data: { method: 'update_states', states: { S1: { state: { max: 99 } } }, buffer_paths: [] },
        }),
      );
      expect(t.mgr.models.get('S1')?.get('max')).toBe(20);
    });

    it('2.1 kernel without the target closes the comm: model by model, then and on later resyncs', () => {
      const t = twoOne();
      t.mgr.resync();
      const comm = t.sent.find((s) => s.type === 'comm_open')?.content.comm_id as string;
      t.mgr.handleComm(msg('comm_close', { comm_id: comm, data: {} }));
      expect(asks(t).sort()).toEqual(['IM', 'S1']);
      const before = t.sent.length;
      t.mgr.resync();
      expect(t.sent.slice(before).map((s) => [s.type, data(s).method])).toEqual([
        ['comm_msg', 'request_state'],
        ['comm_msg', 'request_state'],
      ]);
    });

    it('2.1 kernel whose handler failed (idle, no update_states): model by model', () => {
      const t = twoOne();
      t.mgr.resync();
      const req = t.sent.at(-1)?.id as string;
      t.mgr.intercept(msg('status', { execution_state: 'idle' }, req));
      expect(asks(t).sort()).toEqual(['IM', 'S1']);
    });

    it('2.0 (ipywidgets 7) has no control comm: request_state for every model', () => {
      const t = twoOne('2.0.0');
      t.mgr.resync();
      expect(t.sent.some((s) => s.type === 'comm_open')).toBe(false);
      expect(asks(t).sort()).toEqual(['IM', 'S1']);
    });
  });

  it('comm_close and a dead kernel leave views disabled with the reason', () => {
    const t = setup();
    open(
      t,
      'C1',
      v2('CheckboxModel', 'CheckboxView', '@jupyter-widgets/controls', { value: true, description: 'on' }),
    );
    open(t, 'C2', v2('CheckboxModel', 'CheckboxView', '@jupyter-widgets/controls', { value: false }));
    const a = t.show('C1');
    const b = t.show('C2');
    t.mgr.handleComm(msg('comm_close', { comm_id: 'C1', data: {} }));
    expect(a.querySelector('input')?.disabled).toBe(true);
    expect(b.querySelector('input')?.disabled).toBe(false);
    t.mgr.disable('the kernel restarted');
    expect(b.querySelector('input')?.disabled).toBe(true);
    expect(b.querySelector('.rc-w')?.getAttribute('title')).toContain('the kernel restarted');
    const before = t.sent.length;
    (b.querySelector('input') as HTMLInputElement).click();
    expect(t.sent.length).toBe(before);
  });

  it('Tab titles in both shapes (_titles dict in 7.x, titles list in 8.x)', () => {
    const t = setup();
    open(t, 'L1', v2('LabelModel', 'LabelView', '@jupyter-widgets/controls', { value: 'one' }));
    open(t, 'L2', v2('LabelModel', 'LabelView', '@jupyter-widgets/controls', { value: 'two' }));
    open(
      t,
      'TB',
      v2('TabModel', 'TabView', '@jupyter-widgets/controls', {
        children: ['IPY_MODEL_L1', 'IPY_MODEL_L2'],
        _titles: { 0: 'First' },
        selected_index: 0,
      }),
    );
    const el = t.show('TB');
    expect([...el.querySelectorAll('.rc-w-tabhead')].map((h) => h.textContent)).toEqual(['First', 'Page 2']);
    (el.querySelectorAll('.rc-w-tabhead')[1] as HTMLButtonElement).click();
    expect(t.sent.at(-1)?.content).toMatchObject({ data: { state: { selected_index: 1 } } });
    expect((el.querySelectorAll('.rc-w-panel')[1] as HTMLElement).hidden).toBe(false);
  });
});

describe('hostile widgets', () => {
  it('HTML and HTMLMath values are sanitized: no script, no handlers, nothing loaded', () => {
    const t = setup();
    const value =
      '<b>bold</b><script>window.__pwned=1</script><img src="http://evil.example/x.png" onerror="window.__pwned=2">';
    t.mgr.handleComm(
      msg('comm_open', {
        comm_id: 'H1',
        target_name: 'jupyter.widget',
        data: {
          state: v2('HTMLModel', 'HTMLView', '@jupyter-widgets/controls', { value }),
          buffer_paths: [],
        },
        metadata: { version: '2.0.0' },
      }),
    );
    const el = t.show('H1');
    expect(el.querySelector('b')?.textContent).toBe('bold');
    expect(el.querySelector('script')).toBeNull();
    const img = el.querySelector('img');
    expect(img?.getAttribute('onerror')).toBeNull();
    expect(img?.getAttribute('src') ?? '').not.toContain('evil');
  });

  it('state keys that would pollute prototypes are dropped; layout values with url() are refused', () => {
    const t = setup();
    const state = JSON.parse('{"__proto__": {"polluted": true}, "value": "x", "layout": "IPY_MODEL_LY"}');
    t.mgr.handleComm(
      msg('comm_open', {
        comm_id: 'LY',
        target_name: 'jupyter.widget',
        data: {
          state: v2('LayoutModel', 'LayoutView', '@jupyter-widgets/base', {
            width: 'url(http://evil.example/)',
            height: '40px',
          }),
          buffer_paths: [],
        },
        metadata: { version: '2.0.0' },
      }),
    );
    t.mgr.handleComm(
      msg('comm_open', {
        comm_id: 'X1',
        target_name: 'jupyter.widget',
        data: {
          state: { ...v2('LabelModel', 'LabelView', '@jupyter-widgets/controls'), ...state },
          buffer_paths: [],
        },
        metadata: { version: '2.0.0' },
      }),
    );
    expect(({} as Record<string, unknown>).polluted).toBeUndefined();
    const el = t.show('X1');
    const w = el.querySelector('.rc-w') as HTMLElement;
    expect(w.style.width).toBe('');
    expect(w.style.height).toBe('40px');
  });

  it(`at most ${MAX_MODELS} models per kernel; a box of more says how many are not shown`, () => {
    const t = setup();
    const ids: string[] = [];
    for (let i = 0; i < MAX_MODELS + 50; i++) {
      ids.push(`IPY_MODEL_N${i}`);
      t.mgr.handleComm(
        msg('comm_open', {
          comm_id: `N${i}`,
          target_name: 'jupyter.widget',
          data: v1('LabelModel', 'LabelView', { value: String(i) }),
        }),
      );
    }
    expect(t.mgr.models.size).toBe(MAX_MODELS);
    expect(t.mgr.dropped).toBe(50);
  });

  it('a widget from another library is a visible notice', () => {
    const t = setup();
    t.mgr.handleComm(
      msg('comm_open', {
        comm_id: 'BQ',
        target_name: 'jupyter.widget',
        data: {
          state: {
            _model_name: 'FigureModel',
            _model_module: 'bqplot',
            _view_module: 'bqplot',
            _view_name: 'Figure',
          },
          buffer_paths: [],
        },
        metadata: { version: '2.0.0' },
      }),
    );
    expect(t.show('BQ').textContent).toContain('This widget (bqplot Figure) is not available here.');
  });
});

describe('permalink snapshots', () => {
  it('a snapshot holds the model and what it refers to, and renders disabled', () => {
    const t = setup();
    t.mgr.handleComm(
      msg('comm_open', {
        comm_id: 'L1',
        target_name: 'jupyter.widget',
        data: v1('LayoutModel', 'LayoutView', { width: '300px' }),
      }),
    );
    t.mgr.handleComm(
      msg('comm_open', {
        comm_id: 'S1',
        target_name: 'jupyter.widget',
        data: v1('IntSliderModel', 'IntSliderView', { value: 4, min: 0, max: 9, layout: 'IPY_MODEL_L1' }),
      }),
    );
    const snap = t.mgr.snapshot('S1');
    expect(Object.keys(snap?.state ?? {}).sort()).toEqual(['L1', 'S1']);
    const fresh = setup();
    const el = document.createElement('div');
    document.body.append(el);
    fresh.mgr.renderSnapshot('S1', JSON.parse(JSON.stringify(snap)), el);
    const input = el.querySelector('input') as HTMLInputElement;
    expect(input.value).toBe('4');
    expect(input.disabled).toBe(true);
    expect((el.querySelector('.rc-w') as HTMLElement).style.width).toBe('300px');
    expect(el.dataset.mounted).toBe('snapshot');
  });
});
