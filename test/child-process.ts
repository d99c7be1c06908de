/**
 * Servers the tests (and the bench: bench/lib/proc.ts) start on a port, in a child process above all
 * (in-process too: harness.ts, e2e-harness.ts), and the wait for them to be ready.
 *
 * A port freePort() found free can be taken by another process before the server binds it (on a
 * busy machine an outgoing connection of a parallel test gets it as its local port): the start then
 * fails with EADDRINUSE. And a child that stopped, for that or any reason, must end the test's wait
 * at once with what it wrote to stderr, not after the wait's minutes.
 *
 * - A server that can bind port 0 and say where it listens does so (Pier's banner names its address:
 *   `(listening on http://127.0.0.1:41234)`, read with listeningPort): nothing can take its port.
 * - A server whose own settings need its address before it binds (Pier's public URL is where the
 *   PG's window posts back) gets one from onFreshPort, which starts it again on a new port when the
 *   port was taken meanwhile.
 * - startChild(…).waitFor(banner) is every wait for a child's banner: it ends when the child exits.
 *
 * @example
 *   const pier = startChild('Pier', [join(ROOT, 'bin', 'start.js')], { cwd: ROOT, env: { ...env, PORT: '0' } });
 *   const port = listeningPort(await pier.waitFor(PIER_BANNER));
 *
 *   await onFreshPort(async (port) => { const c = startChild(…PORT: String(port)…); await c.waitFor(PIER_BANNER); return c; });
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';

/** What Pier prints once every worker listens (src/main.ts startBanner, the primary's in cluster.ts). */
export const PIER_BANNER = /Pier is running \(.*\n.*\(listening on (https?:\/\/\S+)\)/;

/** How many starts onFreshPort makes in all before it gives up on finding a port nobody takes. */
export const PORT_TAKEN_ATTEMPTS = 3;

/** The test process's environment without what configures Pier (PIER_…, DATABASE_URL, PORT, …): a child Pier gets only what its test gives it. */
export function envWithoutPier(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = {};
  for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|LOG_FORMAT$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) env[k] = v;
  return env;
}

/** A TCP port on 127.0.0.1 that nobody listened on a moment ago (and anybody may take from now on). */
export function freePort(): Promise<number> {
  return new Promise((done, fail) => {
    const srv = createServer();
    srv.once('error', fail);
    srv.listen(0, '127.0.0.1', () => {
      const p = (srv.address() as { port: number }).port;
      srv.close(() => done(p));
    });
  });
}

export interface ChildExit {
  code: number | null;
  signal: NodeJS.Signals | null;
}

/** A child process that exited before it printed what the test waited for: how it ended and what it wrote. */
export class ChildExited extends Error {
  constructor(
    readonly what: string,
    readonly exit: ChildExit,
    readonly stdout: string,
    readonly stderr: string,
  ) {
    super(`${what} exited (${exit.signal ?? `code ${exit.code}`}) before it was ready\n--- stderr ---\n${stderr}\n--- stdout ---\n${stdout}`);
    this.name = 'ChildExited';
  }
}

/** Whether a start failed only because a port it was given was taken before it bound it. */
export function portWasTaken(err: unknown): boolean {
  if (err instanceof ChildExited) return /EADDRINUSE/.test(err.stderr);
  return (err as { code?: unknown } | null)?.code === 'EADDRINUSE';
}

export interface Child {
  process: ChildProcess;
  /** everything it wrote to stdout so far */
  stdout(): string;
  /** everything it wrote to stderr so far */
  stderr(): string;
  /** whether it has not exited yet */
  running(): boolean;
  /** resolves once it exited ('exit': what it wrote last may not be read yet) */
  exited: Promise<ChildExit>;
  /** resolves once it exited and what it wrote was read (at most a few seconds after its exit, if a process it forked holds its output open) */
  ended: Promise<ChildExit>;
  /**
   * Resolves with the match once its stdout matches `pattern`. Rejects as soon as it exits first
   * (ChildExited, with its stderr), or after `timeoutMs` with what it wrote (it is left running:
   * the caller stops it).
   */
  waitFor(pattern: RegExp, timeoutMs?: number): Promise<RegExpExecArray>;
}

/** Starts `node …args`, its stdout and stderr kept for waitFor and for the test's messages. */
export function startChild(what: string, args: string[], opts: { cwd: string; env: NodeJS.ProcessEnv }): Child {
  const c = spawn(process.execPath, args, { cwd: opts.cwd, env: opts.env, stdio: ['ignore', 'pipe', 'pipe'] });
  let stdout = '';
  let stderr = '';
  let exit: ChildExit | null = null;
  const seen = new Set<() => void>();
  c.stdout!.on('data', (d) => {
    stdout += d.toString();
    for (const check of seen) check();
  });
  c.stderr!.on('data', (d) => (stderr += d.toString()));
  const exited = new Promise<ChildExit>((done) =>
    c.once('exit', (code, signal) => {
      exit = { code, signal };
      done(exit);
    }),
  );
  // what it wrote just before it exited may still be in the pipes: 'close' says they were read. A
  // worker it forked may hold them open past its own exit; past a few seconds, what was read will do.
  const closed = new Promise<void>((done) => c.once('close', () => done()));
  const ended = exited.then((e) => Promise.race([closed, new Promise<void>((done) => setTimeout(done, 5_000).unref())]).then(() => e));
  return {
    process: c,
    stdout: () => stdout,
    stderr: () => stderr,
    running: () => exit === null,
    exited,
    ended,
    waitFor(pattern, timeoutMs = 300_000) {
      return new Promise((done, fail) => {
        let settled = false;
        const finish = (outcome: () => void) => {
          if (settled) return;
          settled = true;
          seen.delete(check);
          clearTimeout(timer);
          outcome();
        };
        const check = () => {
          const m = pattern.exec(stdout);
          if (m) finish(() => done(m));
        };
        const timer = setTimeout(
          () => finish(() => fail(new Error(`${what} did not print ${pattern} within ${timeoutMs} ms\n--- stderr ---\n${stderr}\n--- stdout ---\n${stdout}`))),
          timeoutMs,
        );
        seen.add(check);
        check();
        void ended.then((e) => {
          check(); // printed it just before it exited
          finish(() => fail(new ChildExited(what, e, stdout, stderr)));
        });
      });
    },
  };
}

/** The port of the address a match of PIER_BANNER names (where Pier bound PORT=0). */
export function listeningPort(banner: RegExpExecArray): number {
  return Number(new URL(banner[1]!).port);
}

/**
 * `start` on a port nobody listened on a moment ago (`first`, when given, for the first start: a
 * restart binds the port it had). A start that failed only because its port was taken before it
 * bound it (portWasTaken) is made again on a new port, PORT_TAKEN_ATTEMPTS starts in all; any
 * other failure is the start's own. `start` stops whatever it started before it throws.
 */
export async function onFreshPort<T>(start: (port: number) => Promise<T>, opts: { first?: number } = {}): Promise<T> {
  for (let attempt = 1; ; attempt++) {
    const port = attempt === 1 && opts.first !== undefined ? opts.first : await freePort();
    try {
      return await start(port);
    } catch (err) {
      if (!portWasTaken(err) || attempt >= PORT_TAKEN_ATTEMPTS) throw err;
    }
  }
}
