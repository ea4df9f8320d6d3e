// Broker process observation through /proc (Linux only): CPU time from /proc/<pid>/stat
// (utime + stime, all threads) and resident memory from /proc/<pid>/status (VmRSS). Child
// processes of the broker are included so a broker that forks workers is measured as a whole.

import { execFileSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';

let clockTicks = 0;

/** Clock ticks per second used by /proc/<pid>/stat (normally 100). */
export function clkTck(): number {
  if (clockTicks === 0) {
    try {
      clockTicks = Number.parseInt(execFileSync('getconf', ['CLK_TCK'], { encoding: 'utf8' }).trim(), 10);
    } catch {
      clockTicks = 100;
    }
    if (!Number.isFinite(clockTicks) || clockTicks <= 0) clockTicks = 100;
  }
  return clockTicks;
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}

/** utime + stime in clock ticks, or null if the process is gone. */
export function cpuTicks(pid: number): number | null {
  return statCpuTicks(readText(`/proc/${pid}/stat`));
}

/** CPU seconds (utime + stime) of one thread of a process, or null if it is gone. */
export function threadCpuSeconds(pid: number | 'self', tid: number): number | null {
  const ticks = statCpuTicks(readText(`/proc/${pid}/task/${tid}/stat`));
  return ticks === null ? null : ticks / clkTck();
}

function statCpuTicks(stat: string | null): number | null {
  if (stat === null) return null;
  // The command name (field 2) may contain spaces and parentheses: split after the last ')'.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  // fields[0] is field 3 (state); utime is field 14, stime field 15.
  return Number(fields[11]) + Number(fields[12]);
}

/** VmRSS in KiB, or null if the process is gone. */
export function rssKiB(pid: number): number | null {
  const status = readText(`/proc/${pid}/status`);
  if (status === null) return null;
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  return m ? Number(m[1]) : 0;
}

/** The pid and all its descendants (through /proc/<pid>/task/<tid>/children). */
export function processTree(pid: number): number[] {
  const out: number[] = [];
  const stack = [pid];
  while (stack.length > 0 && out.length < 1024) {
    const p = stack.pop()!;
    out.push(p);
    let tasks: string[];
    try {
      tasks = readdirSync(`/proc/${p}/task`);
    } catch {
      continue;
    }
    for (const t of tasks) {
      const children = readText(`/proc/${p}/task/${t}/children`);
      if (!children) continue;
      for (const c of children.trim().split(/\s+/)) if (c) stack.push(Number(c));
    }
  }
  return out;
}

export interface ProcSnapshot {
  /** performance.now() of the snapshot. */
  at: number;
  ticks: number;
  rssKiB: number;
  alive: boolean;
}

export function snapshot(pid: number): ProcSnapshot {
  const at = performance.now();
  let ticks = 0;
  let rss = 0;
  let alive = false;
  for (const p of processTree(pid)) {
    const t = cpuTicks(p);
    const r = rssKiB(p);
    if (t !== null) {
      ticks += t;
      if (p === pid) alive = true;
    }
    if (r !== null) rss += r;
  }
  return { at, ticks, rssKiB: rss, alive };
}

/** CPU use between two snapshots in percent of one core. */
export function cpuPercent(a: ProcSnapshot, b: ProcSnapshot): number {
  const wallSec = (b.at - a.at) / 1000;
  if (wallSec <= 0) return 0;
  return ((b.ticks - a.ticks) / clkTck() / wallSec) * 100;
}

/** Samples RSS periodically to find the peak during a run. */
export class RssSampler {
  peakKiB = 0;
  lastKiB = 0;
  private timer: NodeJS.Timeout | null = null;

  constructor(
    private readonly pid: number,
    private readonly intervalMs = 100,
  ) {}

  sample(): number {
    const s = snapshot(this.pid);
    this.lastKiB = s.rssKiB;
    if (s.rssKiB > this.peakKiB) this.peakKiB = s.rssKiB;
    return s.rssKiB;
  }

  start(): void {
    this.sample();
    this.timer = setInterval(() => this.sample(), this.intervalMs);
    this.timer.unref();
  }

  stop(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = null;
    this.sample();
  }
}

export interface FdLimit {
  soft: number;
  hard: number;
}

/** Max open files of a process ('self' or a pid) from /proc/<pid>/limits. */
export function fdLimit(pid: number | 'self' = 'self'): FdLimit | null {
  const text = readText(`/proc/${pid}/limits`);
  if (text === null) return null;
  const m = /^Max open files\s+(\S+)\s+(\S+)/m.exec(text);
  if (!m) return null;
  const n = (s: string | undefined): number => (s === 'unlimited' ? Number.POSITIVE_INFINITY : Number(s));
  return { soft: n(m[1]), hard: n(m[2]) };
}

/** Currently open descriptors of this process. */
export function openFds(): number {
  try {
    return readdirSync('/proc/self/fd').length;
  } catch {
    return 0;
  }
}

/**
 * Tries to raise the open-files limit of `pid` to at least `need` with prlimit(1). Raising the
 * soft limit up to the hard limit is always allowed; raising the hard limit needs
 * CAP_SYS_RESOURCE. Returns the limit in force afterwards.
 */
export function tryRaiseFdLimit(pid: number, need: number): FdLimit | null {
  const cur = fdLimit(pid);
  if (cur === null || cur.soft >= need) return cur;
  const hard = Math.max(cur.hard, need);
  for (const target of [`${hard}:${hard}`, `${cur.hard}:${cur.hard}`]) {
    try {
      execFileSync('prlimit', ['--pid', String(pid), `--nofile=${target}`], { stdio: 'ignore' });
      break;
    } catch {
      // not permitted (no CAP_SYS_RESOURCE) or prlimit missing: try the next, smaller target
    }
  }
  return fdLimit(pid);
}

export interface CpuTimes {
  /** Per CPU: [busy, total] jiffies from /proc/stat (busy excludes idle and iowait). */
  perCpu: Array<[number, number]>;
  /** Steal jiffies summed over CPUs (time the hypervisor ran something else). */
  steal: number;
}

export function cpuTimes(): CpuTimes | null {
  const text = readText('/proc/stat');
  if (text === null) return null;
  const perCpu: Array<[number, number]> = [];
  let steal = 0;
  for (const line of text.split('\n')) {
    const m = /^cpu(\d+)\s+(.*)$/.exec(line);
    if (!m) continue;
    const f = m[2]!.trim().split(/\s+/).map(Number);
    // user nice system idle iowait irq softirq steal (guest times are included in user)
    const total = f.slice(0, 8).reduce((a, b) => a + b, 0);
    const idle = (f[3] ?? 0) + (f[4] ?? 0);
    steal += f[7] ?? 0;
    perCpu[Number(m[1])] = [total - idle, total];
  }
  return { perCpu, steal };
}

export interface SystemLoad {
  /** Busy percent of each CPU over the interval. */
  coreBusyPct: number[];
  /** Busy percent of all CPUs together minus `ownPct` (other processes, IRQs): in % of one core. */
  otherPct: number;
  /** Steal in % of one core. */
  stealPct: number;
}

/** System-wide CPU use between two readings; `ownPct` = broker + generator CPU (% of one core). */
export function systemLoad(a: CpuTimes, b: CpuTimes, ownPct: number): SystemLoad {
  const coreBusyPct: number[] = [];
  let busySum = 0;
  let span = 0;
  for (let i = 0; i < b.perCpu.length; i++) {
    const x = a.perCpu[i];
    const y = b.perCpu[i];
    if (!x || !y) continue;
    const total = y[1] - x[1];
    const busy = y[0] - x[0];
    coreBusyPct[i] = total > 0 ? Math.round((busy / total) * 1000) / 10 : 0;
    busySum += busy;
    span = Math.max(span, total);
  }
  const pct = (j: number): number => (span > 0 ? Math.round((j / span) * 1000) / 10 : 0);
  return {
    coreBusyPct,
    otherPct: Math.max(0, Math.round((pct(busySum) - ownPct) * 10) / 10),
    stealPct: pct(b.steal - a.steal),
  };
}

export interface TcpCounters {
  listenOverflows: number;
  listenDrops: number;
  retransSegs: number;
}

/** System-wide TCP counters (accept-queue overflows, retransmissions) to explain slow connects. */
export function tcpCounters(): TcpCounters | null {
  const netstat = readText('/proc/net/netstat');
  const snmp = readText('/proc/net/snmp');
  if (netstat === null || snmp === null) return null;
  const table = (text: string, prefix: string): Map<string, number> => {
    const lines = text.split('\n').filter((l) => l.startsWith(`${prefix}:`));
    const out = new Map<string, number>();
    if (lines.length < 2) return out;
    const keys = lines[0]!.split(/\s+/).slice(1);
    const vals = lines[1]!.split(/\s+/).slice(1);
    keys.forEach((k, i) => {
      out.set(k, Number(vals[i]));
    });
    return out;
  };
  const ext = table(netstat, 'TcpExt');
  const tcp = table(snmp, 'Tcp');
  return {
    listenOverflows: ext.get('ListenOverflows') ?? 0,
    listenDrops: ext.get('ListenDrops') ?? 0,
    retransSegs: tcp.get('RetransSegs') ?? 0,
  };
}
