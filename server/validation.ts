// How request parts are validated. Fastify's Ajv coerces types everywhere (`coerceTypes: 'array'`):
// right for the query string, path and headers, which are text, but in a JSON body it turned
// `{"code": 5}` into the cell `5` and ran it, `null` into "" and a string into a one-item list. A body
// is JSON that already carries its types, so it is checked as sent: a wrong type is a 400
// RUNCELL_ERR_BAD_REQUEST. Every other Ajv option (defaults, formats) is the same for every part.
import { AjvCompiler, type ValidatorFactory } from '@fastify/ajv-compiler';

/** Fastify's `schemaController.compilersFactory.buildValidator`: no type coercion for bodies. */
export function validatorFactory(): ValidatorFactory {
  const pool = AjvCompiler();
  return (externalSchemas, options) => {
    const coercing = pool(externalSchemas, options);
    const customOptions = { ...options?.customOptions, coerceTypes: false as const };
    const exact = pool(externalSchemas, { ...options, mode: undefined, customOptions } as typeof options);
    return (route) => (route.httpPart === 'body' ? exact(route) : coercing(route));
  };
}
