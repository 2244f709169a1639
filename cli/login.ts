// `runcell login`, `runcell logout` and `runcell whoami` (docs/jobs.md "Login").
//
// The browser login is the loopback flow of RFC 8252 with PKCE (RFC 7636): a listener on
// 127.0.0.1:<random port> for one response, a random `state` it must come back with, and a verifier
// whose sha256 (the challenge) the server binds the one-time code to. The browser only ever carries
// the code; the token comes back in the answer to the CLI's own exchange, so it never appears in a
// URL or in the browser's history.
import { spawn } from 'node:child_process';
import { createHash, randomBytes, timingSafeEqual } from 'node:crypto';
import { accessSync, constants } from 'node:fs';
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { delimiter, join } from 'node:path';
import { type HttpOptions, RunCellError, request } from '../sdk/http.js';
import type { CreatedToken, ExchangeBody, WhoAmI } from '../shared/tokens.js';
import type { SavedToken } from './credentials.js';

export class LoginError extends Error {}

/** A token as POST /api/login/token returns it. */
export type Issued = CreatedToken;

export interface BrowserLoginOptions {
  server: string;
  /** This computer's name, shown on the approval page and given to the token. */
  name: string;
  /** Try to open a browser (otherwise the URL is only printed). */
  browser: boolean;
  timeoutMs: number;
  /** Messages for the person at the terminal (stderr). */
  say: (line: string) => void;
}

const b64url = (b: Buffer) => b.toString('base64url');
const sameText = (a: string, b: string) => {
  const x = Buffer.from(a);
  const y = Buffer.from(b);
  return x.length === y.length && timingSafeEqual(x, y);
};

/** The small pages the listener answers the browser with: fixed text, nothing from the request. */
function page(res: ServerResponse, status: number, title: string, text: string): void {
  const html =
    '<!doctype html><html lang="en"><head><meta charset="utf-8"><title>runcell</title>' +
    '<style>body{font:16px/1.6 system-ui,sans-serif;max-width:36em;margin:4em auto;padding:0 1em}</style>' +
    `</head><body><h1>${title}</h1><p>${text}</p></body></html>`;
  res.writeHead(status, {
    'content-type': 'text/html; charset=utf-8',
    'content-security-policy': "default-src 'none'; style-src 'unsafe-inline'",
    'cache-control': 'no-store',
    'referrer-policy': 'no-referrer',
    'x-content-type-options': 'nosniff',
  });
  res.end(html);
}

/** The first of `names` on PATH. */
function onPath(name: string): string | undefined {
  for (const dir of (process.env.PATH ?? '').split(delimiter)) {
    if (!dir) continue;
    const full = join(dir, name);
    try {
      accessSync(full, constants.X_OK);
      return full;
    } catch {}
  }
  return undefined;
}

/** Opens `url` in the user's browser if this computer seems to have one; false when it does not. */
export function openBrowser(url: string): boolean {
  let cmd: string | undefined;
  let args: string[] = [url];
  if (process.env.BROWSER) cmd = process.env.BROWSER;
  else if (process.platform === 'darwin') cmd = 'open';
  else if (process.platform === 'win32') {
    cmd = 'rundll32';
    args = ['url.dll,FileProtocolHandler', url];
  } else if (process.env.DISPLAY || process.env.WAYLAND_DISPLAY) cmd = onPath('xdg-open');
  if (!cmd) return false;
  try {
    const child = spawn(cmd, args, { detached: true, stdio: 'ignore' });
    child.on('error', () => {});
    child.unref();
    return true;
  } catch {
    return false;
  }
}

/** The whole browser login; resolves with the new token once the server has issued it. */
export async function browserLogin(o: BrowserLoginOptions): Promise<Issued> {
  const state = b64url(randomBytes(24));
  const verifier = b64url(randomBytes(32));
  const challenge = b64url(createHash('sha256').update(verifier).digest());
  let settle: { resolve: (t: Issued) => void; reject: (e: Error) => void } | undefined;
  const outcome = new Promise<Issued>((resolve, reject) => {
    settle = { resolve, reject };
  });
  let callback = '';
  let host = '';
  let taken = false;

  const onRequest = (req: IncomingMessage, res: ServerResponse) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (req.method !== 'GET' || url.pathname !== '/callback')
      return page(res, 404, 'Not found', 'Nothing here.');
    // A page elsewhere that rebinds its own name to 127.0.0.1 would send another Host.
    if (req.headers.host !== host)
      return page(res, 400, 'Refused', 'This request was not meant for runcell.');
    const got = url.searchParams.get('state') ?? '';
    if (!sameText(got, state)) {
      o.say('runcell: ignored a sign-in response that does not match this login (wrong state)');
      return page(
        res,
        400,
        'Not this login',
        'This sign-in response does not belong to the runcell login waiting on this computer, and was ignored.',
      );
    }
    if (taken) return page(res, 409, 'Already used', 'This login has finished. You can close this tab.');
    taken = true;
    if (url.searchParams.get('error') === 'access_denied') {
      page(res, 200, 'Denied', 'runcell was not signed in. You can close this tab.');
      return settle?.reject(new LoginError('the sign-in was denied in the browser'));
    }
    const code = url.searchParams.get('code') ?? '';
    request<Issued>({ url: o.server }, 'POST', '/api/login/token', {
      code,
      verifier,
      callback,
    } satisfies ExchangeBody).then(
      (issued) => {
        page(
          res,
          200,
          'Signed in',
          'runcell is signed in. You can close this tab and return to the terminal.',
        );
        settle?.resolve(issued);
      },
      (e: unknown) => {
        page(res, 502, 'Sign-in failed', 'The server did not accept this sign-in. The terminal says why.');
        settle?.reject(e instanceof Error ? e : new Error(String(e)));
      },
    );
  };

  const listener = createServer(onRequest);
  await new Promise<void>((resolve, reject) => {
    listener.once('error', reject);
    listener.listen(0, '127.0.0.1', () => resolve());
  });
  const { port } = listener.address() as AddressInfo;
  host = `127.0.0.1:${port}`;
  callback = `http://${host}/callback`;
  const login = new URL('/login', o.server);
  login.search = new URLSearchParams({ callback, state, challenge, name: o.name }).toString();

  const opened = o.browser && openBrowser(login.href);
  if (opened) o.say('Opening the sign-in page in your browser. If it does not open, visit:');
  else o.say('Open this page in a browser on this computer to sign in:');
  o.say(`  ${login.href}`);
  if (!opened)
    o.say(
      'No browser here (over SSH, say)? The page must run on this computer; instead, create a token at ' +
        `${new URL('/tokens', o.server).href} and run: runcell login --token`,
    );
  o.say(`Waiting for approval (up to ${Math.round(o.timeoutMs / 1000)} s; Ctrl+C to cancel)…`);

  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(
      () =>
        reject(
          new LoginError(
            `login timed out after ${Math.round(o.timeoutMs / 1000)} s without an approval; run runcell login again`,
          ),
        ),
      o.timeoutMs,
    );
  });
  try {
    return await Promise.race([outcome, timeout]);
  } finally {
    clearTimeout(timer);
    // Let the answer to the browser go out, then stop listening.
    await new Promise<void>((resolve) => {
      listener.close(() => resolve());
      setTimeout(() => listener.closeAllConnections(), 200).unref();
    });
  }
}

/** A token typed at a prompt (not echoed) or piped on standard input: its first line. */
export async function readToken(say: (s: string) => void): Promise<string> {
  const stdin = process.stdin;
  if (!stdin.isTTY) {
    let text = '';
    for await (const chunk of stdin) text += chunk;
    return (text.split(/\r?\n/).find((l) => l.trim() !== '') ?? '').trim();
  }
  say('Paste your API token (it is not shown) and press Enter:');
  stdin.setRawMode(true);
  stdin.setEncoding('utf8');
  try {
    return await new Promise<string>((resolve, reject) => {
      let typed = '';
      const onData = (s: string) => {
        for (const ch of s) {
          if (ch === '\r' || ch === '\n') {
            stdin.off('data', onData);
            return resolve(typed.trim());
          }
          if (ch === '\u0003') {
            stdin.off('data', onData);
            return reject(new LoginError('cancelled'));
          }
          if (ch === '\u007f' || ch === '\b') typed = typed.slice(0, -1);
          else typed += ch;
        }
      };
      stdin.on('data', onData);
    });
  } finally {
    stdin.setRawMode(false);
    stdin.pause();
  }
}

export const whoami = (o: HttpOptions) => request<WhoAmI>(o, 'GET', '/api/whoami');

/** How `runcell logout`'s revocation went. */
export type Revocation = 'revoked' | 'already-invalid' | 'configured' | { failed: string };

export async function revokeCurrent(o: HttpOptions): Promise<Revocation> {
  try {
    await request(o, 'DELETE', '/api/tokens/current');
    return 'revoked';
  } catch (e) {
    if (e instanceof RunCellError && e.status === 401) return 'already-invalid';
    if (e instanceof RunCellError && e.code === 'RUNCELL_ERR_TOKEN_NOT_REVOCABLE') return 'configured';
    return { failed: e instanceof Error ? e.message : String(e) };
  }
}

/** What became of the token a login replaced in the credentials file. */
export type Replaced =
  /** It was issued to this CLI by a browser login: revoked (or the server no longer accepted it). */
  | { token: 'revoked' | 'already-invalid' }
  /** It was issued by a browser login but the server could not be told: it stays valid. */
  | { token: 'still-valid'; failed: string }
  /** It came from `login --token` (or an older runcell): it may be in use elsewhere, so it was left alone. */
  | { token: 'kept-on-server' };

/**
 * After a login kept a new token for a server: the token kept before, if another, is revoked when a
 * browser login issued it (only this CLI ever held it); any other token is left valid and reported.
 */
export async function retireReplaced(
  server: string,
  old: SavedToken | undefined,
  token: string,
): Promise<Replaced | undefined> {
  if (!old || old.token === token) return undefined;
  if (old.source !== 'login') return { token: 'kept-on-server' };
  const r = await revokeCurrent({ url: server, token: old.token });
  if (r === 'revoked' || r === 'already-invalid') return { token: r };
  if (r === 'configured') return { token: 'kept-on-server' };
  return { token: 'still-valid', failed: r.failed };
}
