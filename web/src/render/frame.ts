// Output that needs scripts (HTML that carried <script>, application/javascript) runs only in a sandboxed iframe: allow-scripts
// without allow-same-origin, so it has an opaque origin and can touch neither the host page, nor the
// runcell server's cookies or storage. The frame document (frame.html) is served by the runcell server
// with its own Content-Security-Policy; it receives the HTML by postMessage and reports its height.
import { STATIC_BASE } from '../base.js';

const frames = new Map<MessageEventSource, HTMLIFrameElement>();
let listening = false;

function listen(): void {
  if (listening) return;
  listening = true;
  window.addEventListener('message', (e: MessageEvent) => {
    const f = e.source ? frames.get(e.source) : undefined;
    if (!f) return;
    if (!f.isConnected) {
      frames.delete(e.source as MessageEventSource);
      return;
    }
    const h = (e.data as { runcellHeight?: unknown } | null)?.runcellHeight;
    if (typeof h === 'number' && Number.isFinite(h)) f.style.height = `${Math.min(Math.max(h, 24), 1600)}px`;
  });
}

/** Kernel HTML that carried scripts, as that frame's document. */
export function renderInFrame(html: string): HTMLElement {
  return frame({ runcell: 'render', html });
}

/**
 * application/javascript (IPython's Javascript): run in the frame as a script, with `element` (the
 * output's own <div>, a DOM element rather than the notebook's jQuery object) in scope as the notebook
 * gives it. Sent as text and inserted as a script element by the frame, so nothing needs escaping.
 */
export function runInFrame(script: string): HTMLElement {
  return frame({ runcell: 'render', html: '<div id="runcell-output"></div>', script });
}

function frame(message: { runcell: 'render'; html: string; script?: string }): HTMLElement {
  listen();
  const f = document.createElement('iframe');
  f.className = 'rc-frame';
  f.setAttribute('sandbox', 'allow-scripts allow-popups');
  f.setAttribute('referrerpolicy', 'no-referrer');
  f.setAttribute('title', 'Output (runs in a sandbox)');
  f.src = `${STATIC_BASE}frame.html`;
  f.addEventListener(
    'load',
    () => {
      const w = f.contentWindow;
      if (!w) return;
      frames.set(w, f);
      // The frame's origin is opaque: '*' is the only target that reaches it. It gets only kernel output.
      w.postMessage(message, '*');
    },
    { once: true },
  );
  return f;
}
