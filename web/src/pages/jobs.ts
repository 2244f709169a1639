// The jobs dashboard (/jobs): this token's history, live status by long-poll from a cursor, one
// job's outputs and files, cancel, rerun, rerun of every aborted job, and a small batch form.
// Everything from the API is shown as text (textContent): job output is untrusted. The token is
// kept in sessionStorage (this tab only) and sent as a header, never in a URL.
import { backoffDelay, sleep } from '../../../shared/backoff.js';
import { isFinal } from '../../../shared/job-states.js';
import type {
  EventsReply,
  JobDetail,
  JobSummary,
  ListReply,
  RerunReply,
  SubmitReply,
} from '../../../shared/jobs.js';
import { graphEvent, graphFor } from './graph.js';
import { $, ApiError, api, session } from './session.js';

const statusLine = $('status');
const rows = $<HTMLTableSectionElement>('rows');
const jobs = new Map<string, JobSummary>();
let next: string | null = null;
let selected: string | null = null;
let poller: AbortController | null = null;

const text = (tag: string, s: string, cls?: string) => {
  const e = document.createElement(tag);
  e.textContent = s;
  if (cls) e.className = cls;
  return e;
};
const COLUMNS = ['Job', 'Name', 'State', 'Try', 'Created', 'Seconds', 'Reason'];
const secs = (j: JobSummary) =>
  j.started_at && j.finished_at
    ? ((Date.parse(j.finished_at) - Date.parse(j.started_at)) / 1000).toFixed(2)
    : '';

function render(j: JobSummary): void {
  let tr = document.getElementById(`job-${j.id}`) as HTMLTableRowElement | null;
  if (!tr) {
    tr = document.createElement('tr');
    tr.id = `job-${j.id}`;
    tr.tabIndex = 0;
    tr.addEventListener('click', () => void show(j.id));
    tr.addEventListener('keydown', (e) => e.key === 'Enter' && void show(j.id));
    rows.appendChild(tr);
  }
  const cells = [
    text('td', j.id.slice(0, 8), 'mono'),
    text('td', j.name ?? ''),
    text('td', j.state.replace('_', ' '), `state state-${j.state}`),
    text('td', String(j.attempt)),
    text('td', new Date(j.created_at).toLocaleString()),
    text('td', secs(j)),
    text('td', (j.reason ?? '').slice(0, 80)),
  ];
  // On a phone each row is a card: a cell is labelled with its column (pages.css).
  cells.forEach((td, i) => {
    td.dataset.label = COLUMNS[i] ?? '';
  });
  tr.replaceChildren(...cells);
  tr.hidden = Boolean(j.superseded_by);
}

function counts(): void {
  const c = new Map<string, number>();
  for (const j of jobs.values()) if (!j.superseded_by) c.set(j.state, (c.get(j.state) ?? 0) + 1);
  $('counts').textContent = [...c].map(([s, n]) => `${n} ${s}`).join(' · ');
}

async function load(more = false): Promise<void> {
  const q = new URLSearchParams({ limit: '50' });
  const state = $<HTMLSelectElement>('state').value;
  const tag = $<HTMLInputElement>('tag').value.trim();
  const batch = $<HTMLInputElement>('batch').value.trim();
  if (state) q.set('state', state);
  if (tag) q.set('tag', tag);
  if (batch) q.set('batch', batch);
  if (more && next) q.set('cursor', next);
  const r = await api<ListReply>('GET', `/api/jobs?${q}`);
  if (!more) {
    jobs.clear();
    rows.replaceChildren();
  }
  for (const j of r.jobs) {
    jobs.set(j.id, j);
    render(j);
  }
  next = r.next;
  $('more').hidden = !next;
  counts();
}

/** Live status: long-poll from the cursor; on a network error, back off and resume from it. */
async function watch(): Promise<void> {
  poller?.abort();
  const ac = new AbortController();
  poller = ac;
  const head = await api<EventsReply>('GET', '/api/jobs/events?after=0&timeout=0&limit=1000');
  let cursor = head.cursor;
  for (let more = head.events.length === 1000; more; ) {
    const r = await api<EventsReply>('GET', `/api/jobs/events?after=${cursor}&timeout=0&limit=1000`);
    cursor = r.cursor;
    more = r.events.length === 1000;
  }
  let failures = 0;
  while (!ac.signal.aborted) {
    try {
      const r = await api<EventsReply>(
        'GET',
        `/api/jobs/events?after=${cursor}&timeout=25`,
        undefined,
        ac.signal,
      );
      failures = 0;
      statusLine.textContent = 'Live.';
      cursor = r.cursor;
      const unknown = new Set<string>();
      for (const e of r.events) {
        const j = jobs.get(e.job_id);
        if (!j) unknown.add(e.job_id);
        else {
          j.state = e.state;
          j.reason = e.reason;
          if (isFinal(e.state) || e.state === 'running')
            Object.assign(j, await api<JobDetail>('GET', `/api/jobs/${j.id}`));
          render(j);
        }
        if (e.job_id === selected) void show(e.job_id);
        graphEvent(e);
      }
      for (const id of unknown) {
        const j = await api<JobDetail>('GET', `/api/jobs/${id}`);
        jobs.set(id, j);
        render(j);
        rows.prepend(document.getElementById(`job-${id}`) as HTMLElement);
        // A rerun supersedes the attempt it replaces: hide the old row.
        for (const o of jobs.values()) {
          if (o.superseded_by === null && o.id !== id && o.batch_id === j.batch_id && isFinal(o.state)) {
            const fresh = await api<JobDetail>('GET', `/api/jobs/${o.id}`);
            if (fresh.superseded_by) {
              Object.assign(o, fresh);
              render(o);
            }
          }
        }
      }
      counts();
    } catch (e) {
      if (ac.signal.aborted) return;
      if (e instanceof ApiError && e.status === 401) return signedOut('The token was refused.');
      failures++;
      statusLine.textContent = 'Connection lost; retrying…';
      await sleep(backoffDelay(failures, { capMs: 10_000 }));
    }
  }
}

async function show(id: string): Promise<void> {
  selected = id;
  const d = await api<JobDetail>('GET', `/api/jobs/${id}`);
  $('detail').hidden = false;
  // A pipeline's jobs as a live graph (web/src/pages/graph.ts).
  void graphFor(d.batch_id, $('detail'), api, (job) => void show(job)).catch(() => {});
  $('d-title').textContent =
    `${d.name ?? d.id} — ${d.state}${d.reason ? `: ${d.reason}` : ''} (try ${d.attempt})`;
  $('d-history').replaceChildren(
    ...d.history.map((h) =>
      text('li', `${new Date(h.at).toLocaleTimeString()} ${h.state}${h.reason ? ` — ${h.reason}` : ''}`),
    ),
  );
  $('d-stdout').textContent = d.result?.stdout ?? '';
  $('d-stderr').textContent =
    (d.result?.stderr ?? '') + (d.result?.error ? `${d.result.error.ename}: ${d.result.error.evalue}` : '');
  $('d-code').textContent = d.code;
  $('d-files').replaceChildren(
    ...(d.result?.files ?? []).map((f) => {
      const li = document.createElement('li');
      const b = text('button', `${f.name} (${f.size} bytes)`, 'linkish') as HTMLButtonElement;
      b.type = 'button';
      b.addEventListener('click', () => void download(d.id, f.id, f.name));
      li.appendChild(b);
      return li;
    }),
  );
  $<HTMLButtonElement>('d-cancel').disabled = isFinal(d.state);
  $<HTMLButtonElement>('d-rerun').disabled = !isFinal(d.state) || d.superseded_by !== null;
}

async function download(job: string, file: string, name: string): Promise<void> {
  const res = await fetch(`/api/jobs/${job}/files/${file}`, {
    headers: { authorization: `token ${session.token}` },
  });
  if (!res.ok) {
    statusLine.textContent = `Could not download ${name}.`;
    return;
  }
  const url = URL.createObjectURL(await res.blob());
  const a = document.createElement('a');
  a.href = url;
  a.download = name.split('/').pop() ?? 'file';
  a.click();
  setTimeout(() => URL.revokeObjectURL(url), 10_000);
}

function signedOut(message: string): void {
  poller?.abort();
  $('board').hidden = true;
  statusLine.textContent = message;
}

async function start(): Promise<void> {
  try {
    await load();
  } catch (e) {
    return signedOut(
      e instanceof ApiError && e.status === 401 ? 'The token was refused.' : 'Could not reach the server.',
    );
  }
  $('board').hidden = false;
  statusLine.textContent = 'Live.';
  void watch();
}

const act = (f: () => Promise<unknown>) => () =>
  void f().catch((e: unknown) => {
    statusLine.textContent = e instanceof Error ? e.message : String(e);
  });

$('login').addEventListener('submit', (e) => {
  e.preventDefault();
  session.set($<HTMLInputElement>('token').value.trim());
  void start();
});
$('forget').addEventListener('click', () => {
  session.forget();
  signedOut('Token forgotten.');
});
// /jobs?batch=ID opens the board on one batch (the CLI prints the id first).
$<HTMLInputElement>('batch').value = new URLSearchParams(location.search).get('batch') ?? '';
$('filters').addEventListener('submit', (e) => {
  e.preventDefault();
  act(() => load())();
});
$('more').addEventListener(
  'click',
  act(() => load(true)),
);
$('rerun-aborted').addEventListener(
  'click',
  act(async () => {
    // With a batch filter, only that batch's aborted jobs (as `runcell rerun --batch ID --aborted`).
    const batch = $<HTMLInputElement>('batch').value.trim();
    const r = await api<RerunReply>('POST', '/api/jobs/rerun', {
      states: ['aborted'],
      ...(batch ? { batch } : {}),
    });
    statusLine.textContent = `${r.jobs.length} aborted job(s) rerun.`;
    await load();
  }),
);
$('d-cancel').addEventListener(
  'click',
  act(() => api('POST', `/api/jobs/${selected}/cancel`)),
);
$('d-rerun').addEventListener(
  'click',
  act(() => api('POST', `/api/jobs/${selected}/rerun`).then(() => load())),
);
$('submit').addEventListener('submit', (e) => {
  e.preventDefault();
  act(async () => {
    const code = $<HTMLTextAreaElement>('code').value;
    const n = Math.max(1, Math.min(500, Number($<HTMLInputElement>('copies').value) || 1));
    const timeout = Number($<HTMLInputElement>('timeout').value) || 60;
    const tag = $<HTMLInputElement>('s-tag').value.trim();
    const r = await api<SubmitReply>('POST', '/api/jobs', {
      jobs: Array.from({ length: n }, () => ({ code, timeout, ...(tag ? { tags: [tag] } : {}) })),
    });
    statusLine.textContent = `${r.jobs.length} job(s) queued.`;
  })();
});

if (session.token) {
  $<HTMLInputElement>('token').value = session.token;
  void start();
}
