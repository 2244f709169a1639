// Where runcell.js was served from: lazy assets (KaTeX styles, the sandbox frame) load from there, and
// the runcell server defaults to that origin. document.currentScript is only set while the script runs
// for the first time, so this is read once at load.
function detectStaticBase(): string {
  const fromWrapper = (globalThis as { RUNCELL_STATIC?: unknown }).RUNCELL_STATIC;
  if (typeof fromWrapper === 'string') return fromWrapper;
  if (typeof document === 'undefined') return 'http://localhost/static/'; // unit tests in Node
  const script = document.currentScript as HTMLScriptElement | null;
  if (script?.src) return new URL('.', script.src).href;
  return new URL('/static/', location.href).href;
}

export const STATIC_BASE = detectStaticBase();
export const DEFAULT_SERVER = new URL(STATIC_BASE).origin;
