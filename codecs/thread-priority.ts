/**
 * Storage-path worker threads run below the broker's I/O thread: when the machine is busy, forwarding keeps its
 * CPU and the storage path gets what is left (and sheds, counted, what it cannot do), never the other way round.
 *
 * Linux only: there `setpriority(PRIO_PROCESS, 0, n)` (what `os.setPriority(n)` calls) changes the calling
 * *thread*. Elsewhere it would change the whole process, the I/O thread included, so nothing is done.
 */
import { setPriority } from 'node:os';

/** Default niceness of storage-path worker threads (0 = as the process; 19 = lowest). */
export const STORAGE_THREAD_NICENESS = 19;

/** Lowers the calling thread's scheduling priority by `niceness` (Linux); returns whether it did. */
export function lowerThreadPriority(niceness: number): boolean {
  if (process.platform !== 'linux' || !Number.isInteger(niceness) || niceness <= 0) return false;
  try {
    setPriority(Math.min(19, niceness));
    return true;
  } catch {
    return false; // not permitted (containers may refuse): the thread keeps the process's priority
  }
}
