// Migration 006: job leases (server/jobs/lease.ts). The instance running a job renews `lease_until`
// (on the database's clock); a launched or running job whose lease lapsed is recovered by any instance.
export default /* sql */ `
alter table jobs add column lease_until timestamptz;
-- Jobs already launched or running keep their owner's old guarantee (recovered at its next start)
-- and get one lease, so an instance that never comes back still has them recovered.
update jobs set lease_until = now() + interval '5 minutes' where state in ('launched', 'running');
`;
