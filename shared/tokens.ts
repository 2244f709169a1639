// The tokens and login API's wire shapes, once, for every side: TypeBox schemas validate requests and
// serialize responses on the server (a secret can only leave it through the one schema that has a
// `token` field); the CLI and the account pages use the types derived from them (the pages as types
// only, so no schema code reaches the browser).
import { type Static, Type } from 'typebox';
import { CHALLENGE_PATTERN, STATE_PATTERN, UNPRINTABLE } from './login.js';

export const MAX_NAME = 100;

/** A name for people: printable and not blank. */
export const TokenName = Type.String({
  minLength: 1,
  maxLength: MAX_NAME,
  pattern: `^(?!\\s*$)[^${UNPRINTABLE}]+$`,
});

const Time = Type.String({ format: 'date-time' });
const TimeOrNull = Type.Union([Time, Type.Null()]);

export const TokenInfo = Type.Object({
  id: Type.String(),
  name: Type.String(),
  /** The token's first characters, to tell it apart (never enough to use it). */
  prefix: Type.String(),
  created_at: Time,
  last_used_at: TimeOrNull,
  /** True for the token this request was made with. */
  current: Type.Boolean(),
});
export type TokenInfo = Static<typeof TokenInfo>;

export const TokenList = Type.Object({ tokens: Type.Array(TokenInfo), max: Type.Integer() });
export type TokenList = Static<typeof TokenList>;

export const CreateBody = Type.Object({ name: TokenName }, { additionalProperties: false });
export type CreateBody = Static<typeof CreateBody>;

/** The one answer that carries a secret: shown once, never stored. */
export const CreatedToken = Type.Object({
  id: Type.String(),
  name: Type.String(),
  prefix: Type.String(),
  created_at: Time,
  token: Type.String(),
});
export type CreatedToken = Static<typeof CreatedToken>;

export const WhoAmI = Type.Object({
  owner: Type.String(),
  /** configured: a RUNCELL_TOKENS entry; issued: a token made through this API or the login. */
  credential: Type.Union([Type.Literal('configured'), Type.Literal('issued')]),
  token: Type.Union([
    Type.Object({ id: Type.String(), name: Type.String(), prefix: Type.String() }),
    Type.Null(),
  ]),
});
export type WhoAmI = Static<typeof WhoAmI>;

export const Challenge = Type.String({ pattern: CHALLENGE_PATTERN });
/** RFC 7636 §4.1: 43-128 unreserved characters. */
export const Verifier = Type.String({ pattern: '^[A-Za-z0-9._~-]{43,128}$' });
export const State = Type.String({ pattern: STATE_PATTERN });
export const Code = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' });
export const Callback = Type.String({ minLength: 1, maxLength: 300 });

export const CodeBody = Type.Object(
  { callback: Callback, state: State, challenge: Challenge, name: TokenName },
  { additionalProperties: false },
);
export type CodeBody = Static<typeof CodeBody>;

export const CodeReply = Type.Object({
  /** The callback with ?code=…&state=… : where the approving page sends the browser. */
  redirect: Type.String(),
  expires_at: Time,
});
export type CodeReply = Static<typeof CodeReply>;

export const ExchangeBody = Type.Object(
  { code: Code, verifier: Verifier, callback: Callback },
  { additionalProperties: false },
);
export type ExchangeBody = Static<typeof ExchangeBody>;
