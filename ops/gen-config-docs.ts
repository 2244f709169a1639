// `npm run docs:config`: rewrites the settings table in docs/configuration.md from
// server/config/settings.ts. A test (test/server/config.test.ts) fails when it is out of date.
import { readFileSync, writeFileSync } from 'node:fs';
import { withSettingsDoc } from '../server/config/docs.js';

const path = new URL('../docs/configuration.md', import.meta.url);
const before = readFileSync(path, 'utf8');
const after = withSettingsDoc(before);
if (after === before) console.log('docs/configuration.md: up to date');
else {
  writeFileSync(path, after);
  console.log('docs/configuration.md: settings table rewritten');
}
