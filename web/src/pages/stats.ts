// The stats page (/stats): the service's executions, errors, latency percentiles, kernels and client
// connections over time, from GET /api/stats (docs/api.md "Stats"), drawn with uPlot. Asks for an API
// token when the tab has none (kept in sessionStorage under the same key as the other pages, sent as
// a header, never in a URL), refreshes every 15 s while the tab is visible, and says so visibly when
// the token is refused, the server is unreachable, or the range holds nothing yet. Everything from
// the API is shown as text.
import uPlot from 'uplot';
import uplotCss from 'uplot/dist/uPlot.min.css?inline';
import type { StatsReply } from '../../../shared/stats.js';
import { $, ApiError, api, session } from './session.js';
import statsCss from './stats.css?inline';

const REFRESH_MS = 15_000;
const RANGES: Record<string, { ms: number; label: string }> = {
  '1h': { ms: 3_600_000, label: 'hour' },
  '6h': { ms: 6 * 3_600_000, label: '6 hours' },
  '24h': { ms: 24 * 3_600_000, label: '24 hours' },
  '7d': { ms: 7 * 86_400_000, label: '7 days' },
};
const COLOURS = ['#2563eb', '#dc2626', '#ea580c', '#7c3aed', '#0891b2', '#16a34a', '#db2777', '#64748b'];
const ERROR_COLOURS: Record<string, string> = { error: '#dc2626', timeout: '#ea580c', aborted: '#7c3aed' };

const style = document.createElement('style');
style.textContent = uplotCss + statsCss;
document.head.append(style);

const statusLine = $('status');
let range = location.hash.slice(1) in RANGES ? location.hash.slice(1) : '1h';
let timer: number | undefined;
let seq = 0;
const charts = new Map<string, Chart>();

async function fetchStats(): Promise<StatsReply> {
  const to = Date.now();
  const q = new URLSearchParams({
    from: new Date(to - (RANGES[range]?.ms ?? 3_600_000)).toISOString(),
    to: new Date(to).toISOString(),
  });
  return api<StatsReply>('GET', `/api/stats?${q}`);
}

const fmtCount = (n: number) => n.toLocaleString();
function fmtMs(v: number | null): string {
  if (v === null) return '–';
  if (v < 10) return `${v.toFixed(1)} ms`;
  if (v < 1000) return `${Math.round(v)} ms`;
  return `${(v / 1000).toFixed(2)} s`;
}
const fmtBucket = (s: number) =>
  s % 86_400 === 0
    ? `${s / 86_400} d`
    : s % 3600 === 0
      ? `${s / 3600} h`
      : s % 60 === 0
        ? `${s / 60} min`
        : `${s} s`;

function cssVar(name: string, fallback: string): string {
  return getComputedStyle(document.documentElement).getPropertyValue(name).trim() || fallback;
}

interface Line {
  label: string;
  /** What is drawn (for stacked bars: the running sum). */
  values: (number | null)[];
  /** What the legend says, when it differs from what is drawn. */
  shown?: (number | null)[];
  colour?: string;
  bars?: boolean;
  spanGaps?: boolean;
  format?: (v: number) => string;
}

interface Chart {
  plot: uPlot;
  key: string;
  /** The legend's figures per series, replaced on every refresh (the formatters read them here). */
  shown: (number | null)[][];
}

/** Counts have whole-number ticks. */
const INTEGER_INCRS = [1, 2, 5, 10, 20, 50, 100, 200, 500, 1e3, 2e3, 5e3, 1e4, 2e4, 5e4, 1e5, 2e5, 5e5, 1e6];
const fmtTime = (s: number) =>
  new Date(s * 1000).toLocaleString([], {
    month: 'short',
    day: 'numeric',
    hour: '2-digit',
    minute: '2-digit',
  });

/**
 * Draws (or redraws) one chart; a chart whose series changed is rebuilt. Away from the cursor the
 * legend shows the newest bucket, so its figures are readable without hovering (and on phones).
 */
function draw(id: string, x: number[], lines: Line[], opts: { integer?: boolean } = {}): void {
  const host = $(id);
  const key = lines.map((l) => l.label).join('\n');
  const data = [x, ...lines.map((l) => l.values)] as uPlot.AlignedData;
  const shown = lines.map((l) => l.shown ?? l.values);
  const old = charts.get(id);
  if (old && old.key === key) {
    old.shown = shown;
    old.plot.setData(data);
    return;
  }
  old?.plot.destroy();
  const muted = cssVar('--muted', '#5b636e');
  const grid = cssVar('--line', '#e3e7ec');
  const axis = { stroke: muted, grid: { stroke: grid, width: 1 }, ticks: { stroke: grid, width: 1 } };
  const chart = { key, shown } as Chart;
  const at = (u: uPlot, idx: number | null) => idx ?? u.data[0].length - 1;
  chart.plot = new uPlot(
    {
      width: Math.max(200, host.clientWidth),
      height: window.innerWidth < 560 ? 170 : 200,
      cursor: { drag: { x: false, y: false } },
      scales: { y: { range: (_u, _min, max) => [0, max > 0 ? max * 1.1 : 1] } },
      axes: [axis, { ...axis, size: 48, ...(opts.integer ? { incrs: INTEGER_INCRS } : {}) }],
      series: [
        {
          value: (u: uPlot, _v: number, _si: number, idx: number | null) =>
            fmtTime(u.data[0][at(u, idx)] ?? 0),
        },
        ...lines.map((l, i) => {
          const colour = l.colour ?? (COLOURS[i % COLOURS.length] as string);
          return {
            label: l.label,
            stroke: colour,
            width: 2,
            spanGaps: l.spanGaps ?? false,
            points: { show: !l.bars, size: 4 },
            value: (u: uPlot, _v: number, si: number, idx: number | null) => {
              const v = chart.shown[si - 1]?.[at(u, idx)];
              return v == null ? '–' : (l.format ?? fmtCount)(v);
            },
            ...(l.bars ? { fill: `${colour}99`, paths: uPlot.paths.bars?.({ size: [0.8, 40] }) } : {}),
          };
        }),
      ],
    },
    data,
    host,
  );
  charts.set(id, chart);
}

/** Errors by status as stacked bars: each status's bar sits on the ones before it. */
function stackedErrors(s: StatsReply): Line[] {
  const statuses = Object.keys(s.errors_by_status).sort();
  if (statuses.length === 0)
    return [{ label: 'errors', values: s.errors, colour: ERROR_COLOURS.error, bars: true }];
  const sum = new Array<number>(s.time.length).fill(0);
  const lines = statuses.map((k, i) => {
    const own = s.errors_by_status[k] ?? [];
    for (let b = 0; b < sum.length; b++) sum[b] = (sum[b] ?? 0) + (own[b] ?? 0);
    return {
      label: k,
      values: [...sum],
      shown: own,
      colour: ERROR_COLOURS[k] ?? (COLOURS[(i + 3) % COLOURS.length] as string),
      bars: true,
    };
  });
  // Tallest (the running total) first, so each shorter bar is drawn over it.
  return lines.reverse();
}

function render(s: StatsReply): void {
  const t = s.totals;
  $('t-executions').textContent = fmtCount(t.executions);
  $('t-errors').textContent = fmtCount(t.errors);
  $('t-error-rate').textContent =
    t.executions > 0 ? `${((100 * t.errors) / t.executions).toFixed(1)}% of executions` : 'no executions';
  $('t-p50').textContent = fmtMs(t.latency_ms.p50);
  $('t-p90').textContent = fmtMs(t.latency_ms.p90);
  $('t-p99').textContent = fmtMs(t.latency_ms.p99);
  const c = s.current;
  $('t-kernels').textContent = c.at ? fmtCount(c.kernels) : '–';
  $('t-kernels-detail').textContent = c.at
    ? `${c.busy} busy · ${c.pooled} warm · ${c.instances.length} instance${c.instances.length === 1 ? '' : 's'}`
    : 'no instance sampling';

  const label = RANGES[range]?.label ?? 'hour';
  const empty = $('empty');
  empty.hidden = t.executions > 0;
  empty.textContent = `No executions in the last ${label} yet. Run some code and they show up here within ${REFRESH_MS / 1000} s.`;
  const noSamples = $('no-samples');
  noSamples.hidden = s.gauges.instances.some((n) => n > 0);
  noSamples.textContent = `No kernel samples in the last ${label}: sampling is off (RUNCELL_STATS_SAMPLE_MS=0) or has just started.`;

  const x = s.time.map((ms) => ms / 1000);
  const ms = (v: number) => fmtMs(v);
  draw('c-executions', x, [{ label: 'executions', values: s.executions, bars: true }], { integer: true });
  draw('c-errors', x, stackedErrors(s), { integer: true });
  draw('c-latency', x, [
    { label: 'p50', values: s.latency_ms.p50, format: ms },
    { label: 'p90', values: s.latency_ms.p90, format: ms },
    { label: 'p99', values: s.latency_ms.p99, format: ms },
  ]);
  const g = s.gauges;
  const gauge = (v: number) => (Number.isInteger(v) ? String(v) : v.toFixed(1));
  draw('c-kernels', x, [
    { label: 'handed out', values: g.kernels, spanGaps: true, format: gauge },
    { label: 'busy', values: g.busy, spanGaps: true, format: gauge },
    { label: 'warm pool', values: g.pooled, spanGaps: true, format: gauge },
  ]);
  draw('c-connections', x, [
    { label: 'websockets', values: g.websockets, spanGaps: true, format: gauge },
    { label: 'long-polls', values: g.longpolls, spanGaps: true, format: gauge },
  ]);

  const rows: HTMLTableRowElement[] = [];
  for (let i = s.time.length - 1; i >= 0; i--) {
    if (!s.executions[i]) continue;
    const tr = document.createElement('tr');
    for (const v of [
      new Date(s.time[i] as number).toLocaleString(),
      fmtCount(s.executions[i] ?? 0),
      fmtCount(s.errors[i] ?? 0),
      fmtMs(s.latency_ms.p50[i] ?? null),
      fmtMs(s.latency_ms.p90[i] ?? null),
      fmtMs(s.latency_ms.p99[i] ?? null),
      g.kernels[i] == null ? '–' : gauge(g.kernels[i] as number),
    ]) {
      const td = document.createElement('td');
      td.textContent = v;
      tr.append(td);
    }
    rows.push(tr);
  }
  $('rows').replaceChildren(...rows);
  $('updated').textContent =
    `Last ${label} in ${fmtBucket(s.bucket)} buckets · updated ${new Date().toLocaleTimeString()}` +
    (t.unfinished > 0 ? ` · ${t.unfinished} still running or unfinished` : '');
}

function showError(message: string | null): void {
  const e = $('error');
  e.hidden = message === null;
  e.textContent = message ?? '';
}

function signedOut(message: string | null): void {
  window.clearInterval(timer);
  timer = undefined;
  $('board').hidden = true;
  $('ranges').hidden = true;
  $('login').hidden = false;
  statusLine.textContent = 'Sign in with an API token to see the stats.';
  showError(message);
  $<HTMLInputElement>('token').focus();
}

async function refresh(): Promise<void> {
  const mine = ++seq;
  try {
    const s = await fetchStats();
    if (mine !== seq) return;
    $('login').hidden = true;
    $('board').hidden = false;
    $('ranges').hidden = false;
    showError(null);
    statusLine.textContent = `Live: refreshes every ${REFRESH_MS / 1000} s.`;
    render(s);
    timer ??= window.setInterval(() => {
      if (!document.hidden) void refresh();
    }, REFRESH_MS);
  } catch (e) {
    if (mine !== seq) return;
    const err = e instanceof ApiError ? e : new ApiError(0, 'ERROR', String(e));
    if (err.status === 401 || err.status === 403) {
      return signedOut(`The token was refused: ${err.message}.`);
    }
    // Keep what is drawn; say that it is stale and that the page keeps trying.
    showError(`Could not load the stats (${err.message}); retrying every ${REFRESH_MS / 1000} s.`);
    statusLine.textContent = 'Not live.';
    timer ??= window.setInterval(() => {
      if (!document.hidden) void refresh();
    }, REFRESH_MS);
  }
}

function selectRange(r: string): void {
  range = r;
  for (const b of document.querySelectorAll<HTMLButtonElement>('#ranges button'))
    b.setAttribute('aria-pressed', String(b.dataset.range === r));
  history.replaceState(null, '', r === '1h' ? location.pathname : `#${r}`);
  void refresh();
}

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  session.set($<HTMLInputElement>('token').value.trim());
  statusLine.textContent = 'Loading…';
  void refresh();
});
$('forget').addEventListener('click', () => {
  session.forget();
  $<HTMLInputElement>('token').value = '';
  signedOut(null);
  statusLine.textContent = 'Token forgotten. Sign in with an API token to see the stats.';
});
for (const b of document.querySelectorAll<HTMLButtonElement>('#ranges button'))
  b.addEventListener('click', () => selectRange(b.dataset.range ?? '1h'));
document.addEventListener('visibilitychange', () => {
  if (!document.hidden && timer !== undefined) void refresh();
});
// Charts follow their column's width (phones turning, windows resizing).
new ResizeObserver(() => {
  for (const [id, c] of charts) {
    const w = Math.max(200, $(id).clientWidth);
    if (w !== c.plot.width) c.plot.setSize({ width: w, height: c.plot.height });
  }
}).observe($('board'));

for (const b of document.querySelectorAll<HTMLButtonElement>('#ranges button'))
  b.setAttribute('aria-pressed', String(b.dataset.range === range));
if (session.token) void refresh();
else signedOut(null);
