// The browser side's one JSON call and its one error: sends the token as a header, answers the parsed
// body of a 2xx, and rejects with ApiError carrying the server's {code, message} (docs/api.md
// "Errors") or, with status 0, that the server could not be reached. The embed's Api (api.ts) and the
// pages' session (pages/session.ts) both call it.
import { parseAnswer } from '../../shared/errors.js';

export class ApiError extends Error {
  constructor(
    /** HTTP status; 0 when the server was not reached. */
    readonly status: number,
    /** RUNCELL_ERR_* from the server; NETWORK or HTTP_<status> when it gave none. */
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = 'ApiError';
  }
}

export interface JsonCall {
  method: string;
  url: string;
  token?: string | undefined;
  body?: unknown;
  /** Of the body (default application/json). */
  contentType?: string;
  signal?: AbortSignal | undefined;
  /** The message when the server cannot be reached. */
  unreachable: string;
}

export async function fetchJson<T>(c: JsonCall): Promise<T> {
  let res: Response;
  try {
    res = await fetch(c.url, {
      method: c.method,
      headers: {
        ...(c.token ? { authorization: `token ${c.token}` } : {}),
        ...(c.body === undefined ? {} : { 'content-type': c.contentType ?? 'application/json' }),
      },
      ...(c.body === undefined ? {} : { body: JSON.stringify(c.body) }),
      ...(c.signal ? { signal: c.signal } : {}),
      cache: 'no-store',
    });
  } catch (e) {
    if (c.signal?.aborted) throw e;
    throw new ApiError(0, 'NETWORK', c.unreachable);
  }
  const { data, error } = parseAnswer(res.status, await res.text(), `HTTP ${res.status}`);
  if (error) throw new ApiError(res.status, error.code, error.message);
  return data as T;
}
