// The browser login's pure checks (RFC 8252 loopback flow with PKCE, docs/jobs.md "Login"), once:
// the server decides with them (server/tokens, and the schemas in shared/tokens.ts); the login page
// (web/src/pages/login.ts) runs the same ones only to explain a bad link before anyone approves it.
// No schema code here, so the page can import it at run time.

/** The `state` the CLI sends and must get back: RFC 6749 §10.12, 16-128 unreserved characters. */
export const STATE_PATTERN = '^[A-Za-z0-9._~-]{16,128}$';
/** PKCE S256 (RFC 7636 §4.2): base64url(sha256(verifier)), 43 characters. */
export const CHALLENGE_PATTERN = '^[A-Za-z0-9_-]{43}$';
/** Control and bidi-override characters (a regular expression's class): never in a name shown to people. */
export const UNPRINTABLE = '\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069';

// Where an approved login may send its one-time code: only to a listener on this computer (RFC 8252
// §7.3, loopback interface redirection), never to another site. Strict on purpose: the URL must
// already be in normal form, so what is checked is exactly what the browser will open.

const LOOPBACK_HOSTS = new Set(['127.0.0.1', '[::1]', 'localhost']);
const PATH = /^\/[A-Za-z0-9._~!$&'()*+,;=:@%/-]{1,200}$/;

export type CallbackCheck = { ok: true; url: URL } | { ok: false; reason: string };

export function checkCallback(callback: string): CallbackCheck {
  const no = (reason: string): CallbackCheck => ({ ok: false, reason });
  let url: URL;
  try {
    url = new URL(callback);
  } catch {
    return no('the callback is not a URL');
  }
  if (url.protocol !== 'http:') return no('the callback must be an http:// URL on this computer');
  if (!LOOPBACK_HOSTS.has(url.hostname))
    return no('the callback must be on 127.0.0.1, [::1] or localhost (this computer)');
  if (url.username || url.password) return no('the callback must not carry a user name or password');
  if (!url.port) return no('the callback must name a port');
  if (!PATH.test(url.pathname)) return no('the callback must have a path');
  if (url.search || url.hash) return no('the callback must not have a query or a fragment');
  if (url.href !== callback) return no(`the callback must be written in normal form (${url.href})`);
  return { ok: true, url };
}

/** The callback with parameters appended (the code and state: the URL the approving page opens). */
export function callbackWith(url: URL, params: Record<string, string>): string {
  const u = new URL(url.href);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}
