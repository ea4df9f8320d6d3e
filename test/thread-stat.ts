/** Scheduling state of this process's threads, from Linux /proc/<pid>/task/<tid>/stat (tests of thread priority). */
import { readdirSync, readFileSync } from 'node:fs';

export const SCHED_OTHER = 0;
export const SCHED_IDLE = 5;

export interface ThreadSched {
  nice: number;
  policy: number;
}

/** Niceness and scheduling policy of every thread of this process, by thread id. */
export function threadScheduling(): Map<number, ThreadSched> {
  const out = new Map<number, ThreadSched>();
  for (const tid of readdirSync(`/proc/${process.pid}/task`)) {
    let stat: string;
    try {
      stat = readFileSync(`/proc/${process.pid}/task/${tid}/stat`, 'utf8');
    } catch {
      continue; // the thread exited meanwhile
    }
    // Fields after "(comm)": the 3rd field of proc(5)'s stat is at index 0, so field n is at n - 3.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    out.set(Number(tid), { nice: Number(fields[19 - 3]), policy: Number(fields[41 - 3]) });
  }
  return out;
}

/** The threads in `after` that were not in `before`. */
export function newThreads(before: Map<number, ThreadSched>, after: Map<number, ThreadSched>): ThreadSched[] {
  return [...after].filter(([tid]) => !before.has(tid)).map(([, t]) => t);
}
