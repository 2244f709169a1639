// The SDK's HTTP: one request function (token, JSON, errors as RunCellError) and the one
// reconnect policy (jittered exponential backoff, shared/backoff.ts) the event loop uses.
import { backoffDelay, sleep } from '../shared/backoff.js';
import { type ErrorCode, parseAnswer } from '../shared/errors.js';

/** The SDK's own code (shared/errors.ts): the server could not be reached. */
const CONNECTION = 'RUNCELL_ERR_CONNECTION' satisfies ErrorCode;

/** Every failure the SDK reports: the server's { code, message }, or a connection problem. */
export class RunCellError extends Error {
  constructor(
    /** RUNCELL_ERR_* from the server; RUNCELL_ERR_CONNECTION when it could not be reached. */
    readonly code: string,
    message: string,
    /** HTTP status (0 when the server was not reached). */
    readonly status: number,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'RunCellError';
  }
}

export interface HttpOptions {
  url: string;
  token?: string | undefined;
}

export function authHeaders(o: HttpOptions): Record<string, string> {
  return o.token ? { authorization: `token ${o.token}` } : {};
}

/** A JSON request; resolves with the parsed body of a 2xx answer, rejects with RunCellError. */
export async function request<T>(
  o: HttpOptions,
  method: string,
  path: string,
  body?: unknown,
  signal?: AbortSignal,
): Promise<T> {
  let res: Response;
  try {
    res = await fetch(new URL(path, o.url), {
      method,
      headers: {
        ...authHeaders(o),
        ...(body === undefined ? {} : { 'content-type': 'application/json' }),
      },
      ...(body === undefined ? {} : { body: JSON.stringify(body) }),
      ...(signal ? { signal } : {}),
    });
  } catch (e) {
    if (signal?.aborted) throw e;
    throw connectionError(o.url, e);
  }
  const { data: parsed, error } = parseAnswer(
    res.status,
    await res.text(),
    `${method} ${path}: HTTP ${res.status}`,
  );
  if (error) throw new RunCellError(error.code, error.message, res.status);
  return parsed as T;
}

export function connectionError(url: string, e: unknown): RunCellError {
  const cause = (e as { cause?: { code?: string; message?: string } }).cause;
  const why = cause?.code ?? cause?.message ?? (e instanceof Error ? e.message : String(e));
  return new RunCellError(CONNECTION, `cannot reach the server at ${url} (${why})`, 0, {
    cause: e,
  });
}

/** The one reconnect policy (shared/backoff.ts): 250 ms doubling to 10 s, each wait drawn from [d/2, d]. */
export const backoff = (attempt: number): number => backoffDelay(attempt, { capMs: 10_000 });

export { sleep };
