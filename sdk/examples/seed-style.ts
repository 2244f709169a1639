// The seed's call style (as the CloudCV client): submit without awaiting, then wait for everything
// this client submitted, with a timeout. Jobs still running when it passes keep running on the
// server; their ids come back to be resumed later. Run: RUNCELL_SERVER=… RUNCELL_TOKEN=… npx tsx
// sdk/examples/seed-style.ts   (docs/jobs.md quotes this file; test/sdk/examples.test.ts runs it)
import { RunCell } from '../index.js';

const ccv = new RunCell({
  url: process.env.RUNCELL_SERVER ?? 'http://127.0.0.1:8888',
  token: process.env.RUNCELL_TOKEN,
});
ccv.execute({ code: 'print(sum(range(10)))', name: 'sum' });
ccv.execute({ code: 'import time; time.sleep(600)', name: 'slow' });
const timeout = Number(process.env.TIMEOUT_S ?? 30);
const { finished, unfinished } = await ccv.exit({ timeout });
for (const job of finished) console.log(job.name, job.state, job.result?.stdout.trim());
// Partial completion: these go on running on the server; resume them later (or `runcell logs ID`).
console.log('unfinished:', unfinished.map((h) => h.id).join(' '));
if (unfinished.length > 0) {
  const later = new RunCell({ url: ccv.url, token: process.env.RUNCELL_TOKEN });
  const handles = await later.resume(unfinished.map((h) => h.id));
  for (const h of handles) await h.cancel();
  const after = await later.exit({ timeout: 30 });
  for (const job of after.finished) console.log(job.name, job.state);
}
