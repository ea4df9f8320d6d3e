/**
 * Storage-path worker threads run below the broker's I/O thread: when the machine is busy, forwarding keeps its
 * CPU and the storage path gets what is left (and sheds, counted, what it cannot do), never the other way round.
 *
 * Linux only, two steps, each per thread:
 * - niceness: `setPriority(n)` is `setpriority(PRIO_PROCESS, 0, n)`, which on Linux changes the calling *thread*
 *   (elsewhere it would change the whole process, the I/O thread included, so nothing is done there);
 * - SCHED_IDLE (optional, on by default for the storage threads): the thread runs only when no normal thread on its
 *   core wants the CPU, and a normal thread that wakes up preempts it at once. Nice 19 alone still gives a storage
 *   thread a weighted share and a time slice on the I/O thread's core. bench/storage/tap.ts, whole broker on one
 *   core, at saturation, delivered on/off per run pair: nice 19 alone median 0.83 (6 pairs; I/O thread +21 % CPU
 *   per message); with SCHED_IDLE median 0.885 over 14 pairs in two runs of the benchmark (I/O thread +2 % and
 *   +14 %). The storage threads then write less there (~44k rows per run instead of ~110k) and shed more, counted.
 *   Node has no call for it, so util-linux's `chrt` sets it; without `chrt` (or permission) the thread keeps its
 *   niceness. Leaving SCHED_IDLE needs privileges, so the thread never goes back.
 */
import { execFileSync } from 'node:child_process';
import { readlinkSync } from 'node:fs';
import { setPriority } from 'node:os';

/** Default niceness of storage-path worker threads (0 = as the process; 19 = lowest). */
export const STORAGE_THREAD_NICENESS = 19;

/** Whether storage-path worker threads switch to SCHED_IDLE by default. */
export const STORAGE_THREAD_SCHED_IDLE = true;

/** How a worker thread lowers itself; sent to it in `workerData`. */
export interface ThreadPriority {
  /** 0–19 below the process (0 = unchanged). */
  niceness?: number;
  /** Switch to SCHED_IDLE as well. */
  schedIdle?: boolean;
}

/** Lowers the calling thread's scheduling priority (Linux; elsewhere nothing is done). */
export function lowerThreadPriority(priority: ThreadPriority | undefined): void {
  if (process.platform !== 'linux' || priority === undefined) return;
  const niceness = priority.niceness ?? 0;
  if (Number.isInteger(niceness) && niceness > 0) {
    try {
      setPriority(Math.min(19, niceness));
    } catch {
      // not permitted (containers may refuse): the thread keeps the process's priority
    }
  }
  if (priority.schedIdle === true) enterSchedIdle();
}

function enterSchedIdle(): void {
  try {
    // "<pid>/task/<tid>": the id the kernel schedules this thread by.
    const tid = readlinkSync('/proc/thread-self').split('/').pop() ?? '';
    if (!/^\d+$/.test(tid)) return;
    // Blocks this worker (not the I/O thread) for the few ms chrt takes, before it does any work.
    execFileSync('chrt', ['--idle', '--pid', '0', tid], { stdio: 'ignore', timeout: 5000 });
  } catch {
    // no chrt, or not permitted: the niceness alone
  }
}

/** A storage thread's priority from its owner's options: the defaults above where an option is not given. */
export function storageThreadPriority(options: ThreadPriority): Required<ThreadPriority> {
  return {
    niceness: options.niceness ?? STORAGE_THREAD_NICENESS,
    schedIdle: options.schedIdle ?? STORAGE_THREAD_SCHED_IDLE,
  };
}
