// Cell options: from JavaScript (makeCell), or from attributes on the element (data-* on any element,
// plain names on <run-cell>). Every option is documented in docs/embed.md.
import { DEFAULT_SERVER } from './base.js';
import type { Output } from './messages.js';
import type { TransportMode } from './transport/index.js';

export const CONTROLS = [
  'run',
  'interrupt',
  'restart',
  'share',
  'upload',
  'language',
  'status',
  'toolbar',
] as const;
export type Control = (typeof CONTROLS)[number];
export type Theme = 'light' | 'dark' | 'auto';

export interface CellOptions {
  /** Origin of the runcell server (default: where runcell.js came from). */
  server?: string;
  /** Kernel spec name, e.g. "python3" (default: the server's default). */
  kernel?: string;
  /** Language for the editor mode when it differs from the kernel's (default: from the kernel name). */
  language?: string;
  /** The code (default: the element's text). */
  code?: string;
  /** Cells with the same link key share one kernel; without one, each cell has its own. */
  link?: string;
  autorun?: boolean;
  /**
   * Start the kernel (from the server's warm pool) and connect as soon as the cell is on screen, so
   * the first Run only executes. Costs a kernel per page view: off unless the author opts in.
   */
  eager?: boolean;
  readOnly?: boolean;
  /** Controls to hide. */
  hide?: Control[];
  /** Text of the Run button. */
  runLabel?: string;
  theme?: Theme;
  /** Force one transport; auto tries the websocket and falls back to long-poll. */
  transport?: TransportMode;
  /** API token, for servers that do not allow anonymous cells. */
  token?: string;
  /** Show a kernel picker filled from the server's kernel specs. */
  languagePicker?: boolean;
  lineNumbers?: boolean;
  /** Outputs to show before any run (e.g. stored with a permalink). */
  outputs?: Output[];
  /** Shown in an empty output area. */
  placeholder?: string;
  /** The cell's accessible name (default: "Code cell N of M"). */
  label?: string;
  /** Lines of a stream shown before its middle is left out, with a "show all" marker (0: never). */
  maxOutputLines?: number;
  /** What Restart does to the outputs shown: mark them as from the previous kernel, or clear them. */
  restartOutputs?: 'mark' | 'clear';
}

export interface ResolvedOptions
  extends Required<Omit<CellOptions, 'kernel' | 'link' | 'token' | 'language' | 'outputs' | 'label'>> {
  label: string | undefined;
  kernel: string | undefined;
  link: string | undefined;
  token: string | undefined;
  language: string;
  outputs: Output[];
}

const bool = (v: string | null): boolean | undefined =>
  v === null ? undefined : v === '' || !/^(false|0|no|off)$/i.test(v);

function pick<T extends string>(v: string | null | undefined, allowed: readonly T[]): T | undefined {
  return v && (allowed as readonly string[]).includes(v) ? (v as T) : undefined;
}

export function parseHide(v: string | null | undefined): Control[] {
  if (!v) return [];
  return v
    .split(/[\s,]+/)
    .map((s) => s.trim().toLowerCase())
    .filter((s): s is Control => (CONTROLS as readonly string[]).includes(s));
}

/** Options written on an element: data-kernel="…" (any element) or kernel="…" (<run-cell>). */
export function optionsFromElement(el: Element): CellOptions {
  const get = (name: string) =>
    el.getAttribute(`data-${name}`) ?? (el.localName === 'run-cell' ? el.getAttribute(name) : null);
  const o: CellOptions = {};
  const str = (
    name: string,
    key: 'server' | 'kernel' | 'language' | 'link' | 'runLabel' | 'token' | 'placeholder' | 'label',
  ) => {
    const v = get(name);
    if (v !== null && v !== '') o[key] = v;
  };
  str('server', 'server');
  str('kernel', 'kernel');
  str('language', 'language');
  str('link', 'link');
  str('run-label', 'runLabel');
  str('token', 'token');
  str('placeholder', 'placeholder');
  str('label', 'label');
  const lines = get('max-output-lines');
  if (lines !== null && /^\d+$/.test(lines.trim())) o.maxOutputLines = Number(lines);
  const restart = pick(get('restart-outputs'), ['mark', 'clear'] as const);
  if (restart) o.restartOutputs = restart;
  const flags: [string, 'autorun' | 'eager' | 'readOnly' | 'languagePicker' | 'lineNumbers'][] = [
    ['autorun', 'autorun'],
    ['eager', 'eager'],
    ['readonly', 'readOnly'],
    ['language-picker', 'languagePicker'],
    ['line-numbers', 'lineNumbers'],
  ];
  for (const [name, key] of flags) {
    const b = bool(get(name));
    if (b !== undefined) o[key] = b;
  }
  const hide = get('hide');
  if (hide) o.hide = parseHide(hide);
  const theme = pick(get('theme'), ['light', 'dark', 'auto'] as const);
  if (theme) o.theme = theme;
  const transport = pick(get('transport'), ['auto', 'websocket', 'longpoll'] as const);
  if (transport) o.transport = transport;
  return o;
}

/** Removes the indentation common to every line, and blank first and last lines. */
export function dedent(text: string): string {
  const lines = text
    .replace(/\r\n?/g, '\n')
    .replace(/^\s*\n/, '')
    .replace(/\s+$/, '')
    .split('\n');
  const indents = lines.filter((l) => l.trim()).map((l) => /^[ \t]*/.exec(l)?.[0].length ?? 0);
  const cut = indents.length ? Math.min(...indents) : 0;
  return lines.map((l) => l.slice(cut)).join('\n');
}

export function resolveOptions(o: CellOptions, fallbackCode: string): ResolvedOptions {
  const server = (o.server ?? DEFAULT_SERVER).replace(/\/+$/, '');
  const kernel = o.kernel;
  return {
    server,
    kernel,
    language: o.language ?? kernel ?? 'python',
    code: o.code ?? dedent(fallbackCode),
    link: o.link,
    autorun: o.autorun ?? false,
    eager: o.eager ?? false,
    readOnly: o.readOnly ?? false,
    hide: o.hide ?? [],
    runLabel: o.runLabel ?? 'Run',
    theme: o.theme ?? 'auto',
    transport: o.transport ?? 'auto',
    token: o.token,
    languagePicker: o.languagePicker ?? false,
    lineNumbers: o.lineNumbers ?? false,
    outputs: o.outputs ?? [],
    placeholder: o.placeholder ?? '',
    label: o.label,
    maxOutputLines:
      Number.isInteger(o.maxOutputLines) && (o.maxOutputLines as number) >= 0
        ? (o.maxOutputLines as number)
        : 400,
    restartOutputs: o.restartOutputs === 'clear' ? 'clear' : 'mark',
  };
}
