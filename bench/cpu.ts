import { readdirSync, readFileSync } from 'node:fs';

/** CPU accounting from `/proc/<pid>/stat` (proc(5)): user + system time, in clock ticks of 10 ms. */

/** The fields of `/proc/<pid>/stat` after the command name (which may hold spaces): index 0 is field 3, `state`. */
function statFields(pid: number): string[] {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
}

/** CPU a process has used so far, user + system, in ms (10 ms resolution). */
export function cpuMsOf(pid: number): number {
  const fields = statFields(pid);
  return (Number(fields[11]) + Number(fields[12])) * 10; // utime, stime
}

/**
 * CPU a process and its children have used so far, in ms: its own, that of the children it has
 * reaped (cutime, cstime) and that of its live children. For a PostgreSQL postmaster this is the
 * whole cluster: every backend, also those whose connection has ended.
 */
export function treeCpuMs(pid: number): number {
  const own = statFields(pid);
  let ticks = Number(own[11]) + Number(own[12]) + Number(own[13]) + Number(own[14]);
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const fields = statFields(Number(entry));
      if (Number(fields[1]) === pid) ticks += Number(fields[11]) + Number(fields[12]); // field 4, ppid
    } catch {
      // gone between readdir and read
    }
  }
  return ticks * 10;
}
