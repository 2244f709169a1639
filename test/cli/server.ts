// A jobs server in its own process, for the CLI suite to SIGKILL mid-batch and start again:
//   node --import tsx test/cli/server.ts <postgres url> <slot> [port]
// Prints "READY <port>" once it listens.
import { existingDb, startStack } from '../server/jobs/helpers.js';

const [url, slot, port] = process.argv.slice(2);
const s = await startStack(Number(slot), {
  db: existingDb(url as string),
  http: true,
  poolSize: 2,
  maxKernels: 5,
  port: Number(port ?? 0),
  limits: { concurrency: 2, perOwner: 2 },
});
process.stdout.write(`READY ${new URL(s.base).port}\n`);
process.on('SIGTERM', () => {
  void s.stop().then(() => process.exit(0));
});
