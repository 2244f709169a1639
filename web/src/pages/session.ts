// The pages' sign-in and API calls (/tokens, /login, /jobs, /stats): the API token entered on a page
// is kept in sessionStorage (this tab only, under one key, so signing in on one page signs in the
// others in the same tab) and sent as a header, never in a URL. Errors from the API keep its code and
// status (ApiError).
import type { WhoAmI } from '../../../shared/tokens.js';
import { ApiError, fetchJson } from '../fetch.js';

export { ApiError, type WhoAmI };

const KEY = 'runcell-token';

export const $ = <T extends HTMLElement>(id: string) => document.getElementById(id) as T;

export const session = {
  get token(): string {
    return sessionStorage.getItem(KEY) ?? '';
  },
  set(token: string): void {
    sessionStorage.setItem(KEY, token);
  },
  forget(): void {
    sessionStorage.removeItem(KEY);
  },
};

/** A JSON call to this server with the session's token; rejects with ApiError (web/src/fetch.ts). */
export function api<T>(method: string, path: string, body?: unknown, signal?: AbortSignal): Promise<T> {
  return fetchJson<T>({
    method,
    url: path,
    token: session.token,
    body,
    signal,
    unreachable: 'the server could not be reached',
  });
}

/** Who the session's token is, or null when there is none or the server refuses it. */
export async function whoami(): Promise<WhoAmI | null> {
  if (!session.token) return null;
  try {
    return await api<WhoAmI>('GET', '/api/whoami');
  } catch (e) {
    if (e instanceof ApiError && e.status === 401) return null;
    throw e;
  }
}

export const signedInAs = (me: WhoAmI) =>
  me.credential === 'issued' && me.token
    ? `${me.owner}, with the token “${me.token.name}” (${me.token.prefix}…)`
    : `${me.owner}, with a token configured on the server`;
