// The widgets' stylesheet (lazy chunk), added once to each shadow root that shows a widget. Colours
// come from the cell's theme variables; controls are touch-sized on coarse pointers.
export const WIDGET_CSS = `.rc-widget{display:block;margin:4px 0}.rc-widget:not([data-mounted]){color:var(--rc-muted,#666);font:13px var(--rc-mono,monospace);white-space:pre-wrap}
.rc-widget-gone::after{content:" (widget not available: run the cell to show it)";font-style:italic}
.rc-w{box-sizing:border-box;font:14px/1.4 var(--rc-font,system-ui,sans-serif);color:var(--rc-fg,#222);max-width:100%}
.rc-w-row{display:flex;align-items:center;gap:8px;margin:2px 0;min-height:32px}
.rc-w-desc{flex:none;width:var(--rc-w-desc,auto);max-width:40%;overflow:hidden;text-overflow:ellipsis;white-space:nowrap;text-align:right}
.rc-w-desc[hidden]{display:none}
.rc-w-slider{position:relative;flex:1 1 auto;min-width:120px;max-width:360px;display:flex;align-items:center}
.rc-w-range{width:100%;accent-color:var(--rc-accent,#2563eb);margin:0;height:28px}
.rc-w-two .rc-w-range{position:absolute;left:0;right:0;pointer-events:none;background:none}
.rc-w-two .rc-w-range::-webkit-slider-thumb{pointer-events:auto}.rc-w-two .rc-w-range::-moz-range-thumb{pointer-events:auto}
.rc-w-vertical{writing-mode:vertical-lr;direction:rtl;width:28px;height:160px}
.rc-w-readout{min-width:3ch;font:13px var(--rc-mono,monospace);color:var(--rc-fg,#222)}
.rc-w-select,.rc-w-text{font:inherit;color:inherit;background:var(--rc-bg,#fff);border:1px solid var(--rc-border,#ccc);border-radius:6px;padding:4px 8px;min-height:32px;box-sizing:border-box;max-width:100%}
.rc-w-text{flex:1 1 auto;min-width:120px}.rc-w-number{max-width:12em}textarea.rc-w-text{resize:vertical}
.rc-w-radios{display:flex;flex-direction:column;gap:2px}.rc-w-radio{display:flex;align-items:center;gap:6px}
.rc-w-toggles{display:flex;flex-wrap:wrap;gap:4px}
.rc-w-button{font:inherit;cursor:pointer;border:1px solid var(--rc-border,#ccc);background:var(--rc-surface,#f4f4f5);color:var(--rc-fg,#222);border-radius:6px;padding:4px 12px;min-height:32px;min-width:32px}
.rc-w-button:hover:not(:disabled){filter:brightness(.95)}.rc-w-button[aria-pressed=true]{background:var(--rc-accent,#2563eb);color:#fff;border-color:transparent}
.rc-w-button:disabled,.rc-w input:disabled,.rc-w select:disabled,.rc-w textarea:disabled{opacity:.55;cursor:not-allowed}
.rc-w-primary{background:#2563eb;color:#fff;border-color:transparent}.rc-w-success{background:#16a34a;color:#fff;border-color:transparent}
.rc-w-info{background:#0891b2;color:#fff;border-color:transparent}.rc-w-warning{background:#d97706;color:#fff;border-color:transparent}
.rc-w-danger{background:#dc2626;color:#fff;border-color:transparent}
.rc-w-check{width:18px;height:18px;accent-color:var(--rc-accent,#2563eb)}
.rc-w-play{display:flex;gap:4px}.rc-w-progress{flex:1 1 auto;max-width:360px;height:12px;accent-color:var(--rc-accent,#2563eb)}
.rc-w-valid{color:var(--rc-ok,#16a34a)}.rc-w-valid.rc-w-bad{color:var(--rc-danger,#dc2626)}
.rc-w-box{display:flex;gap:4px}.rc-w-vbox{flex-direction:column}.rc-w-hbox{flex-direction:row;flex-wrap:wrap;align-items:center}.rc-w-grid{display:grid}
.rc-w-tabbar{display:flex;flex-wrap:wrap;border-bottom:1px solid var(--rc-border,#ccc)}
.rc-w-tabhead{font:inherit;cursor:pointer;background:none;border:1px solid transparent;border-bottom:none;border-radius:6px 6px 0 0;padding:6px 12px;color:var(--rc-muted,#666);min-height:32px}
.rc-w-tabhead[aria-selected=true]{color:var(--rc-fg,#222);border-color:var(--rc-border,#ccc);background:var(--rc-bg,#fff);margin-bottom:-1px}
.rc-w-accordion>.rc-w-tabhead{display:block;width:100%;text-align:left;border:1px solid var(--rc-border,#ccc);border-radius:6px;margin-top:4px;color:var(--rc-fg,#222)}
.rc-w-accordion>.rc-w-tabhead::before{content:"▸ "}.rc-w-accordion>.rc-w-tabhead[aria-expanded=true]::before{content:"▾ "}
.rc-w-panel{padding:8px 4px}.rc-w-panel[hidden]{display:none}
.rc-w-html{overflow-x:auto}.rc-w-html img{max-width:100%}.rc-w-image img{max-width:100%;height:auto}
.rc-w-output{display:block;min-height:1em}
.rc-w-notice{color:var(--rc-muted,#666);font-style:italic;border:1px dashed var(--rc-border,#ccc);border-radius:6px;padding:6px 10px}
.rc-w-inactive{opacity:.75}.rc-w-inactive input,.rc-w-inactive select,.rc-w-inactive button,.rc-w-inactive textarea{pointer-events:none}
@media (pointer:coarse){.rc-w-row{min-height:44px}.rc-w-button,.rc-w-select,.rc-w-text,.rc-w-tabhead{min-height:44px}.rc-w-range{height:44px}.rc-w-check{width:24px;height:24px}}`;
