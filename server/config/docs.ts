// The settings table of docs/configuration.md, generated from the settings themselves
// (`npm run docs:config` rewrites it; a test checks the committed one is current).
import { NOT_SETTINGS } from './load.js';
import type { Setting } from './schema.js';
import { SETTINGS } from './settings.js';

export const BEGIN = '<!-- settings: generated from server/config/settings.ts by `npm run docs:config` -->';
export const END = '<!-- settings: end -->';

const cell = (s: string) => s.replace(/\|/g, '\\|');
const code = (s: string) => `\`${s}\``;

/** The generated part: every setting, then the RUNCELL_* variables that are not settings. */
export function settingsDoc(): string {
  const rows = (Object.entries(SETTINGS) as [string, Setting<unknown>][]).map(([key, s]) =>
    [code(s.env), code(key), s.shown ?? s.format(s.default), s.accepts, s.doc].map(cell),
  );
  const byWhy = new Map<string, string[]>();
  for (const [name, why] of Object.entries(NOT_SETTINGS))
    byWhy.set(why, [...(byWhy.get(why) ?? []), code(name)]);
  const others = [...byWhy].map(([why, names]) => `- ${names.join(', ')}: ${why}`);
  return [
    '| environment | file key | default | values | meaning |',
    '| --- | --- | --- | --- | --- |',
    ...rows.map((r) => `| ${r.join(' | ')} |`),
    '',
    'Any other `RUNCELL_*` variable stops start-up as a likely typo ("unknown setting RUNCELL_POOLSIZE;',
    'did you mean RUNCELL_POOL_SIZE?"), except these, which are not settings but may be set where the',
    'server runs:',
    '',
    ...others,
  ].join('\n');
}

/** `markdown` with the text between the markers replaced by settingsDoc(). */
export function withSettingsDoc(markdown: string): string {
  const from = markdown.indexOf(BEGIN);
  const to = markdown.indexOf(END);
  if (from < 0 || to < from) throw new Error(`the markers ${BEGIN} and ${END} are missing`);
  return `${markdown.slice(0, from + BEGIN.length)}\n${settingsDoc()}\n${markdown.slice(to)}`;
}
