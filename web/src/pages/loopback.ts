// The login page's copy of server/tokens/callback.ts (the web build imports nothing from server/):
// where an approved login may send its code. The server checks again and decides; this copy only
// lets the page explain a bad link before anyone approves it. test/server/tokens/callback.test.ts
// keeps the two in agreement.

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

/** The callback with parameters appended. */
export function callbackWith(url: URL, params: Record<string, string>): string {
  const u = new URL(url.href);
  for (const [k, v] of Object.entries(params)) u.searchParams.set(k, v);
  return u.href;
}
