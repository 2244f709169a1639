// The account's API tokens (/tokens): sign in with a token, list the account's tokens (never their
// secrets), create one (its secret shown once, with a copy button) and revoke any. Names come from
// users and are shown as text.
import type { CreatedToken, TokenInfo, TokenList } from '../../../shared/tokens.js';
import { $, ApiError, api, session, signedInAs, whoami } from './session.js';

const cell = (s: string, cls?: string) => {
  const td = document.createElement('td');
  td.textContent = s;
  if (cls) td.className = cls;
  return td;
};
const when = (iso: string | null) => (iso ? new Date(iso).toLocaleString() : 'never');

export function startTokens(): void {
  document.title = 'runcell · API tokens';
  $('title').textContent = 'API tokens';
  const statusLine = $('status');
  const rows = $<HTMLTableSectionElement>('rows');
  $('signin').hidden = false;

  const signedOut = (message: string) => {
    $('board').hidden = true;
    $('secret').hidden = true;
    statusLine.textContent = message;
  };

  const load = async () => {
    const r = await api<TokenList>('GET', '/api/tokens');
    rows.replaceChildren(
      ...r.tokens.map((t) => {
        const tr = document.createElement('tr');
        tr.dataset.id = t.id;
        const revoke = document.createElement('button');
        revoke.type = 'button';
        revoke.className = 'button ghost';
        revoke.textContent = 'Revoke';
        revoke.addEventListener('click', () => void remove(t));
        const action = document.createElement('td');
        action.appendChild(revoke);
        tr.append(
          cell(t.current ? `${t.name} (this page)` : t.name),
          cell(`${t.prefix}…`, 'mono'),
          cell(when(t.created_at)),
          cell(when(t.last_used_at)),
          action,
        );
        return tr;
      }),
    );
    $('count').textContent = `${r.tokens.length} of at most ${r.max} tokens.`;
  };

  const remove = async (t: TokenInfo) => {
    try {
      await api('DELETE', `/api/tokens/${t.id}`);
    } catch (e) {
      statusLine.textContent = e instanceof Error ? e.message : String(e);
      return;
    }
    if (t.current) {
      session.forget();
      signedOut(`Revoked “${t.name}”, the token this page was using. Sign in again.`);
      return;
    }
    statusLine.textContent = `Revoked “${t.name}”.`;
    await load();
  };

  const start = async () => {
    try {
      const me = await whoami();
      if (!me) {
        signedOut('The token was refused.');
        return;
      }
      $('board-owner').textContent = signedInAs(me);
      await load();
    } catch {
      signedOut('Could not reach the server.');
      return;
    }
    $('board').hidden = false;
    statusLine.textContent = 'Your tokens.';
  };

  $('signin').addEventListener('submit', (e) => {
    e.preventDefault();
    session.set($<HTMLInputElement>('token').value.trim());
    void start();
  });
  $('forget').addEventListener('click', () => {
    session.forget();
    $<HTMLInputElement>('token').value = '';
    signedOut('Token forgotten.');
  });
  $('create').addEventListener('submit', (e) => {
    e.preventDefault();
    const input = $<HTMLInputElement>('name');
    api<CreatedToken>('POST', '/api/tokens', { name: input.value.trim() })
      .then(async (t) => {
        $('secret-name').textContent = t.name;
        $('secret-value').textContent = t.token;
        $('secret').hidden = false;
        input.value = '';
        statusLine.textContent = `Created “${t.name}”.`;
        await load();
      })
      .catch((err: unknown) => {
        statusLine.textContent =
          err instanceof ApiError && err.status === 400
            ? 'Give the token a name (up to 100 characters).'
            : String((err as Error).message);
      });
  });
  $('copy').addEventListener('click', () => {
    const value = $('secret-value').textContent ?? '';
    // The clipboard API needs a secure context; elsewhere the text is selected for a manual copy.
    const selectIt = () => {
      const range = document.createRange();
      range.selectNodeContents($('secret-value'));
      getSelection()?.removeAllRanges();
      getSelection()?.addRange(range);
      statusLine.textContent = 'Selected: press Ctrl+C (⌘C) to copy.';
    };
    if (navigator.clipboard) {
      navigator.clipboard.writeText(value).then(() => {
        statusLine.textContent = 'Copied.';
      }, selectIt);
    } else selectIt();
  });

  if (session.token) {
    $<HTMLInputElement>('token').value = session.token;
    void start();
  } else statusLine.textContent = 'Enter your API token to manage your tokens.';
}
