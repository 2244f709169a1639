// The cell's stylesheet. It lives in the cell's shadow root: the host page cannot restyle the cell by
// accident, and the cell cannot restyle the page. Authors theme it through CSS custom properties
// (--runcell-*, which inherit into the shadow root); the names are documented in docs/embed.md.
export const CELL_CSS = `
:host{display:block;margin:1.25em 0;text-align:left;
--rc-accent:var(--runcell-accent,#2563eb);--rc-accent-fg:var(--runcell-accent-fg,#fff);
--rc-bg:var(--runcell-bg,#fff);--rc-fg:var(--runcell-fg,#1f2328);--rc-muted:var(--runcell-muted,#5b636e);
--rc-border:var(--runcell-border,#d5dae1);--rc-surface:var(--runcell-surface,#f5f7fa);--rc-surface-2:var(--runcell-surface-2,#fafbfc);
--rc-radius:var(--runcell-radius,10px);--rc-font:var(--runcell-font,system-ui,-apple-system,"Segoe UI",Roboto,sans-serif);
--rc-mono:var(--runcell-mono,ui-monospace,SFMono-Regular,"JetBrains Mono",Menlo,Consolas,monospace);
--rc-code-size:var(--runcell-code-size,14px);--rc-output-font:14px/1.5 var(--rc-font);
--rc-danger:#cf222e;--rc-ok:#1a7f37;--rc-warn:#9a6700;--rc-active-line:rgba(37,99,235,.05);--rc-selection:rgba(37,99,235,.18);
--rc-syn-keyword:#8250df;--rc-syn-string:#0a3069;--rc-syn-number:#0550ae;--rc-syn-comment:#6e7781;--rc-syn-function:#6639ba;
--rc-syn-def:#953800;--rc-syn-builtin:#0550ae;--rc-syn-punct:#57606a}
.rc.dark{--rc-accent:var(--runcell-dark-accent,#4c8dff);--rc-bg:var(--runcell-dark-bg,#0f141a);--rc-fg:var(--runcell-dark-fg,#e6edf3);
--rc-muted:var(--runcell-dark-muted,#9aa4b2);--rc-border:var(--runcell-dark-border,#2b3440);--rc-surface:var(--runcell-dark-surface,#161c24);
--rc-surface-2:var(--runcell-dark-surface-2,#131921);--rc-danger:#ff7b72;--rc-ok:#3fb950;--rc-warn:#d29922;--rc-active-line:rgba(76,141,255,.07);
--rc-selection:rgba(76,141,255,.3);--rc-syn-keyword:#d2a8ff;--rc-syn-string:#a5d6ff;--rc-syn-number:#79c0ff;--rc-syn-comment:#8b949e;
--rc-syn-function:#d2a8ff;--rc-syn-def:#ffa657;--rc-syn-builtin:#79c0ff;--rc-syn-punct:#c9d1d9}
*{box-sizing:border-box}
.rc{position:relative;background:var(--rc-bg);color:var(--rc-fg);border:1px solid var(--rc-border);border-radius:var(--rc-radius);font:14px/1.45 var(--rc-font);
overflow:hidden;box-shadow:0 1px 2px rgba(16,24,40,.04)}
.rc.drop{outline:2px dashed var(--rc-accent);outline-offset:-4px}
.rc-editor{background:var(--rc-surface);border-bottom:1px solid var(--rc-border);min-height:44px;position:relative}
.rc-textarea{display:block;width:100%;border:0;margin:0;padding:10px 14px 10px 14px;resize:vertical;background:transparent;color:var(--rc-fg);
font:var(--rc-code-size)/1.55 var(--rc-mono);tab-size:4;white-space:pre;overflow:auto;outline:none}
.rc-textarea:focus-visible{box-shadow:inset 0 0 0 2px var(--rc-selection)}
.rc-cm .cm-editor{max-height:70vh}.rc-cm .cm-content{padding-left:4px}
.rc-bar{display:flex;flex-wrap:wrap;align-items:center;gap:6px;padding:8px 10px;border-bottom:1px solid var(--rc-border)}
.rc-bar[hidden],.rc [hidden]{display:none!important}
button,select{font:500 13px/1 var(--rc-font);color:var(--rc-fg);background:var(--rc-bg);border:1px solid var(--rc-border);border-radius:7px;
padding:0 11px;height:32px;cursor:pointer;display:inline-flex;align-items:center;gap:6px;touch-action:manipulation}
button:hover:not(:disabled),select:hover{border-color:var(--rc-muted)}
button:focus-visible,select:focus-visible{outline:2px solid var(--rc-accent);outline-offset:1px}
button:disabled{opacity:.5;cursor:default}
button.primary{background:var(--rc-accent);border-color:var(--rc-accent);color:var(--rc-accent-fg);font-weight:600;padding:0 14px}
button.primary:hover:not(:disabled){filter:brightness(1.08);border-color:var(--rc-accent)}
button svg{width:14px;height:14px;flex:none}
.rc-spacer{flex:1}
.rc-kbd{font:11px var(--rc-mono);color:var(--rc-muted);margin-left:2px}
.rc-status{display:inline-flex;align-items:center;gap:6px;font-size:12px;color:var(--rc-muted);white-space:nowrap;padding:0 4px}
.rc-dot{width:8px;height:8px;border-radius:50%;background:var(--rc-border);flex:none}
.rc[data-status=ready] .rc-dot,.rc[data-status=idle] .rc-dot{background:var(--rc-ok)}
.rc[data-status=busy] .rc-dot{background:var(--rc-accent);animation:rc-pulse 1s ease-in-out infinite}
.rc[data-status=connecting] .rc-dot,.rc[data-status=reconnecting] .rc-dot,.rc[data-status=restarting] .rc-dot{background:var(--rc-warn);animation:rc-pulse 1s ease-in-out infinite}
.rc[data-status=dead] .rc-dot{background:var(--rc-danger)}
@keyframes rc-pulse{50%{opacity:.35}}
@media (prefers-reduced-motion:reduce){.rc-dot{animation:none!important}}
.rc-banner{display:flex;align-items:center;gap:10px;flex-wrap:wrap;padding:10px 14px;font-size:13px;border-bottom:1px solid var(--rc-border);
background:color-mix(in srgb,var(--rc-danger) 8%,var(--rc-bg));color:var(--rc-fg)}
.rc-banner.info{background:color-mix(in srgb,var(--rc-accent) 7%,var(--rc-bg))}
.rc-banner .msg{flex:1;min-width:12em}
.rc-progress{display:flex;align-items:center;gap:10px;padding:8px 14px;font-size:12px;color:var(--rc-muted);border-bottom:1px solid var(--rc-border)}
.rc-progress .track{flex:1;height:6px;border-radius:3px;background:var(--rc-surface);overflow:hidden}
.rc-progress .fill{height:100%;width:0;background:var(--rc-accent);transition:width .15s}
.rc-share{padding:12px 14px;border-bottom:1px solid var(--rc-border);display:grid;gap:8px;font-size:13px;background:var(--rc-surface-2)}
.rc-share .row{display:flex;gap:6px}
.rc-share input,.rc-share textarea{flex:1;min-width:0;font:12px/1.4 var(--rc-mono);color:var(--rc-fg);background:var(--rc-bg);border:1px solid var(--rc-border);
border-radius:7px;padding:7px 9px}
.rc-share textarea{resize:vertical;min-height:64px;width:100%}
.rc-share .label{font-weight:600;font-size:12px;color:var(--rc-muted)}
.rc-outputs{padding:0;min-height:0;max-height:var(--runcell-output-max-height,28em);overflow:auto;overscroll-behavior:contain}
.rc-outputs:not(:empty){padding:10px 14px 8px}
.rc-expanded .rc-outputs{max-height:none}
.rc-outbar{display:flex;justify-content:flex-end;gap:4px;padding:0 8px 6px}
.rc-empty .rc-outbar{display:none}
.rc-outbar button{height:26px;font-size:12px;padding:0 9px;color:var(--rc-muted);background:0;border-color:transparent}
pre .rc-elided{display:flex;width:100%;margin:4px 0;height:auto;padding:5px 8px;justify-content:center;font:12px var(--rc-font);
color:var(--rc-accent);background:color-mix(in srgb,var(--rc-accent) 6%,var(--rc-bg));border:1px dashed color-mix(in srgb,var(--rc-accent) 45%,var(--rc-bg))}
.rc-stale .rc-output,.rc-stale .rc-stream{opacity:.55}
.rc-stale-note{font-size:12px;color:var(--rc-muted);margin:0 0 6px}
.rc-sr{position:absolute;width:1px;height:1px;overflow:hidden;clip-path:inset(50%);white-space:nowrap}
.rc-keys-btn{width:32px;padding:0;justify-content:center;font-weight:700}
.rc-outputs:not([data-empty=""]):empty::before{content:attr(data-empty);display:block;padding:10px 14px;font-size:12px;color:var(--rc-muted)}
.rc-output+.rc-output,.rc-stream+.rc-output,.rc-output+.rc-stream{margin-top:6px}
pre{margin:0;font:13px/1.5 var(--rc-mono);white-space:pre-wrap;word-break:break-word;overflow-wrap:anywhere}
.rc-stderr{color:var(--rc-danger);background:color-mix(in srgb,var(--rc-danger) 5%,transparent);border-radius:4px;padding:2px 4px;margin:2px -4px}
.rc-traceback{padding:8px 10px;border-radius:7px;background:color-mix(in srgb,var(--rc-danger) 6%,var(--rc-bg));
border-left:3px solid var(--rc-danger);overflow-x:auto;white-space:pre}
.rc-execute_result[data-count]{position:relative}
.rc-image{display:block;max-width:100%;height:auto;border-radius:4px;background:#fff}
.rc-json{color:var(--rc-muted)}
.rc-notice{font-size:12px;padding:8px 10px;border-radius:7px;background:color-mix(in srgb,var(--rc-warn) 10%,var(--rc-bg));
border:1px solid color-mix(in srgb,var(--rc-warn) 35%,var(--rc-bg));color:var(--rc-fg)}
.rc-notice::before{content:"⚠ ";color:var(--rc-warn)}
.rc-frame{display:block;width:100%;height:60px;border:1px solid var(--rc-border);border-radius:6px;background:#fff}
.rc-input{display:flex;gap:6px;align-items:center;flex-wrap:wrap;margin:6px 0}
.rc-input label{display:flex;align-items:center;gap:8px;flex:1;font:13px var(--rc-mono);white-space:pre}
.rc-input input{flex:1;min-width:8em;font:14px var(--rc-mono);padding:6px 8px;border:1px solid var(--rc-accent);border-radius:6px;
background:var(--rc-bg);color:var(--rc-fg);outline:none}
.rc-files{display:flex;flex-wrap:wrap;gap:6px;margin-top:6px;font-size:12px}
.rc-files a{color:var(--rc-accent);text-decoration:none;border:1px solid var(--rc-border);border-radius:999px;padding:3px 9px}
.rc-muted{color:var(--rc-muted)}
.ansi-bold{font-weight:700}.ansi-dim{opacity:.7}.ansi-italic{font-style:italic}.ansi-underline{text-decoration:underline}
.ansi-fg-0{color:#3e4451}.ansi-fg-1{color:#c4232c}.ansi-fg-2{color:#1a7f37}.ansi-fg-3{color:#9a6700}.ansi-fg-4{color:#0550ae}.ansi-fg-5{color:#8250df}
.ansi-fg-6{color:#0a7d8c}.ansi-fg-7{color:#6e7781}.ansi-fg-8{color:#57606a}.ansi-fg-9{color:#e5534b}.ansi-fg-10{color:#2da44e}.ansi-fg-11{color:#bf8700}
.ansi-fg-12{color:#218bff}.ansi-fg-13{color:#a475f9}.ansi-fg-14{color:#1b9aaa}.ansi-fg-15{color:#8c959f}
.ansi-bg-0{background:#3e4451}.ansi-bg-1{background:#ffd8d3}.ansi-bg-2{background:#d1f5d8}.ansi-bg-3{background:#fff1c2}.ansi-bg-4{background:#d6e6ff}
.ansi-bg-5{background:#ecdcff}.ansi-bg-6{background:#cff3f5}.ansi-bg-7{background:#eaeef2}.ansi-bg-8{background:#8c959f}.ansi-bg-9{background:#ffc1ba}
.ansi-bg-10{background:#aff0bd}.ansi-bg-11{background:#fae17d}.ansi-bg-12{background:#b6d7ff}.ansi-bg-13{background:#d8b9ff}.ansi-bg-14{background:#a5e8ee}.ansi-bg-15{background:#fff}
.rc.dark .ansi-fg-0{color:#8b949e}.rc.dark .ansi-fg-1{color:#ff7b72}.rc.dark .ansi-fg-2{color:#3fb950}.rc.dark .ansi-fg-3{color:#d29922}
.rc.dark .ansi-fg-4{color:#58a6ff}.rc.dark .ansi-fg-5{color:#bc8cff}.rc.dark .ansi-fg-6{color:#39c5cf}.rc.dark .ansi-fg-7{color:#b1bac4}
.rc.dark [class*=ansi-bg-]{color:#0f141a}
@media (max-width:560px){.rc-keys-btn{display:none}.rc-textarea{font-size:16px}.rc-cm .cm-editor{font-size:15px}.rc-bar{gap:5px;padding:8px}button,select{height:36px;padding:0 10px}
.rc-upload span,.rc-share-btn span,.rc-restart span,.rc-interrupt span{display:none}.rc-lang{max-width:100%}.rc-status .label{max-width:9em;overflow:hidden;text-overflow:ellipsis}}
`;
