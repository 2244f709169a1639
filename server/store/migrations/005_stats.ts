// Migration 005: the stats page's own history (server/stats, docs/api.md "Stats"). Execute records
// already hold executions, errors and durations; what they cannot tell is how many kernels and
// connections there were over time, so each instance samples its gauges into stats_samples.
// Plain SQL; never edit once released.
export default /* sql */ `
-- One row per instance every RUNCELL_STATS_SAMPLE_MS. Gauges as sampled at "at"; loop_lag_ms is the
-- 99th percentile of the event-loop delay since the previous sample. interval_ms tells readers how
-- stale an instance's latest row may be before it counts as gone.
create table stats_samples (
  instance text not null,
  at timestamptz not null,
  interval_ms integer not null,
  kernels integer not null,
  busy integer not null,
  pooled integer not null,
  starting integer not null,
  queued integer not null,
  websockets integer not null,
  longpolls integer not null,
  loop_lag_ms real,
  primary key (instance, at)
);
create index stats_samples_at on stats_samples (at);
`;
