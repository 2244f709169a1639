// _view_name -> view. Widgets from other modules (bqplot, ipyleaflet…) and views runcell does not have
// get a notice that says so, with their name, instead of nothing.
import { box, html, image, label, output, tabs } from './containers.js';
import {
  button,
  checkbox,
  choices,
  numberText,
  play,
  progress,
  select,
  selectionSlider,
  slider,
  text,
  toggleButton,
  valid,
} from './controls.js';
import { h, root } from './dom.js';
import type { ViewContext, WidgetModel } from './model.js';

type View = (m: WidgetModel, mgr: ViewContext) => HTMLElement;

const VIEWS: Record<string, View> = {
  IntSliderView: (m) => slider(m),
  FloatSliderView: (m) => slider(m),
  FloatLogSliderView: (m) => slider(m, true),
  IntRangeSliderView: (m) => slider(m),
  FloatRangeSliderView: (m) => slider(m),
  SelectionSliderView: (m) => selectionSlider(m),
  DropdownView: (m) => select(m, 'dropdown'),
  SelectView: (m) => select(m, 'list'),
  SelectMultipleView: (m) => select(m, 'multiple'),
  RadioButtonsView: (m) => choices(m, 'radio'),
  ToggleButtonsView: (m) => choices(m, 'toggle'),
  CheckboxView: (m) => checkbox(m),
  ToggleButtonView: (m) => toggleButton(m),
  ButtonView: (m) => button(m),
  TextView: (m) => text(m, false),
  PasswordView: (m) => text(m, false),
  TextareaView: (m) => text(m, true),
  IntTextView: (m) => numberText(m, true),
  FloatTextView: (m) => numberText(m, false),
  PlayView: (m) => play(m),
  ProgressView: (m) => progress(m),
  ValidView: (m) => valid(m),
  LabelView: (m) => label(m),
  HTMLView: (m, mgr) => html(m, mgr, false),
  HTMLMathView: (m, mgr) => html(m, mgr, true),
  ImageView: (m) => image(m),
  OutputView: (m, mgr) => output(m, mgr),
  BoxView: (m, mgr) => box(m, mgr, 'vbox'),
  VBoxView: (m, mgr) => box(m, mgr, 'vbox'),
  HBoxView: (m, mgr) => box(m, mgr, 'hbox'),
  GridBoxView: (m, mgr) => box(m, mgr, 'grid'),
  TabView: (m, mgr) => tabs(m, mgr, false),
  AccordionView: (m, mgr) => tabs(m, mgr, true),
};

/** Modules whose views runcell draws itself (6.x, 7.x and 8.x names). */
const KNOWN = /^(jupyter-js-widgets|@jupyter-widgets\/(controls|base|output))$/;

export function renderView(model: WidgetModel, mgr: ViewContext): HTMLElement {
  const module = String(model.get('_view_module') ?? '');
  const make = KNOWN.test(module) ? VIEWS[model.viewName] : undefined;
  let el: HTMLElement;
  if (make) el = make(model, mgr);
  else {
    el = root(model, 'rc-w-unknown');
    const what = `${module || 'unknown module'} ${model.viewName.replace(/View$/, '') || model.name}`;
    el.append(h('div', 'rc-w-notice', `This widget (${what}) is not available here.`));
    el.setAttribute('role', 'note');
  }
  return el;
}
