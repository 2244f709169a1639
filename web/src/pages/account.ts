// One script for the account pages (pages share no code at run time, so they are one entry):
//   /tokens  the account's API tokens (tokens.ts)
//   /login   the CLI's browser sign-in (login.ts)
import { startLogin } from './login.js';
import { startTokens } from './tokens.js';

if (location.pathname === '/login') startLogin();
else startTokens();
