// Migration 002: batch jobs (server/jobs). Plain SQL; never edit once released.
export default /* sql */ `
-- One attempt of one job. A rerun is a new row (attempt + 1) linked both ways: rerun_of on the
-- new one, superseded_by on the old one; root_id names the first attempt of the chain.
create table jobs (
  id uuid primary key,
  num bigserial not null unique,
  owner text not null,
  batch_id uuid not null,
  root_id uuid not null,
  attempt integer not null default 1,
  rerun_of uuid references jobs (id),
  superseded_by uuid references jobs (id),
  name text,
  tags text[] not null default '{}',
  kernel text not null,
  code text not null,
  files jsonb not null default '[]',
  timeout_ms integer not null,
  state text not null check (state in
    ('queued', 'launched', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled', 'aborted')),
  reason text,
  instance text,
  cancel_requested boolean not null default false,
  result jsonb,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now(),
  launched_at timestamptz,
  started_at timestamptz,
  finished_at timestamptz
);
create index jobs_owner_num on jobs (owner, num desc);
create index jobs_owner_state on jobs (owner, state, num desc);
create index jobs_batch on jobs (batch_id, num);
create index jobs_queued on jobs (num) where state = 'queued';
create index jobs_active_instance on jobs (instance) where state in ('launched', 'running');
create index jobs_tags on jobs using gin (tags);

-- Every state change, in commit order per owner (writers hold an owner advisory lock while they
-- take the next seq and commit), so a reader resuming after seq N never misses one.
create table job_events (
  seq bigserial primary key,
  job_id uuid not null references jobs (id) on delete cascade,
  owner text not null,
  batch_id uuid not null,
  state text not null,
  reason text,
  at timestamptz not null default now()
);
create index job_events_owner_seq on job_events (owner, seq);
create index job_events_job on job_events (job_id, seq);
`;
