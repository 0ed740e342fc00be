// CPU time of processes from /proc (Linux): what `make bench` charges each system per operation.
import { readdirSync, readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux build we run). */
const USER_HZ = 100;

/** Fields after the command name in a /proc stat file (the name may hold spaces and parentheses). */
function statFields(pid: number | 'self', tid?: string): string[] {
  const text = readFileSync(tid === undefined ? `/proc/${pid}/stat` : `/proc/${pid}/task/${tid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** utime + stime (fields 14 and 15 of stat, i.e. 11 and 12 after the name) in milliseconds. */
function userSystemMs(f: readonly string[]): number {
  return ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
}

/** User + system CPU milliseconds `pid` has used so far (all its threads); 0 once it is gone. */
export function processCpuMs(pid: number): number {
  try {
    return userSystemMs(statFields(pid));
  } catch {
    return 0;
  }
}

/**
 * User + system CPU milliseconds of this process's children that have exited and been waited
 * for (cutime + cstime): the CPU a client child used, read before it starts and after it exits.
 */
export function waitedChildrenCpuMs(): number {
  const f = statFields('self');
  return ((Number(f[13]) + Number(f[14])) * 1000) / USER_HZ;
}

/** Sum of processCpuMs over `pids`. */
export function totalCpuMs(pids: readonly number[]): number {
  return pids.reduce((sum, pid) => sum + processCpuMs(pid), 0);
}

/** The 1-minute load average, for the report (the machine is shared). */
export function loadAverage1m(): number {
  try {
    return Number(readFileSync('/proc/loadavg', 'utf8').split(' ')[0]);
  } catch {
    return Number.NaN;
  }
}

/** CPU milliseconds of one process's threads at one moment. */
export interface ThreadCpu {
  /** The main thread (its tid is the pid): the event loop. */
  readonly main: number;
  /** Every other thread together. */
  readonly other: number;
  /** Each thread other than the main one, by tid. */
  readonly byThread: ReadonlyMap<number, number>;
}

/** CPU milliseconds of `pid`'s main thread and of each of its other threads, from /proc. */
export function threadCpuMs(pid: number): ThreadCpu {
  let main = 0;
  let other = 0;
  const byThread = new Map<number, number>();
  try {
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      const ms = userSystemMs(statFields(pid, tid));
      if (Number(tid) === pid) main += ms;
      else {
        other += ms;
        byThread.set(Number(tid), ms);
      }
    }
  } catch {
    // a thread that exits between readdir and read: its time is lost to this sample only
  }
  return { main, other, byThread };
}
