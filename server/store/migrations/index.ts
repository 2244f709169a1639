// The ordered list of migrations. Add a file NNN_name.ts exporting its SQL and list it here.
import m001 from './001_init.js';
import m002 from './002_jobs.js';
import m003 from './003_pipelines.js';
import m004 from './004_api_tokens.js';
import m005 from './005_stats.js';
import m006 from './006_job_leases.js';

export interface Migration {
  version: number;
  name: string;
  sql: string;
}

export const migrations: readonly Migration[] = [
  { version: 1, name: '001_init', sql: m001 },
  { version: 2, name: '002_jobs', sql: m002 },
  { version: 3, name: '003_pipelines', sql: m003 },
  { version: 4, name: '004_api_tokens', sql: m004 },
  { version: 5, name: '005_stats', sql: m005 },
  { version: 6, name: '006_job_leases', sql: m006 },
];
