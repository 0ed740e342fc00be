// CPU time of processes from /proc (Linux): what `make bench` charges each system per operation.
import { readFileSync } from 'node:fs';

/** Clock ticks per second of /proc/<pid>/stat times (USER_HZ; 100 on every Linux build we run). */
const USER_HZ = 100;

/** Fields after the command name in /proc/<pid>/stat (the name may hold spaces and parentheses). */
function statFields(pid: number | 'self'): string[] {
  const text = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return text.slice(text.lastIndexOf(')') + 2).split(' ');
}

/** User + system CPU milliseconds `pid` has used so far (all its threads); 0 once it is gone. */
export function processCpuMs(pid: number): number {
  try {
    const f = statFields(pid);
    // utime and stime are fields 14 and 15 of stat, i.e. 11 and 12 after the name.
    return ((Number(f[11]) + Number(f[12])) * 1000) / USER_HZ;
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
