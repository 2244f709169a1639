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

-- One state change in one round trip: under the owner's lock (so seqs commit in order per owner),
-- the guarded update, its event, and a notification to every instance (sent at commit).
-- Returns no row when the job was not in one of p_from.
create function runcell_job_transition(
  p_id uuid, p_owner text, p_from text[], p_to text, p_reason text, p_result jsonb, p_instance text
) returns table (o_seq bigint, o_job_id uuid, o_batch_id uuid, o_state text, o_reason text, o_at timestamptz)
language plpgsql as $$
declare
  b uuid;
  t timestamptz;
begin
  perform pg_advisory_xact_lock(hashtextextended(p_owner, 6));
  -- After the lock, so event times follow seq order.
  t := clock_timestamp();
  update jobs j set
    state = p_to,
    reason = p_reason,
    result = coalesce(p_result, j.result),
    instance = coalesce(p_instance, j.instance),
    launched_at = case when p_to = 'launched' then t else j.launched_at end,
    started_at = case when p_to = 'running' then t else j.started_at end,
    finished_at = case when p_to in ('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted')
                       then t else j.finished_at end,
    updated_at = t
  where j.id = p_id and j.state = any (p_from)
  returning j.batch_id into b;
  if not found then
    return;
  end if;
  return query
    insert into job_events as e (job_id, owner, batch_id, state, reason, at)
    values (p_id, p_owner, b, p_to, p_reason, t)
    returning e.seq, e.job_id, e.batch_id, e.state, e.reason, e.at;
  perform pg_notify('runcell_jobs', json_build_object('owner', p_owner)::text);
end
$$;
`;
