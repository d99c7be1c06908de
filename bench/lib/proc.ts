/**
 * Child-process helpers for the benchmark: spawn a TypeScript entry point under `node --import tsx`
 * (one process each, so the load generator, Pier, the simulator and the ceilings never share a CPU
 * event loop), wait until it answers HTTP, read its memory from /proc, and stop it.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync } from 'node:fs';
import { fileURLToPath } from 'node:url';
import { dirname, resolve } from 'node:path';
import { ChildExited, type ChildExit } from '../../test/child-process.js';

// a port freePort() found free can be taken before the child binds it: onFreshPort starts it again
// on a new one (the suite's one mechanism for it, shared with the tests)
import { freePort, onFreshPort } from '../../test/child-process.js';
export { freePort, onFreshPort };

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface Child {
  name: string;
  proc: ChildProcess;
  pid: number;
  /** the last lines the process wrote (stdout and stderr), for error messages */
  tail(): string;
  exited: Promise<number | null>;
  /** once it exited, how, with the last lines of its stdout and of its stderr (read to their end, or a few seconds after its exit) */
  ended: Promise<{ exit: ChildExit; stdout: string; stderr: string }>;
}

const children = new Set<Child>();

/**
 * Starts `node [nodeArgs] <entry>` with the given environment: a TypeScript entry through tsx's
 * loader (`--import tsx`), a JavaScript one (Pier's launcher, a compiled bundle: compile.ts) as it is.
 */
export function startNode(name: string, entry: string, env: Record<string, string>, nodeArgs: string[] = []): Child {
  const loader = entry.endsWith('.ts') ? ['--import', 'tsx'] : [];
  const proc = spawn(process.execPath, [...nodeArgs, ...loader, resolve(ROOT, entry)], {
    cwd: ROOT,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const lines: string[] = [];
  const out: string[] = [];
  const err: string[] = [];
  const keep = (stream: string[]) => (chunk: Buffer) => {
    for (const l of chunk.toString('utf8').split('\n')) {
      if (!l.trim()) continue;
      lines.push(l);
      stream.push(l);
    }
    for (const kept of [lines, stream]) if (kept.length > 60) kept.splice(0, kept.length - 60);
  };
  proc.stdout!.on('data', keep(out));
  proc.stderr!.on('data', keep(err));
  const exit = new Promise<ChildExit>((res) => proc.once('exit', (code, signal) => res({ code, signal })));
  const exited = exit.then((e) => e.code);
  // what it wrote last may still be in the pipes at its exit: 'close' says they were read (a worker
  // it forked may hold them open past its exit: then what was read a few seconds on will do)
  const closed = new Promise<void>((res) => proc.once('close', () => res()));
  const ended = exit.then(async (e) => {
    await Promise.race([closed, new Promise<void>((res) => setTimeout(res, 5_000).unref())]);
    return { exit: e, stdout: out.join('\n'), stderr: err.join('\n') };
  });
  const child: Child = { name, proc, pid: proc.pid!, tail: () => lines.join('\n'), exited, ended };
  children.add(child);
  void exited.then(() => children.delete(child));
  return child;
}

/**
 * startNode with the environment `env(port)` gives for a port nobody listened on a moment ago, until
 * it answers HTTP at `path` (waitForHttp); started again on a new port when that one was taken before
 * it bound it (onFreshPort). A start that fails otherwise is stopped and its failure thrown.
 */
export async function serveOnFreshPort(
  name: string,
  entry: string,
  env: (port: number) => Promise<Record<string, string>> | Record<string, string>,
  opts: { path: string; ms?: number; nodeArgs?: string[] },
): Promise<{ child: Child; url: string; env: Record<string, string> }> {
  return onFreshPort(async (port) => {
    const vars = await env(port);
    const child = startNode(name, entry, vars, opts.nodeArgs ?? []);
    const url = `http://127.0.0.1:${port}`;
    try {
      await waitForHttp(`${url}${opts.path}`, child, opts.ms);
    } catch (err) {
      await stop(child);
      throw err;
    }
    return { child, url, env: vars };
  });
}

/** Sends SIGTERM, waits up to `ms`, then SIGKILL. */
export async function stop(child: Child | null | undefined, ms = 10_000): Promise<void> {
  if (!child || child.proc.exitCode !== null || child.proc.signalCode !== null) return;
  child.proc.kill('SIGTERM');
  const timer = setTimeout(() => child.proc.kill('SIGKILL'), ms);
  await child.exited;
  clearTimeout(timer);
}

/** Stops every child still running (on error or Ctrl-C). */
export async function stopAll(): Promise<void> {
  await Promise.all([...children].map((c) => stop(c, 3000)));
}

/**
 * Polls `url` until it answers any HTTP status. Fails as soon as the child exits first (ChildExited,
 * with its last lines: a port taken before it bound it is EADDRINUSE there, which onFreshPort
 * starts again on a new port), or after `ms`.
 */
export async function waitForHttp(url: string, child: Child, ms = 60_000): Promise<void> {
  const deadline = Date.now() + ms;
  for (;;) {
    if (child.proc.exitCode !== null || child.proc.signalCode !== null) {
      const { exit, stdout, stderr } = await child.ended;
      throw new ChildExited(child.name, exit, stdout, stderr);
    }
    try {
      const res = await fetch(url, { signal: AbortSignal.timeout(1000) });
      await res.arrayBuffer();
      return;
    } catch {
      /* not yet */
    }
    if (Date.now() > deadline) throw new Error(`${child.name} did not answer ${url} within ${ms} ms:\n${child.tail()}`);
    await new Promise((r) => setTimeout(r, 100));
  }
}

/** VmRSS and VmHWM (peak RSS) of a process, in MiB, from /proc/<pid>/status (Linux). */
export function memoryOf(pid: number): { rssMiB: number; hwmMiB: number } | null {
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const kb = (key: string) => Number(new RegExp(`^${key}:\\s+(\\d+) kB`, 'm').exec(status)?.[1] ?? NaN);
    return { rssMiB: kb('VmRSS') / 1024, hwmMiB: kb('VmHWM') / 1024 };
  } catch {
    return null;
  }
}

/** Fields of /proc/<pid>/stat after the command name (field 3 = state is index 0), or null. */
function statFields(pid: number): string[] | null {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/** CPU time (user + system) a process has used so far, in seconds, from /proc/<pid>/stat. */
export function cpuSecondsOf(pid: number): number | null {
  const fields = statFields(pid);
  // fields[11] = utime, fields[12] = stime (man 5 proc, counting from field 3 = state)
  return fields ? (Number(fields[11]) + Number(fields[12])) / 100 : null;
}

/** `pid` and all its descendants that are alive now, with their command names (comm). */
export function processTree(pid: number): Array<{ pid: number; comm: string }> {
  const parentOf = new Map<number, number[]>();
  const comm = new Map<number, string>();
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue;
    const fields = statFields(Number(d));
    if (!fields) continue;
    const ppid = Number(fields[1]);
    parentOf.set(ppid, [...(parentOf.get(ppid) ?? []), Number(d)]);
    try {
      comm.set(Number(d), readFileSync(`/proc/${d}/comm`, 'utf8').trim());
    } catch {
      /* gone */
    }
  }
  if (!comm.has(pid)) return [];
  const out: Array<{ pid: number; comm: string }> = [];
  const queue = [pid];
  while (queue.length > 0) {
    const p = queue.shift()!;
    out.push({ pid: p, comm: comm.get(p) ?? '?' });
    queue.push(...(parentOf.get(p) ?? []));
  }
  return out;
}

/**
 * CPU seconds of a process and its descendants (user + system, plus the children each has already
 * reaped): Pier with PIER_WORKERS is a primary and its cluster workers.
 */
export function treeCpuSecondsOf(pid: number): number | null {
  const tree = processTree(pid);
  if (tree.length === 0) return null;
  let sum = 0;
  for (const p of tree) {
    const f = statFields(p.pid);
    if (f) sum += (Number(f[11]) + Number(f[12]) + Number(f[13]) + Number(f[14])) / 100;
  }
  return sum;
}
