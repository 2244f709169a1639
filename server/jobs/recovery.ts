// At start-up, before the scheduler claims anything: jobs that a previous run of this instance left
// launched or running can no longer finish (their kernels died with that process), so they are
// marked aborted with the reason, ready to be rerun. Queued jobs are untouched: the scheduler's
// first sweep runs them.
import type { Logger } from 'pino';
import type { JobEvents } from './events.js';
import type { Repository } from './repository.js';

export async function recover(
  repo: Repository,
  events: JobEvents,
  instance: string,
  log: Logger,
): Promise<number> {
  const orphans = await repo.orphaned(instance);
  let n = 0;
  for (const j of orphans) {
    const reason = `the server stopped while the job was ${j.state} (restart or crash); rerun it`;
    if (await repo.transition(j.id, j.owner, [j.state], 'aborted', { reason })) {
      events.published(j.owner);
      n++;
    }
  }
  if (n > 0) log.warn({ aborted: n, instance }, 'jobs left running by the previous run were marked aborted');
  return n;
}
