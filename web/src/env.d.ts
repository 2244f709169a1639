// Build-time constants (web/vite.config.ts `define`) and the globals the embed sets.
declare const __KATEX_VERSION__: string;

interface Window {
  RunCell?: import('./index.js').RunCellApi;
}

declare var RUNCELL_STATIC: string | undefined;
