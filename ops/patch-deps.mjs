// Idempotent fixes to installed dependencies, applied after `npm ci` (ops/install.sh and postinstall).
// postgres.js 3.4.9: a write scheduled with setImmediate can fire after the socket closed (closed()
// sets socket = null), throwing an uncaught TypeError that would crash the server during a database
// outage. Guard it: with no socket the pending bytes are dropped; the connection's queries fail over
// and reconnect as they do for any closed connection.
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const from = '    const x = socket.write(chunk, fn)';
const to = `    if (!socket) {\n      chunk = nextWriteTimer = null\n      return false\n    }\n${from}`;
for (const rel of [
  'node_modules/postgres/src/connection.js',
  'node_modules/postgres/cjs/src/connection.js',
]) {
  const p = join(root, rel);
  if (!existsSync(p)) continue;
  const s = readFileSync(p, 'utf8');
  if (s.includes(to)) continue;
  if (!s.includes(from)) {
    console.warn(`runcell: ${rel} changed upstream; review ops/patch-deps.mjs`);
    continue;
  }
  writeFileSync(p, s.replace(from, to));
  console.log(`runcell: patched ${rel} (write after close)`);
}
