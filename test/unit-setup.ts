// The fast tier's contract, enforced: a unit test starts no process and opens no socket (so it needs no
// root, no kernels, no database and no network). Anything that tries fails loudly, naming the call;
// such a test belongs in the main tier (vitest.config.ts).
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
import net from 'node:net';

function refuse(what: string): never {
  throw new Error(
    `the unit tier starts no processes and opens no sockets (${what}); move this test to the main tier`,
  );
}

for (const name of ['spawn', 'spawnSync', 'exec', 'execSync', 'execFile', 'execFileSync', 'fork'] as const) {
  (childProcess as unknown as Record<string, unknown>)[name] = () => refuse(`child_process.${name}`);
}
net.Socket.prototype.connect = function connect() {
  return refuse('net.Socket.connect');
};
net.Server.prototype.listen = function listen() {
  return refuse('net.Server.listen');
};
// Named imports of built-ins (`import { spawn } from 'node:child_process'`) see the replacements too.
syncBuiltinESMExports();
