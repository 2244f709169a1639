// Migration 004: API tokens issued by the server (server/tokens, docs/jobs.md "Login") and the
// one-time codes of the browser login. Plain SQL; never edit once released.
export default /* sql */ `
-- A token issued to an account: only its sha256 digest is kept, never the token. account is a keyed
-- hash (HMAC with the store secret api_token_account_salt) of the configured RUNCELL_TOKENS entry it
-- acts for; the caller's owner tag is derived from it at use time, so removing that entry from the
-- configuration disables every token issued from it. prefix is the token's first characters, to
-- tell tokens apart in lists.
create table api_tokens (
  id uuid primary key,
  account text not null,
  name text not null,
  digest bytea not null unique,
  prefix text not null,
  created_at timestamptz not null default now(),
  last_used_at timestamptz,
  revoked_at timestamptz
);
create index api_tokens_account on api_tokens (account, created_at) where revoked_at is null;

-- An approved browser login waiting for its CLI to exchange it (once) for a new token. digest is
-- the code's sha256; challenge the base64url sha256 of the CLI's verifier; callback the loopback
-- URL the code was handed to.
create table login_codes (
  digest bytea primary key,
  account text not null,
  name text not null,
  challenge text not null,
  callback text not null,
  created_at timestamptz not null default now(),
  expires_at timestamptz not null
);
create index login_codes_expires on login_codes (expires_at);
`;
