// Sandboxed output frame (served with a CSP sandbox: opaque origin). Waits for one message from the
// embedding cell, then becomes that output's document, with a small reporter of its height. A message
// with a `script` (application/javascript output) also runs that script, with `element` set to the
// output's <div>; it is inserted as a script element, so its text needs no escaping.
addEventListener('message', function onMessage(e) {
  if (e.source !== parent || !e.data || e.data.runcell !== 'render') return;
  removeEventListener('message', onMessage);
  var reporter =
    '(function(){function r(){parent.postMessage({runcellHeight:document.documentElement.scrollHeight},"*")}' +
    'if(window.ResizeObserver)new ResizeObserver(r).observe(document.documentElement);addEventListener("load",r);r();})();';
  var close = '</' + 'script>';
  var script;
  document.open();
  document.write(
    '<!doctype html><html><head><meta charset="utf-8"><base target="_blank">' +
      '<style>body{margin:0;font:14px/1.5 system-ui,sans-serif;color:#1f2328}</style>' +
      '</head><body>' +
      String(e.data.html) +
      '<script>' +
      reporter +
      close +
      '</body></html>',
  );
  document.close();
  if (typeof e.data.script === 'string') {
    window.element = document.getElementById('runcell-output') || document.body;
    script = document.createElement('script');
    script.textContent = e.data.script;
    document.body.appendChild(script);
  }
});
