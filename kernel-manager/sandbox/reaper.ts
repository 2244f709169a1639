// The sandbox's reaper: a small root process that outlives a server killed without its teardown
// (SIGKILL, OOM, a crash) and kills what that server's kernels left running.
//
// The parent-death signal does not close every window. bubblewrap clones the sandbox's pid 1 before
// that process sets its own parent-death signal; a server killed in between kills the outer bwrap
// (its signal is armed) and leaves pid 1 orphaned, stuck or going on to run the kernel with no one
// to stop it. The reaper does not depend on where the launch had got to:
//   - the server tells it each uid it hands to a kernel (`+uid`, written before the kernel's chain
//     is forked) and each uid it frees (`-uid`), over a pipe only the server holds the other end of;
//   - `stop` ends it (the server's own close);
//   - end of file without `stop` means the server is gone. It waits until it has been re-parented
//     (the server has fully exited: from then on no launch passes the launcher's lifeline check),
//     then SIGKILLs every process of each uid still held, with kill(-1) under that uid: one call,
//     atomic against fork, that reaches only that uid's processes.
// Leftover cgroups and runtime dirs stay for the next start's reclaim (reclaim.ts).
import { type ChildProcess, spawn } from 'node:child_process';

// $1: the server's pid (not $PPID: a server killed before bash started would leave that at 1).
// First closes what it inherited without close-on-exec (a test runner's pipes, a supervisor's
// sockets): living on, it would keep their other ends from seeing the server go.
const SCRIPT = `for f in /proc/$$/fd/*; do n=\${f##*/}; if [ "$n" -gt 2 ]; then exec {n}>&-; fi; done
server=$1
declare -A held
while IFS= read -r line; do
  case $line in
    +*) held[\${line#+}]=1 ;;
    -*) unset "held[\${line#-}]" ;;
    stop) exit 0 ;;
  esac
done
for ((i = 0; i < 1200; i++)); do
  read -r _ _ _ ppid _ < /proc/$BASHPID/stat
  [ "$ppid" != "$server" ] && break
  /usr/bin/sleep 0.05
done
[ "$ppid" = "$server" ] && exit 1
for round in 1 2; do
  for uid in "\${!held[@]}"; do
    /usr/bin/setpriv --reuid="$uid" --regid="$uid" --clear-groups /bin/bash -c 'kill -KILL -1' 2>/dev/null
  done
done
exit 0`;

/** The name the reaper shows in ps, followed by the server's pid. */
export const REAPER_NAME = 'runcell-reaper';

export class Reaper {
  readonly #child: ChildProcess;
  #stopped = false;

  private constructor(child: ChildProcess) {
    this.#child = child;
  }

  /** Starts the reaper of this process's kernels. It does not keep the event loop alive. */
  static start(): Reaper {
    // Its own session: a signal to the server's process group (a terminal's ^C, a supervisor's
    // group kill) must not take the reaper down with the server.
    const child = spawn('/bin/bash', ['-c', SCRIPT, REAPER_NAME, String(process.pid)], {
      env: {},
      cwd: '/',
      stdio: ['pipe', 'ignore', 'ignore'],
      detached: true,
    });
    child.unref();
    child.stdin?.on('error', () => {}); // the reaper gone: nothing left to tell
    (child.stdin as unknown as { unref?: () => void }).unref?.();
    return new Reaper(child);
  }

  /** A kernel is about to run under `uid`. The write reaches the pipe before this returns (libuv
   * writes at once when nothing is queued), so it precedes the fork of that kernel's chain. */
  hold(uid: number): void {
    this.#send(`+${uid}`);
  }

  /** Nothing of `uid` runs any more. */
  release(uid: number): void {
    this.#send(`-${uid}`);
  }

  /** Ends the reaper without it killing anything (the server's orderly close). */
  stop(): void {
    this.#send('stop');
    this.#stopped = true;
    this.#child.stdin?.end();
  }

  get pid(): number | undefined {
    return this.#child.pid;
  }

  #send(line: string): void {
    if (this.#stopped || !this.#child.stdin?.writable) return;
    this.#child.stdin.write(`${line}\n`);
  }
}
