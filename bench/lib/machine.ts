/** What machine the benchmark ran on, and how busy the machine and each process were per phase. */
import { execSync } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { cpus, loadavg, release, totalmem } from 'node:os';
import { cpuSecondsOf, treeCpuSecondsOf } from './proc.js';

export function machineInfo() {
  let nproc = cpus().length;
  try {
    nproc = Number(execSync('nproc', { encoding: 'utf8' }).trim());
  } catch {
    /* os.cpus() */
  }
  return {
    nproc,
    cpuModel: cpus()[0]?.model ?? 'unknown',
    memoryGiB: Math.round((totalmem() / 2 ** 30) * 10) / 10,
    node: process.version,
    kernel: release(),
    loadavgAtStart: loadavg().map((x) => Math.round(x * 100) / 100),
  };
}

/** Busy and total jiffies of the whole machine, from /proc/stat. */
function machineJiffies(): { busy: number; total: number } | null {
  try {
    const cpu = readFileSync('/proc/stat', 'utf8').split('\n')[0].trim().split(/\s+/).slice(1).map(Number);
    const idle = cpu[3] + (cpu[4] ?? 0);
    const total = cpu.reduce((a, b) => a + b, 0);
    return { busy: total - idle, total };
  } catch {
    return null;
  }
}

/** CPU seconds used so far by each `postgres` process (all databases: other users' too), by pid. */
function postgresCpuSeconds(): Map<number, number> {
  const byPid = new Map<number, number>();
  for (const pid of readdirSync('/proc').filter((d) => /^\d+$/.test(d))) {
    try {
      if (readFileSync(`/proc/${pid}/comm`, 'utf8').trim() !== 'postgres') continue;
    } catch {
      continue;
    }
    const s = cpuSecondsOf(Number(pid));
    if (s !== null) byPid.set(Number(pid), s);
  }
  return byPid;
}

/**
 * postgres CPU seconds between two samples: per process, so that a backend that exits meanwhile
 * (another user's test database dropped, a pool closed) does not take its whole lifetime's CPU
 * off the sum, and one that started meanwhile counts from zero. (Summing totals did both: a
 * measurement next to someone else's dropped test databases read 0.09 ms/req.)
 */
function postgresCpuBetween(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0;
  for (const [pid, s] of after) sum += Math.max(0, s - (before.get(pid) ?? 0));
  return sum;
}

export interface CpuUse {
  seconds: number;
  /** cores each process kept busy on average (1.0 = one core all the time) */
  cores: Record<string, number>;
  /** the whole machine: busy cores on average, out of nproc */
  machineBusyCores: number | null;
  /** busy cores not explained by the processes measured here: other people's work on the machine */
  otherCores: number | null;
}

/**
 * Starts measuring; `end()` returns the cores used by each named pid (with its child processes:
 * cluster workers), postgres and the machine.
 */
export function cpuMeter(pids: Record<string, number | undefined>, withPostgres: boolean) {
  const t0 = performance.now();
  const m0 = machineJiffies();
  const before = Object.fromEntries(Object.entries(pids).map(([k, pid]) => [k, pid ? treeCpuSecondsOf(pid) : null]));
  const pg0 = withPostgres ? postgresCpuSeconds() : new Map<number, number>();
  return {
    end(): CpuUse {
      const seconds = (performance.now() - t0) / 1000;
      const cores: Record<string, number> = {};
      for (const [k, pid] of Object.entries(pids)) {
        const a = before[k];
        const b = pid ? treeCpuSecondsOf(pid) : null;
        if (a !== null && b !== null) cores[k] = round2((b - a) / seconds);
      }
      if (withPostgres) cores.postgres = round2(postgresCpuBetween(pg0, postgresCpuSeconds()) / seconds);
      const m1 = machineJiffies();
      const nproc = cpus().length;
      const machineBusyCores = m0 && m1 ? round2(((m1.busy - m0.busy) / (m1.total - m0.total)) * nproc) : null;
      const ours = Object.values(cores).reduce((a, b) => a + b, 0);
      return { seconds: round2(seconds), cores, machineBusyCores, otherCores: machineBusyCores === null ? null : round2(Math.max(0, machineBusyCores - ours)) };
    },
  };
}

const round2 = (x: number) => Math.round(x * 100) / 100;

/** TCP listen-queue overflows and drops so far (TcpExt ListenOverflows, ListenDrops), machine-wide. */
export function listenDrops(): { overflows: number; drops: number } | null {
  try {
    const lines = readFileSync('/proc/net/netstat', 'utf8').split('\n').filter((l) => l.startsWith('TcpExt:'));
    const names = lines[0].split(/\s+/);
    const values = lines[1].split(/\s+/).map(Number);
    return { overflows: values[names.indexOf('ListenOverflows')], drops: values[names.indexOf('ListenDrops')] };
  } catch {
    return null;
  }
}
