// The CLI's browser sign-in (/login?callback=…&state=…&challenge=…&name=…, opened by
// `runcell login`): sign in with an API token if this tab has none, see what is asking, then Approve
// or Deny. Approve asks the server for a one-time code bound to the CLI's challenge and callback and
// sends the browser to the server's redirect (the CLI's listener on this computer), which exchanges
// the code for a new token. The token itself never appears in a URL. Everything shown is text.
import {
  CHALLENGE_PATTERN,
  callbackWith,
  checkCallback,
  STATE_PATTERN,
  UNPRINTABLE,
} from '../../../shared/login.js';
import type { CodeReply } from '../../../shared/tokens.js';
import { $, ApiError, api, session, signedInAs, whoami } from './session.js';

const STATE = new RegExp(STATE_PATTERN);
const CHALLENGE = new RegExp(CHALLENGE_PATTERN);
// Control and bidi-override characters never reach a name shown to people.
const UNPRINTABLE_G = new RegExp(`[${UNPRINTABLE}]`, 'g');

export function startLogin(): void {
  document.title = 'runcell · sign in the CLI';
  $('title').textContent = 'Sign in the runcell CLI';
  const statusLine = $('status');
  const q = new URLSearchParams(location.search);
  const callback = q.get('callback') ?? '';
  const state = q.get('state') ?? '';
  const challenge = q.get('challenge') ?? '';
  const host = (q.get('name') ?? '').replace(UNPRINTABLE_G, '').trim().slice(0, 80) || 'an unnamed computer';
  const clientName = `runcell CLI on ${host}`;

  const fail = (message: string) => {
    $('problem').textContent = message;
    $('problem').hidden = false;
    $('request').hidden = true;
    $('signin').hidden = true;
    statusLine.textContent = 'This sign-in cannot continue.';
  };
  const busy = (on: boolean) => {
    for (const id of ['approve', 'deny', 'switch']) $<HTMLButtonElement>(id).disabled = on;
  };

  const checked = checkCallback(callback);
  if (!checked.ok) {
    fail(`This sign-in link cannot be used: ${checked.reason}.`);
    return;
  }
  if (!STATE.test(state) || !CHALLENGE.test(challenge)) {
    fail('This sign-in link is incomplete or damaged. Run runcell login again.');
    return;
  }
  const url = checked.url;

  const show = async () => {
    const me = await whoami().catch(() => undefined);
    if (me === undefined) {
      statusLine.textContent = 'Could not reach the server.';
      return;
    }
    if (!me) {
      $('request').hidden = true;
      $('signin').hidden = false;
      statusLine.textContent = session.token
        ? 'That token was refused. Enter your API token to continue.'
        : 'Enter your API token to continue.';
      return;
    }
    $('signin').hidden = true;
    $('who').textContent = clientName;
    $('owner').textContent = signedInAs(me);
    $('where').textContent = url.host;
    $('request').hidden = false;
    busy(false);
    statusLine.textContent = 'Approve or deny this request.';
  };

  $('signin').addEventListener('submit', (e) => {
    e.preventDefault();
    session.set($<HTMLInputElement>('token').value.trim());
    void show();
  });
  $('forget').addEventListener('click', () => {
    session.forget();
    $<HTMLInputElement>('token').value = '';
    void show();
  });
  $('switch').addEventListener('click', () => {
    session.forget();
    $<HTMLInputElement>('token').value = '';
    void show();
  });
  $('deny').addEventListener('click', () => {
    busy(true);
    statusLine.textContent = 'Denied. You can close this tab.';
    location.replace(callbackWith(url, { error: 'access_denied', state }));
  });
  $('approve').addEventListener('click', () => {
    busy(true);
    statusLine.textContent = 'Approving…';
    api<CodeReply>('POST', '/api/login/codes', { callback, state, challenge, name: clientName })
      .then((r) => {
        // Only ever to the callback checked above, whatever the answer says.
        const to = new URL(r.redirect);
        if (to.origin !== url.origin || to.pathname !== url.pathname) throw new Error('unexpected redirect');
        statusLine.textContent = 'Approved. Handing the sign-in to the CLI…';
        location.replace(to.href);
      })
      .catch((e: unknown) => {
        if (e instanceof ApiError && e.status === 401) return void show();
        fail(e instanceof Error ? e.message : String(e));
      });
  });
  void show();
}
