const keep = setInterval(() => {}, 1000);
import { readFileSync } from 'node:fs';
import { pidsOfUids, run, testManager } from './test/kernel-manager/helpers.js';
const m = await testManager(160, { pool: { size: 0 }, fork: { specs: [] }, limits: { executionWallMs: 15000 } });
const k = await m.start('ir');
console.log('impl', k.info?.implementation);
const running = run(k, 'Sys.sleep(10); cat("not interrupted")').catch((e) => ({ err: String(e) }));
await new Promise((r) => setTimeout(r, 1500));
for (const p of pidsOfUids(77000, 77099)) {
  const st = readFileSync(`/proc/${p}/status`, 'utf8').split('\n').filter((l) => /^(Name|Pid|PPid|NSpid|Sig)/.test(l)).join(' | ');
  console.log(p, readFileSync(`/proc/${p}/cmdline`, 'utf8').replaceAll('\0', ' ').slice(0, 80), st);
}
const t = Date.now();
await k.interrupt();
const r: any = await running;
console.log('after', Date.now() - t, JSON.stringify(r.err ?? r.messages?.map((x: any) => [x.header.msg_type, x.content]))?.slice(0, 800));
await m.close();
clearInterval(keep);
