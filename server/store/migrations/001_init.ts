// Migration 001: the initial schema. Plain SQL; embedded as a module so `tsc` output carries it.
// Never edit a released migration: add the next number instead.
export default /* sql */ `
create table store_secrets (
  name text primary key,
  value text not null
);

-- Content-addressed data. A blob is written chunk by chunk while its sha256 is still null
-- (pending), then sealed with its sha256; identical content is kept once.
create table blobs (
  id bigserial primary key,
  sha256 text unique,
  size bigint not null default 0,
  created_at timestamptz not null default now()
);
create table blob_chunks (
  blob_id bigint not null references blobs (id) on delete cascade,
  "offset" bigint not null,
  size integer not null,
  data bytea not null,
  primary key (blob_id, "offset")
);

-- A file as a kernel wrote it: an unguessable id, a name and a media type over a blob.
create table files (
  id text primary key,
  blob_id bigint not null references blobs (id),
  name text not null,
  media_type text not null,
  kernel_id text,
  created_at timestamptz not null default now()
);
create index files_blob_id on files (blob_id);
create index files_created_at on files (created_at);

create table permalinks (
  id text primary key,
  kernel text not null,
  code text not null,
  outputs jsonb,
  created_at timestamptz not null default now()
);
-- Files a permalink shows; retention keeps them as long as the permalink.
create table permalink_files (
  permalink_id text not null references permalinks (id) on delete cascade,
  file_id text not null references files (id),
  primary key (permalink_id, file_id)
);
create index permalink_files_file_id on permalink_files (file_id);

-- tus uploads: the data goes into a pending blob as it arrives; "offset" is what is committed.
create table uploads (
  id text primary key,
  length bigint not null,
  "offset" bigint not null default 0,
  metadata jsonb not null default '{}',
  client_hash text not null,
  blob_id bigint not null references blobs (id),
  completed_at timestamptz,
  created_at timestamptz not null default now(),
  updated_at timestamptz not null default now()
);
create index uploads_client on uploads (client_hash, created_at);
create index uploads_blob_id on uploads (blob_id);

-- Every execute_request that passed through the server. client_hash is a keyed hash of the
-- client's address; the address itself is never stored.
create table execute_records (
  id uuid primary key,
  msg_id text,
  kernel_id text,
  kernel_spec text not null,
  transport text not null,
  principal text,
  client_hash text,
  code_sha256 text not null,
  message jsonb not null,
  permalink_id text,
  started_at timestamptz not null,
  finished_at timestamptz,
  status text,
  duration_ms double precision,
  outputs jsonb
);
create index execute_records_started_at on execute_records (started_at);
create index execute_records_code_sha256 on execute_records (code_sha256);
`;
