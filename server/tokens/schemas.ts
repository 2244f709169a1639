// The tokens and login API's shapes, once: TypeBox schemas validate requests and serialize responses
// (a secret can only leave the server through the one schema that has a `token` field), and the
// TypeScript types below are derived from them.
import { type Static, Type } from 'typebox';

/** Issued tokens: "rc_" and 32 random bytes in base64url. */
export const TOKEN_PATTERN = /^rc_[A-Za-z0-9_-]{43}$/;
/** Characters of a token shown in lists (the "rc_" and 8 of its 43 random characters). */
export const PREFIX_LENGTH = 11;
export const MAX_NAME = 100;

/** Control and bidi-override characters: never in a name shown to people. */
const UNPRINTABLE = '\\u0000-\\u001f\\u007f-\\u009f\\u202a-\\u202e\\u2066-\\u2069';
/** A name for people: printable and not blank. */
export const TokenName = Type.String({
  minLength: 1,
  maxLength: MAX_NAME,
  pattern: `^(?!\\s*$)[^${UNPRINTABLE}]+$`,
});

const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });
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

export const IdParams = Type.Object({ id: Uuid });

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

/** PKCE S256 (RFC 7636 §4.2): base64url(sha256(verifier)), 43 characters. */
export const Challenge = Type.String({ pattern: '^[A-Za-z0-9_-]{43}$' });
/** RFC 7636 §4.1: 43-128 unreserved characters. */
export const Verifier = Type.String({ pattern: '^[A-Za-z0-9._~-]{43,128}$' });
export const State = Type.String({ pattern: '^[A-Za-z0-9._~-]{16,128}$' });
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
