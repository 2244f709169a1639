// Views of the value widgets: sliders, selections, booleans, text and numbers, buttons, Play.
// Names follow ipywidgets' _view_name (the same in protocol 1 and 2; where a trait differs by version,
// both are read: selections sync `index` in 7/8 and the label as `value` in 6).
import { bind, description, format, h, root, uid } from './dom.js';
import type { WidgetModel } from './model.js';

type El = HTMLElement;
const num = (v: unknown, d = 0): number => (typeof v === 'number' && Number.isFinite(v) ? v : d);

/** A labelled row: description, then the control(s). */
function row(model: WidgetModel, cls: string, control: El, forId?: string): El {
  const el = root(model, `rc-w-row ${cls}`);
  el.append(description(model, forId), control);
  return el;
}

function sliderInput(model: WidgetModel, log: boolean): HTMLInputElement {
  const input = h('input', 'rc-w-range');
  input.type = 'range';
  input.id = uid();
  const vertical = () => model.get('orientation') === 'vertical';
  bind(model, input, () => {
    input.min = String(num(model.get('min')));
    input.max = String(num(model.get('max'), 100));
    input.step = model.get('step') == null ? 'any' : String(num(model.get('step'), 1));
    input.disabled = model.disabled;
    input.classList.toggle('rc-w-vertical', vertical());
    input.setAttribute('aria-orientation', vertical() ? 'vertical' : 'horizontal');
  });
  void log;
  return input;
}

/** IntSlider, FloatSlider, FloatLogSlider, and the range sliders (two thumbs; 6.0 uses `_range`). */
export function slider(model: WidgetModel, log = false): El {
  const isRange = Array.isArray(model.get('value'));
  const track = h('div', 'rc-w-slider');
  const readout = h('output', 'rc-w-readout');
  const base = () => num(model.get('base'), 10);
  const toView = (v: number) => (log ? Math.log(v) / Math.log(base()) : v);
  const fromView = (v: number) => (log ? base() ** v : v);
  const inputs = isRange ? [sliderInput(model, log), sliderInput(model, log)] : [sliderInput(model, log)];
  track.append(...inputs);
  if (isRange) track.classList.add('rc-w-two');
  const send = (final: boolean) => {
    if (!final && model.get('continuous_update') === false) return;
    const vals = inputs.map((i) => fromView(Number(i.value)));
    const v = isRange ? [Math.min(...vals), Math.max(...vals)] : vals[0];
    model.set({ value: v });
  };
  for (const i of inputs) {
    i.addEventListener('input', () => send(false));
    i.addEventListener('change', () => send(true));
  }
  const el = row(model, 'rc-w-slider-row', track, inputs[0]?.id);
  el.append(readout);
  bind(model, el, (keys) => {
    const v = model.get('value');
    const vals = Array.isArray(v) ? v.map((x) => num(x)) : [num(v)];
    if (keys.includes('value') || keys.includes('min') || keys.includes('max'))
      inputs.forEach((i, k) => {
        // A thumb under the user's finger keeps its place; the kernel's value lands when it is let go.
        if (!i.matches(':active')) i.value = String(toView(vals[k] ?? 0));
      });
    readout.hidden = model.get('readout') === false;
    const fmt = model.get('readout_format') ?? (Number.isInteger(vals[0]) ? 'd' : '.2f');
    readout.textContent = vals.map((x) => format(x, fmt)).join(' – ');
  });
  return el;
}

function labelsOf(model: WidgetModel): string[] {
  const l = model.get('_options_labels');
  return Array.isArray(l) ? l.map(String) : [];
}

/** The selected indices, whichever version: `index` (7/8) or the label in `value` (6). */
function selected(model: WidgetModel): number[] {
  const labels = labelsOf(model);
  if ('index' in model.state) {
    const i = model.get('index');
    return Array.isArray(i) ? i.map((x) => num(x, -1)) : i == null ? [] : [num(i, -1)];
  }
  const v = model.get('value');
  return (Array.isArray(v) ? v : [v]).map((x) => labels.indexOf(String(x))).filter((i) => i >= 0);
}

function choose(model: WidgetModel, idx: number[], multiple = false): void {
  const labels = labelsOf(model);
  if ('index' in model.state) model.set({ index: multiple ? idx : (idx[0] ?? null) });
  else model.set({ value: multiple ? idx.map((i) => labels[i]) : labels[idx[0] ?? -1] });
}

/** Dropdown, Select and SelectMultiple: a native <select> (a phone shows its own picker). */
export function select(model: WidgetModel, mode: 'dropdown' | 'list' | 'multiple'): El {
  const sel = h('select', 'rc-w-select');
  sel.id = uid();
  sel.multiple = mode === 'multiple';
  sel.addEventListener('change', () => {
    const idx = [...sel.options].filter((o) => o.selected).map((o) => o.index);
    choose(model, idx, mode === 'multiple');
  });
  const el = row(model, 'rc-w-select-row', sel, sel.id);
  bind(model, el, (keys) => {
    if (keys.includes('_options_labels')) {
      sel.replaceChildren(...labelsOf(model).map((l) => new Option(l)));
    }
    if (mode !== 'dropdown') sel.size = num(model.get('rows'), 5);
    const idx = new Set(selected(model));
    for (const o of sel.options) o.selected = idx.has(o.index);
    if (mode === 'dropdown' && idx.size === 0) sel.selectedIndex = -1;
    sel.disabled = model.disabled;
  });
  return el;
}

/** RadioButtons and ToggleButtons. */
export function choices(model: WidgetModel, kind: 'radio' | 'toggle'): El {
  const group = h('div', kind === 'radio' ? 'rc-w-radios' : 'rc-w-toggles');
  group.setAttribute('role', kind === 'radio' ? 'radiogroup' : 'group');
  const name = uid();
  const el = row(model, 'rc-w-choices-row', group);
  bind(model, el, (keys) => {
    const labels = labelsOf(model);
    if (keys.includes('_options_labels') || keys.includes('tooltips') || keys.includes('button_style')) {
      group.replaceChildren(
        ...labels.map((l, i) => {
          if (kind === 'radio') {
            const lab = h('label', 'rc-w-radio');
            const r = h('input');
            r.type = 'radio';
            r.name = name;
            r.addEventListener('change', () => choose(model, [i]));
            lab.append(r, document.createTextNode(l));
            return lab;
          }
          const b = h('button', 'rc-w-button', l);
          b.type = 'button';
          const style = model.get('button_style');
          if (typeof style === 'string' && style) b.classList.add(`rc-w-${style}`);
          const tips = model.get('tooltips');
          if (Array.isArray(tips) && typeof tips[i] === 'string') b.title = tips[i];
          b.addEventListener('click', () => choose(model, [i]));
          return b;
        }),
      );
    }
    const idx = new Set(selected(model));
    [...group.children].forEach((c, i) => {
      const on = idx.has(i);
      const input = c.querySelector('input');
      if (input) {
        input.checked = on;
        input.disabled = model.disabled;
      } else {
        (c as HTMLButtonElement).setAttribute('aria-pressed', String(on));
        (c as HTMLButtonElement).disabled = model.disabled;
      }
    });
  });
  return el;
}

/** SelectionSlider (a slider over the options). */
export function selectionSlider(model: WidgetModel): El {
  const input = h('input', 'rc-w-range');
  input.type = 'range';
  input.id = uid();
  input.min = '0';
  input.step = '1';
  const readout = h('output', 'rc-w-readout');
  const el = row(model, 'rc-w-slider-row', input, input.id);
  el.append(readout);
  const send = (final: boolean) => {
    if (final || model.get('continuous_update') !== false) choose(model, [Number(input.value)]);
  };
  input.addEventListener('input', () => send(false));
  input.addEventListener('change', () => send(true));
  bind(model, el, () => {
    const labels = labelsOf(model);
    input.max = String(Math.max(0, labels.length - 1));
    const i = selected(model)[0] ?? 0;
    if (!input.matches(':active')) input.value = String(i);
    readout.textContent = labels[i] ?? '';
    input.disabled = model.disabled;
  });
  return el;
}

/** Checkbox and ToggleButton. */
export function checkbox(model: WidgetModel): El {
  const box = h('input', 'rc-w-check');
  box.type = 'checkbox';
  box.id = uid();
  const el = row(model, 'rc-w-check-row', box, box.id);
  box.addEventListener('change', () => model.set({ value: box.checked }));
  bind(model, el, () => {
    box.checked = model.get('value') === true;
    box.disabled = model.disabled;
  });
  return el;
}

function styleButton(model: WidgetModel, b: HTMLButtonElement): void {
  b.className = 'rc-w-button';
  const s = model.get('button_style');
  if (typeof s === 'string' && /^(primary|success|info|warning|danger)$/.test(s))
    b.classList.add(`rc-w-${s}`);
  const style = model.ref('style');
  const color = style?.get('button_color');
  if (typeof color === 'string' && /^(#[0-9a-f]{3,8}|[a-z]{3,20}|rgba?\([\d\s.,%]+\))$/i.test(color))
    b.style.background = color;
  const weight = style?.get('font_weight');
  if (typeof weight === 'string' && /^(bold|normal|lighter|bolder|\d00)$/.test(weight))
    b.style.fontWeight = weight;
}

export function toggleButton(model: WidgetModel): El {
  const b = h('button');
  b.type = 'button';
  const el = root(model, 'rc-w-togglebutton');
  el.append(b);
  b.addEventListener('click', () => model.set({ value: model.get('value') !== true }));
  bind(model, el, () => {
    styleButton(model, b);
    b.textContent = String(model.get('description') ?? '');
    b.setAttribute('aria-pressed', String(model.get('value') === true));
    b.disabled = model.disabled;
    const tip = model.get('tooltip');
    b.title = typeof tip === 'string' ? tip : '';
  });
  return el;
}

/** Button: clicks go to the kernel as the custom {event: 'click'} message (on_click callbacks). */
export function button(model: WidgetModel): El {
  const b = h('button');
  b.type = 'button';
  const el = root(model, 'rc-w-buttonbox');
  el.append(b);
  b.addEventListener('click', () => model.custom({ event: 'click' }));
  bind(model, el, () => {
    styleButton(model, b);
    b.textContent = String(model.get('description') ?? '') || '\u00a0';
    b.disabled = model.disabled;
    const tip = model.get('tooltip');
    b.title = typeof tip === 'string' ? tip : '';
  });
  return el;
}

/** Text and Textarea (Enter in Text sends the custom {event: 'submit'}, for on_submit). */
export function text(model: WidgetModel, area: boolean): El {
  const input = area ? h('textarea', 'rc-w-text') : h('input', 'rc-w-text');
  input.id = uid();
  const el = row(model, 'rc-w-text-row', input, input.id);
  const send = (final: boolean) => {
    if (final || model.get('continuous_update') !== false) model.set({ value: input.value });
  };
  input.addEventListener('input', () => send(false));
  input.addEventListener('change', () => send(true));
  if (!area)
    input.addEventListener('keydown', (e) => {
      if ((e as KeyboardEvent).key !== 'Enter') return;
      send(true);
      model.custom({ event: 'submit' });
    });
  bind(model, el, (keys) => {
    const v = String(model.get('value') ?? '');
    if (keys.includes('value') && input.value !== v) input.value = v;
    const p = model.get('placeholder');
    input.placeholder = typeof p === 'string' && p !== '\u200b' ? p : '';
    if (area) (input as HTMLTextAreaElement).rows = num(model.get('rows'), 3) || 3;
    input.disabled = model.disabled;
  });
  return el;
}

/** IntText, FloatText and their bounded kinds: a number field, sent on change or Enter. */
export function numberText(model: WidgetModel, integer: boolean): El {
  const input = h('input', 'rc-w-text rc-w-number');
  input.type = 'number';
  input.inputMode = integer ? 'numeric' : 'decimal';
  input.id = uid();
  const el = row(model, 'rc-w-text-row', input, input.id);
  const send = () => {
    let v = Number(input.value);
    if (!Number.isFinite(v)) return;
    if (integer) v = Math.round(v);
    const min = model.get('min');
    const max = model.get('max');
    if (typeof min === 'number') v = Math.max(min, v);
    if (typeof max === 'number') v = Math.min(max, v);
    input.value = String(v);
    model.set({ value: v });
  };
  input.addEventListener('change', send);
  bind(model, el, () => {
    if (document.activeElement !== input) input.value = String(model.get('value') ?? '');
    input.step = integer ? '1' : String(model.get('step') ?? 'any');
    input.disabled = model.disabled;
  });
  return el;
}

/** Play: steps `value` from min to max every `interval` ms (protocol 1 names _playing/_repeat). */
export function play(model: WidgetModel): El {
  const bar = h('div', 'rc-w-play');
  const mk = (label: string, glyph: string) => {
    const b = h('button', 'rc-w-button', glyph);
    b.type = 'button';
    b.setAttribute('aria-label', label);
    b.title = label;
    bar.append(b);
    return b;
  };
  const playB = mk('Play', '▶');
  const pauseB = mk('Pause', '❚❚');
  const stopB = mk('Stop', '■');
  const repeatB = mk('Repeat', '↻');
  const key = (k: string) => (`_${k}` in model.state ? `_${k}` : k);
  let timer: ReturnType<typeof setInterval> | undefined;
  const stop = () => {
    clearInterval(timer);
    timer = undefined;
  };
  const start = () => {
    stop();
    timer = setInterval(
      () => {
        if (!bar.isConnected || model.disabled) return stop();
        const v = num(model.get('value')) + num(model.get('step'), 1);
        if (v > num(model.get('max'), 100)) {
          if (model.get(key('repeat')) === true) model.set({ value: num(model.get('min')) });
          else {
            stop();
            model.set({ [key('playing')]: false });
          }
        } else model.set({ value: v });
      },
      Math.max(20, num(model.get('interval'), 100)),
    );
  };
  playB.addEventListener('click', () => {
    if (num(model.get('value')) >= num(model.get('max'), 100)) model.set({ value: num(model.get('min')) });
    model.set({ [key('playing')]: true });
  });
  pauseB.addEventListener('click', () => model.set({ [key('playing')]: false }));
  stopB.addEventListener('click', () => model.set({ [key('playing')]: false, value: num(model.get('min')) }));
  repeatB.addEventListener('click', () => model.set({ [key('repeat')]: model.get(key('repeat')) !== true }));
  const el = row(model, 'rc-w-play-row', bar);
  bind(model, el, () => {
    const playing = model.get(key('playing')) === true;
    if (playing && !timer && !model.disabled) start();
    if ((!playing || model.disabled) && timer) stop();
    playB.setAttribute('aria-pressed', String(playing));
    repeatB.setAttribute('aria-pressed', String(model.get(key('repeat')) === true));
    for (const b of [playB, pauseB, stopB, repeatB]) b.disabled = model.disabled;
  });
  return el;
}

/** IntProgress / FloatProgress. */
export function progress(model: WidgetModel): El {
  const p = h('progress', 'rc-w-progress');
  const el = row(model, 'rc-w-progress-row', p);
  bind(model, el, () => {
    const min = num(model.get('min'));
    p.max = num(model.get('max'), 100) - min;
    p.value = num(model.get('value')) - min;
    const s = model.get('bar_style');
    p.dataset.style = typeof s === 'string' ? s : '';
  });
  return el;
}

/** Valid: a check or a cross with its readout. */
export function valid(model: WidgetModel): El {
  const mark = h('span', 'rc-w-valid');
  const el = row(model, 'rc-w-valid-row', mark);
  bind(model, el, () => {
    const ok = model.get('value') === true;
    mark.textContent = ok ? '✔' : `✘ ${String(model.get('readout') ?? 'Invalid')}`;
    mark.classList.toggle('rc-w-bad', !ok);
  });
  return el;
}
