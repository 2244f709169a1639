// The account pages' sign-in (/tokens, /login): the API token entered on a page is kept in
// sessionStorage (this tab only, under the key the jobs dashboard uses too, so signing in on one page
// signs in the others in the same tab) and sent as a header, never in a URL. Errors from the API keep
// its code and status.
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

export class ApiError extends Error {
  constructor(
    readonly status: number,
    readonly code: string,
    message: string,
  ) {
    super(message);
  }
}

/** A JSON call with the session's token; rejects with ApiError on a non-2xx answer. */
export async function api<T>(method: string, path: string, body?: unknown): Promise<T> {
  const res = await fetch(path, {
    method,
    headers: {
      authorization: `token ${session.token}`,
      ...(body === undefined ? {} : { 'content-type': 'application/json' }),
    },
    ...(body === undefined ? {} : { body: JSON.stringify(body) }),
  });
  const data = (await res.json().catch(() => ({}))) as { code?: string; message?: string };
  if (!res.ok)
    throw new ApiError(res.status, data.code ?? `HTTP_${res.status}`, data.message ?? `HTTP ${res.status}`);
  return data as T;
}

export interface WhoAmI {
  owner: string;
  credential: 'configured' | 'issued';
  token: { id: string; name: string; prefix: string } | null;
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
