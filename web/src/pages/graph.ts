// A pipeline's dependency graph on the jobs dashboard: an SVG with one node per job (newest
// attempts), coloured by state, arrows from what a job needs to the job, kept live from the event
// stream. Built with createElementNS and textContent only: job names are untrusted text.
import type { JobEvent, JobSummary, State } from '../../../shared/jobs.js';

const NS = 'http://www.w3.org/2000/svg';

type GraphJob = Pick<JobSummary, 'id' | 'root_id' | 'batch_id' | 'name' | 'state' | 'needs'>;

const COLOURS: Record<State, string> = {
  waiting: '#e5e7eb',
  queued: '#dbeafe',
  launched: '#bfdbfe',
  running: '#fde68a',
  succeeded: '#bbf7d0',
  failed: '#fecaca',
  timed_out: '#fed7aa',
  cancelled: '#e5e7eb',
  aborted: '#fbcfe8',
  skipped: '#f3f4f6',
};

type Get = <T>(method: string, path: string) => Promise<T>;

let current: {
  batch: string;
  host: HTMLElement;
  get: Get;
  open: (id: string) => void;
  nodes: Map<string, SVGRectElement>;
} | null = null;
let refetch: ReturnType<typeof setTimeout> | undefined;

function el<K extends keyof SVGElementTagNameMap>(
  tag: K,
  attrs: Record<string, string | number>,
): SVGElementTagNameMap[K] {
  const e = document.createElementNS(NS, tag);
  for (const [k, v] of Object.entries(attrs)) e.setAttribute(k, String(v));
  return e;
}

/** Shows the graph of `batch` in `host` (above the detail's first heading) if it is a pipeline. */
/** Draws the graph of `batch` into `host`; a click (or Enter) on a node calls `open` with its job id. */
export async function graphFor(
  batch: string,
  host: HTMLElement,
  get: Get,
  open: (id: string) => void,
): Promise<void> {
  const r = await get<{ jobs: GraphJob[] }>('GET', `/api/jobs?batch=${encodeURIComponent(batch)}&limit=500`);
  const old = host.querySelector('#d-graph');
  const jobs = [...r.jobs].reverse(); // oldest first
  if (!jobs.some((j) => (j.needs ?? []).length > 0)) {
    old?.remove();
    current = null;
    return;
  }
  const byRoot = new Map(jobs.map((j) => [j.root_id, j]));
  const depth = new Map<string, number>();
  const of = (j: GraphJob, seen: Set<string>): number => {
    const known = depth.get(j.root_id);
    if (known !== undefined) return known;
    if (seen.has(j.root_id)) return 0;
    seen.add(j.root_id);
    const ds = (j.needs ?? []).map((n) => byRoot.get(n)).filter((x): x is GraphJob => x !== undefined);
    const d = ds.length === 0 ? 0 : 1 + Math.max(...ds.map((x) => of(x, seen)));
    depth.set(j.root_id, d);
    return d;
  };
  const columns: GraphJob[][] = [];
  for (const j of jobs) {
    const d = of(j, new Set());
    const col = columns[d] ?? [];
    columns[d] = col;
    col.push(j);
  }
  const W = 140;
  const H = 34;
  const GX = 60;
  const GY = 18;
  const pos = new Map<string, { x: number; y: number }>();
  for (const [c, col] of columns.entries()) {
    for (const [i, j] of col.entries()) pos.set(j.root_id, { x: 10 + c * (W + GX), y: 10 + i * (H + GY) });
  }
  const width = 20 + columns.length * (W + GX) - GX;
  const height = 20 + Math.max(...columns.map((c) => c.length)) * (H + GY) - GY;
  const svg = el('svg', { viewBox: `0 0 ${width} ${height}`, width, height, role: 'img' });
  const title = el('title', {});
  title.textContent = 'Pipeline graph';
  svg.appendChild(title);
  const defs = el('defs', {});
  const marker = el('marker', {
    id: 'arrow',
    viewBox: '0 0 10 10',
    refX: 10,
    refY: 5,
    markerWidth: 8,
    markerHeight: 8,
    orient: 'auto',
  });
  marker.appendChild(el('path', { d: 'M0,0 L10,5 L0,10 z', fill: '#6b7280' }));
  defs.appendChild(marker);
  svg.appendChild(defs);
  for (const j of jobs) {
    const to = pos.get(j.root_id);
    for (const n of j.needs ?? []) {
      const from = pos.get(n);
      if (!from || !to) continue;
      const x1 = from.x + W;
      const y1 = from.y + H / 2;
      const x2 = to.x;
      const y2 = to.y + H / 2;
      const mx = (x1 + x2) / 2;
      svg.appendChild(
        el('path', {
          d: `M${x1},${y1} C${mx},${y1} ${mx},${y2} ${x2},${y2}`,
          fill: 'none',
          stroke: '#6b7280',
          'marker-end': 'url(#arrow)',
        }),
      );
    }
  }
  const nodes = new Map<string, SVGRectElement>();
  for (const j of jobs) {
    const p = pos.get(j.root_id) as { x: number; y: number };
    const g = el('g', { class: 'graph-node', 'data-job': j.id, role: 'button', tabindex: 0 });
    g.addEventListener('click', () => open(j.id));
    g.addEventListener('keydown', (ev) => {
      if (ev.key === 'Enter' || ev.key === ' ') {
        ev.preventDefault();
        open(j.id);
      }
    });
    const rect = el('rect', { x: p.x, y: p.y, width: W, height: H, rx: 6, stroke: '#374151' });
    rect.setAttribute('fill', COLOURS[j.state] ?? '#fff');
    const label = el('text', { x: p.x + 8, y: p.y + H / 2 + 4, 'font-size': 12 });
    label.textContent = `${(j.name ?? j.id.slice(0, 8)).slice(0, 14)} · ${j.state.replace('_', ' ')}`;
    const tip = el('title', {});
    tip.textContent = `${j.name ?? j.id}: ${j.state}`;
    g.append(rect, label, tip);
    svg.appendChild(g);
    nodes.set(j.id, rect);
  }
  const fig = document.createElement('figure');
  fig.id = 'd-graph';
  fig.className = 'job-graph';
  fig.appendChild(svg);
  if (old) old.replaceWith(fig);
  else host.insertBefore(fig, host.querySelector('h3'));
  current = { batch, host, get, open, nodes };
}

/** One event from the live stream: recolours a node, or redraws when a new attempt appears. */
export function graphEvent(e: Pick<JobEvent, 'job_id' | 'batch_id' | 'state'>): void {
  if (!current) return;
  const rect = current.nodes.get(e.job_id);
  if (rect) {
    rect.setAttribute('fill', COLOURS[e.state] ?? '#fff');
    const label = rect.nextSibling as SVGTextElement | null;
    if (label)
      label.textContent = (label.textContent ?? '').replace(/ · .*$/, ` · ${e.state.replace('_', ' ')}`);
    return;
  }
  if (e.batch_id !== current.batch) return;
  // A rerun's new attempt: redraw once the burst of events has passed.
  const c = current;
  clearTimeout(refetch);
  refetch = setTimeout(() => void graphFor(c.batch, c.host, c.get, c.open).catch(() => {}), 300);
}
