// The jobs API's shapes: the wire schemas and types every side shares live in shared/jobs.ts (the SDK,
// CLI and jobs page import them from there); what only the server's routes need is declared here.
import { Type } from 'typebox';
import { Uuid } from '../../shared/jobs.js';

export * from '../../shared/jobs.js';

export const IdParams = Type.Object({ id: Uuid });
export const FileParams = Type.Object({ id: Uuid, file: Type.String({ maxLength: 64 }) });
