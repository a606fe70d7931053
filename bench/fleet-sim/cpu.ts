// CPU time and memory used, to tell apart what etcd costs and what the simulated hosts cost (on a real fleet each host
// has its own CPU; here all of them and etcd share one machine).
import { readFile } from 'node:fs/promises';

/** Linux's USER_HZ: /proc/<pid>/stat counts CPU time in ticks of 1/100 s on every mainstream build. */
const TICKS_PER_S = 100;

/** CPU time (user + system) used so far by the processes `pids`, in ms. */
export async function processCpuMs(pids: readonly number[]): Promise<number> {
  let ticks = 0;
  for (const pid of pids) {
    const stat = await readFile(`/proc/${pid}/stat`, 'utf8').catch(() => '');
    // Fields after the command name (which may hold spaces, so split after its closing parenthesis).
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    ticks += Number(fields[11] ?? 0) + Number(fields[12] ?? 0);
  }
  return (ticks * 1000) / TICKS_PER_S;
}

/** Resident memory of the processes `pids` now, in bytes (VmRSS in /proc/<pid>/status). */
export async function processRssBytes(pids: readonly number[]): Promise<number> {
  let kib = 0;
  for (const pid of pids) {
    const status = await readFile(`/proc/${pid}/status`, 'utf8').catch(() => '');
    kib += Number(/^VmRSS:\s+(\d+) kB/m.exec(status)?.[1] ?? 0);
  }
  return kib * 1024;
}
