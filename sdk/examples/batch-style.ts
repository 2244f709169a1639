// The batch style: one submission is one batch; await the results, or iterate its events live.
// Run: RUNCELL_SERVER=… RUNCELL_TOKEN=… npx tsx sdk/examples/batch-style.ts
// (docs/jobs.md quotes this file; test/sdk/examples.test.ts runs it)
import { RunCell } from '../index.js';

const rc = new RunCell({
  url: process.env.RUNCELL_SERVER ?? 'http://127.0.0.1:8888',
  token: process.env.RUNCELL_TOKEN,
});
const batch = await rc.submit([
  { code: 'print(6 * 7)', name: 'answer' },
  { code: 'raise ValueError("bad input")', name: 'broken' },
]);
console.log('batch', batch.id, 'runs', batch.perOwner, 'at a time');
for await (const e of batch.events()) console.log('event', e.state, e.job_id);
for (const job of await batch.results())
  console.log(job.name, job.state, job.reason ?? job.result?.stdout.trim());
// Rerun only this batch's failures (nothing of other batches).
const again = await rc.rerunAll({ batch: batch.id, states: ['failed'] });
console.log('reran', again.length);
await rc.exit();
