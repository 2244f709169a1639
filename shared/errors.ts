// Every error code a runcell client can meet, declared once: the server's answers, the ones the
// HAProxy front answers with for it (ops/haproxy/errors), and the SDK's own connection failure.
// Pure data, imported by the server (which builds its error classes from it), the SDK and the docs
// test; docs/api.md's table is generated from it. Responses carry { code, message } only.

/** Who answers with a code: the server itself, HAProxy in front of it, or the client (no answer). */
export type ErrorSource = 'server' | 'haproxy' | 'client';

export interface ErrorSpec {
  /** HTTP status; 0 when no answer arrived (client-side). */
  readonly status: number;
  /** util.format template of the message (`%s`: a text given where it is thrown; `%d`: a number). */
  readonly message: string;
  /** One line for docs/api.md: when a client sees it. No `|`. */
  readonly description: string;
  readonly from: ErrorSource;
}

const server = <S extends number, M extends string>(status: S, message: M, description: string) =>
  ({ status, message, description, from: 'server' }) as const;

export const ERRORS = {
  // Requests
  RUNCELL_ERR_BAD_REQUEST: server(
    400,
    '%s',
    'malformed JSON, a body, query or header that fails its schema, a bad message, an unknown file id',
  ),
  RUNCELL_ERR_UNKNOWN_KERNEL_NAME: server(
    400,
    '%s',
    '`POST /api/kernels`, sessions or execute name an unknown kernelspec',
  ),
  RUNCELL_ERR_UNAUTHORIZED: server(401, '%s', 'missing (when required) or wrong token'),
  RUNCELL_ERR_FORBIDDEN_ORIGIN: server(403, '%s', '`Origin` not on the allow-list'),
  RUNCELL_ERR_FORBIDDEN: server(
    403,
    '%s',
    'websocket/long-poll without `Origin` and without a token; `/api/stats` or `/metrics` with a valid token that is not one of `RUNCELL_TOKENS`',
  ),
  RUNCELL_ERR_NOT_FOUND: server(404, '%s', 'no such route or resource'),
  RUNCELL_ERR_NO_SUCH_KERNEL: server(404, '%s', 'unknown kernel id'),
  RUNCELL_ERR_NO_SUCH_SPEC: server(404, '%s', 'unknown kernelspec in `GET /api/kernelspecs/:name`'),
  RUNCELL_ERR_NO_SUCH_SESSION: server(404, '%s', 'unknown session id'),
  RUNCELL_ERR_METHOD_NOT_ALLOWED: server(405, '%s', 'reserved'),
  RUNCELL_ERR_KERNEL_DEAD: server(409, '%s', 'interrupt/restart of a kernel that died'),
  RUNCELL_ERR_FILE_REFUSED: server(
    409,
    '%s',
    '`POST /api/kernels/:id/files`: the name exists, is a link, or the file is too large; or the kernel is remote (docs/scaling.md)',
  ),
  RUNCELL_ERR_CODE_TOO_LARGE: server(413, '%s', 'code over `RUNCELL_MAX_CODE_BYTES`'),
  RUNCELL_ERR_BODY_TOO_LARGE: server(
    413,
    '%s',
    "a body over `RUNCELL_BODY_LIMIT_BYTES` (or over the route's own limit, e.g. `POST /api/permalinks`)",
  ),
  RUNCELL_ERR_UNSUPPORTED_MEDIA_TYPE: server(415, '%s', 'a body of a media type the route does not read'),
  RUNCELL_ERR_RATE_LIMITED: server(
    429,
    '%s',
    'a per-IP limit (kernel creations, executions, logins, unknown-id lookups); `Retry-After` says when to retry',
  ),
  RUNCELL_ERR_INTERNAL: server(500, '%s', 'a bug (logged with the request id)'),
  RUNCELL_ERR_KERNEL_START_FAILED: server(500, '%s', 'the kernel could not start (sandbox, timeout)'),
  RUNCELL_ERR_AT_CAPACITY: server(
    503,
    '%s',
    'no kernel free and the wait queue full or timed out; `Retry-After`',
  ),
  RUNCELL_ERR_NO_KERNEL_HOST: server(
    503,
    '%s',
    'kernels are placed on gateways only and every gateway is purged (down); `Retry-After`',
  ),
  RUNCELL_ERR_SHUTTING_DOWN: server(503, '%s', 'the server is stopping'),

  // API tokens and the browser login (server/tokens, docs/jobs.md "Login")
  RUNCELL_ERR_NO_SUCH_TOKEN: server(
    404,
    '%s',
    "`DELETE /api/tokens/:id`: not one of this account's live tokens",
  ),
  RUNCELL_ERR_TOO_MANY_TOKENS: server(
    409,
    '%s',
    'the account has `RUNCELL_API_TOKENS_MAX` live tokens (creating one, approving a login)',
  ),
  RUNCELL_ERR_TOKEN_NOT_REVOCABLE: server(
    409,
    '%s',
    '`DELETE /api/tokens/current` with a configured (`RUNCELL_TOKENS`) token',
  ),
  RUNCELL_ERR_BAD_CALLBACK: server(
    400,
    '%s',
    '`POST /api/login/codes`: the callback is not `http://127.0.0.1`, `[::1]` or `localhost` with a port and a path',
  ),
  RUNCELL_ERR_LOGIN_CODE_INVALID: server(
    400,
    '%s',
    '`POST /api/login/token`: unknown, used, expired code, or a verifier or callback that does not match',
  ),
  RUNCELL_ERR_TOKEN_UNVERIFIABLE: server(
    503,
    '%s',
    'an issued token while the database is unreachable (refused, never let through); `Retry-After`',
  ),

  // The store (docs/storage.md): any route that reads or writes the database
  RUNCELL_ERR_STORE_UNAVAILABLE: server(
    503,
    'The database is unavailable; try again shortly',
    'the database is unreachable, on any route that needs it; `Retry-After`',
  ),
  RUNCELL_ERR_STORE_INTERNAL: server(
    500,
    'Internal storage error',
    'an unexpected storage error (logged with its cause)',
  ),
  RUNCELL_ERR_STORE_FULL: server(
    507,
    "The server's storage is full; try again later",
    "the database's disk is full (Postgres `53100`); retry later",
  ),
  RUNCELL_ERR_PERMALINK_NOT_FOUND: server(404, 'No such permalink', 'unknown permalink'),
  RUNCELL_ERR_PERMALINK_TOO_LARGE: server(
    413,
    'Permalink too large: %s',
    'code, outputs or the URL form over its bound',
  ),
  RUNCELL_ERR_INLINE_CODE_INVALID: server(
    400,
    'The code in this URL cannot be decoded',
    'undecodable code-in-URL (`/p/z/…`)',
  ),
  RUNCELL_ERR_FILE_NOT_FOUND: server(404, 'No such file', 'unknown file id or name'),
  RUNCELL_ERR_RANGE_NOT_SATISFIABLE: server(416, 'Requested range not satisfiable', 'range past the end'),
  RUNCELL_ERR_INVALID_FILE_NAME: server(400, 'Invalid file name: %s', 'the file name was refused'),

  // tus 1.0 uploads (https://tus.io/protocols/resumable-upload): the statuses are the protocol's
  RUNCELL_ERR_TUS_VERSION: server(
    412,
    'Unsupported Tus-Resumable version; this server speaks 1.0.0',
    'missing or unsupported `Tus-Resumable`',
  ),
  RUNCELL_ERR_UPLOAD_NOT_FOUND: server(404, 'No such upload', 'unknown or terminated upload'),
  RUNCELL_ERR_UPLOAD_OFFSET_MISMATCH: server(
    409,
    'Upload-Offset does not match the upload (expected %d)',
    '`Upload-Offset` is not the committed offset',
  ),
  RUNCELL_ERR_UPLOAD_BUSY: server(
    423,
    'Another request is writing to this upload',
    'another PATCH holds the upload',
  ),
  RUNCELL_ERR_UPLOAD_TOO_LARGE: server(
    413,
    'Upload too large: %s',
    'over the per-file limit or past `Upload-Length`',
  ),
  RUNCELL_ERR_UPLOAD_QUOTA: server(413, 'Upload quota for this client exceeded', 'over the per-client limit'),
  RUNCELL_ERR_UPLOAD_CONTENT_TYPE: server(
    415,
    'PATCH bodies must be application/offset+octet-stream',
    'a PATCH that is not `application/offset+octet-stream`',
  ),
  RUNCELL_ERR_UPLOAD_CHECKSUM_MISMATCH: server(
    460,
    'Upload-Checksum does not match the data',
    '`Upload-Checksum` mismatch (tus checksum extension)',
  ),
  RUNCELL_ERR_UPLOAD_INTERRUPTED: server(
    400,
    'The request body ended before Content-Length; the bytes received are kept',
    'the body ended early (the bytes received are kept)',
  ),
  RUNCELL_ERR_UPLOAD_INCOMPLETE: server(409, 'The upload is not complete', 'the upload is not complete yet'),

  // The jobs API (docs/jobs.md)
  RUNCELL_ERR_JOB_NOT_FOUND: server(404, '%s', "no such job for this token (another token's job included)"),
  RUNCELL_ERR_JOB_NOT_CANCELLABLE: server(409, '%s', 'the job already ended'),
  RUNCELL_ERR_JOB_NOT_RERUNNABLE: server(
    409,
    '%s',
    'the job has not ended, or was already rerun (rerun the newer attempt)',
  ),
  RUNCELL_ERR_JOB_BAD_FILE: server(
    400,
    '%s',
    'an upload id that does not exist, is incomplete, has an unusable file name, or two inputs with one name',
  ),
  RUNCELL_ERR_JOB_UNKNOWN_KERNEL: server(400, '%s', 'no such kernelspec'),
  RUNCELL_ERR_JOB_BAD_PIPELINE: server(
    400,
    '%s',
    '`needs` naming no job of the request and none of yours, a name two jobs share, a cycle, or `pick: "majority"` with one replica',
  ),
  RUNCELL_ERR_JOB_BAD_CURSOR: server(400, '%s', 'a history `cursor` or `state` that makes no sense'),
  RUNCELL_ERR_JOB_CODE_TOO_LARGE: server(413, '%s', 'job code over `RUNCELL_MAX_CODE_BYTES`'),
  RUNCELL_ERR_JOB_BATCH_TOO_LARGE: server(
    413,
    '%s',
    'more than `RUNCELL_JOBS_MAX_BATCH` jobs in one request',
  ),
  RUNCELL_ERR_JOB_INPUT_TOO_LARGE: server(
    413,
    '%s',
    "a job's input files over `RUNCELL_JOBS_MAX_INPUT_BYTES` in all",
  ),
  RUNCELL_ERR_JOB_QUEUE_FULL: server(
    429,
    '%s',
    'the token would have more than `RUNCELL_JOBS_MAX_QUEUED_PER_OWNER` queued jobs',
  ),
  RUNCELL_ERR_JOBS_CLOSED: server(503, '%s', 'the jobs service is shutting down'),

  // Answered by HAProxy in front of several instances (ops/haproxy/errors/*.http)
  RUNCELL_ERR_KERNEL_LOST: {
    status: 503,
    message:
      'the runcell instance that ran this kernel is gone; its kernels and sessions are lost. Start a new kernel.',
    description: 'behind HAProxy: the instance that owned this kernel or session is down',
    from: 'haproxy',
  },
  RUNCELL_ERR_UNAVAILABLE: {
    status: 503,
    message: 'no runcell instance is available right now; retry shortly.',
    description: 'behind HAProxy: no instance is ready for new work; `Retry-After`',
    from: 'haproxy',
  },

  // The SDK's and CLI's own: no answer came
  RUNCELL_ERR_CONNECTION: {
    status: 0,
    message: 'cannot reach the server at %s (%s)',
    description: 'SDK and CLI only: the server could not be reached (status 0)',
    from: 'client',
  },
} as const satisfies Record<`RUNCELL_ERR_${string}`, ErrorSpec>;

export type ErrorCode = keyof typeof ERRORS;

/** The codes the server itself answers with (it builds one error class for each). */
export type ServerErrorCode = {
  [C in ErrorCode]: (typeof ERRORS)[C]['from'] extends 'server' ? C : never;
}[ErrorCode];

export function isErrorCode(code: unknown): code is ErrorCode {
  return typeof code === 'string' && Object.hasOwn(ERRORS, code);
}

/** An answer's body, parsed once for every client: its JSON (undefined when empty or not JSON), and for
 * an error status the `{code, message}` the server sent, or `HTTP_<status>` and `fallback` when the body
 * did not carry them (a proxy's page, a truncated answer). */
export function parseAnswer(
  status: number,
  text: string,
  fallback: string,
): { data: unknown; error?: { code: string; message: string } } {
  let data: unknown;
  try {
    data = text ? JSON.parse(text) : undefined;
  } catch {
    data = undefined;
  }
  if (status >= 200 && status < 300) return { data };
  const d = (data ?? {}) as { code?: unknown; message?: unknown };
  return {
    data,
    error: {
      code: typeof d.code === 'string' ? d.code : `HTTP_${status}`,
      message: typeof d.message === 'string' ? d.message : fallback,
    },
  };
}
