import { describe, expect, it } from 'vitest';
import { WIDGET_VIEW_MIME, WidgetNames } from '../../../server/jobs/widgets.js';

describe('widget views in job results', () => {
  it('become text naming the widget, for protocol 1 and 2 comm_opens', () => {
    const w = new WidgetNames();
    w.open({ comm_id: 'a', target_name: 'jupyter.widget', data: { _view_name: 'IntSliderView', value: 3 } });
    w.open({
      comm_id: 'b',
      target_name: 'jupyter.widget',
      data: { state: { _model_name: 'VBoxModel', _view_name: 'VBoxView' }, buffer_paths: [] },
    });
    expect(w.placeholder({ [WIDGET_VIEW_MIME]: { model_id: 'a' } })).toEqual({
      'text/plain': '[IntSlider widget: interactive widgets are not kept in job results]',
    });
    expect(
      w.placeholder({ [WIDGET_VIEW_MIME]: { model_id: 'b' }, 'text/plain': 'VBox(children=(…))' })[
        'text/plain'
      ],
    ).toBe('[VBox widget VBox(children=(…)): interactive widgets are not kept in job results]');
    expect(w.placeholder({ [WIDGET_VIEW_MIME]: { model_id: 'zz' } })['text/plain']).toContain('[a widget');
  });

  it('keep every other bundle and ignore other comm targets', () => {
    const w = new WidgetNames();
    w.open({ comm_id: 'm', target_name: 'matplotlib', data: { _view_name: 'X' } });
    const png = { 'image/png': 'iVBOR', 'text/plain': '<Figure>' };
    expect(w.placeholder(png)).toBe(png);
  });
});
