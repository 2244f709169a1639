// The tokens and login API's shapes: the wire schemas and types every side shares live in
// shared/tokens.ts; what only the server needs (how issued tokens look, route parameters) is here.
import { Type } from 'typebox';

export * from '../../shared/tokens.js';

/** Issued tokens: "rc_" and 32 random bytes in base64url. */
export const TOKEN_PATTERN = /^rc_[A-Za-z0-9_-]{43}$/;
/** Characters of a token shown in lists (the "rc_" and 8 of its 43 random characters). */
export const PREFIX_LENGTH = 11;

const Uuid = Type.String({ pattern: '^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$' });
export const IdParams = Type.Object({ id: Uuid });
