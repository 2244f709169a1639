// The stats API's shapes live in shared/stats.ts (the stats page reads them too).
export * from '../../shared/stats.js';
