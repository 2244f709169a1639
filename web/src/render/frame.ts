// Output that needs scripts (HTML that carried <script>) runs only in a sandboxed iframe: allow-scripts
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

export function renderInFrame(html: string): HTMLElement {
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
      w.postMessage({ runcell: 'render', html }, '*');
    },
    { once: true },
  );
  return f;
}
