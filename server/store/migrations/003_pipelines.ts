// Migration 003: pipelines and redundant runs (server/jobs, docs/jobs.md). Plain SQL; never edit
// once released.
export default /* sql */ `
-- needs: the root ids (first attempts) of the jobs this one waits for. A need is met when the newest
-- attempt of that root has succeeded, so a rerun upstream satisfies its dependants without
-- rewriting them. A job with needs starts 'waiting'; 'skipped' is final (a need did not succeed).
alter table jobs add column needs uuid[] not null default '{}';
alter table jobs add column replicas integer not null default 1 check (replicas between 1 and 16);
alter table jobs add column pick text not null default 'first' check (pick in ('first', 'majority'));
alter table jobs drop constraint jobs_state_check;
alter table jobs add constraint jobs_state_check check (state in
  ('waiting', 'queued', 'launched', 'running', 'succeeded', 'failed', 'timed_out', 'cancelled',
   'aborted', 'skipped'));
create index jobs_waiting_needs on jobs using gin (needs) where state = 'waiting';
create index jobs_waiting on jobs (num) where state = 'waiting';

-- As in 002, with 'skipped' among the final states (it sets finished_at).
create or replace function runcell_job_transition(
  p_id uuid, p_owner text, p_from text[], p_to text, p_reason text, p_result jsonb, p_instance text
) returns table (o_seq bigint, o_job_id uuid, o_batch_id uuid, o_state text, o_reason text, o_at timestamptz)
language plpgsql as $$
declare
  b uuid;
  t timestamptz;
begin
  perform pg_advisory_xact_lock(hashtextextended(p_owner, 6));
  t := clock_timestamp();
  update jobs j set
    state = p_to,
    reason = p_reason,
    result = coalesce(p_result, j.result),
    instance = coalesce(p_instance, j.instance),
    launched_at = case when p_to = 'launched' then t else j.launched_at end,
    started_at = case when p_to = 'running' then t else j.started_at end,
    finished_at = case when p_to in ('succeeded', 'failed', 'timed_out', 'cancelled', 'aborted', 'skipped')
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
