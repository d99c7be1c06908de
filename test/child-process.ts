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
 * - A server that must come back on the port it had, because what the test checks remembers its
 *   address (a merchant's webhook endpoint going down and back up, a PG, Pier's public URL), binds
 *   it with listenAgain: a port another socket took meanwhile is tried again until it is let go, and
 *   fails the test with a message naming the port if it is not, within a bound.
 *
 * @example
 *   const pier = startChild('Pier', [join(ROOT, 'bin', 'start.js')], { cwd: ROOT, env: { ...env, PORT: '0' } });
 *   const port = listeningPort(await pier.waitFor(PIER_BANNER));
 *
 *   await onFreshPort(async (port) => { const c = startChild(…PORT: String(port)…); await c.waitFor(PIER_BANNER); return c; });
 *
 *   await receiverServer.close(); …; await listenAgain('the webhook receiver', port, () => listenOn(receiverServer, port));
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { createServer, type Server } from 'node:net';

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

/**
 * `server.listen(port, host)` as a promise that also rejects: a bind that fails (EADDRINUSE: the
 * port is taken) emits 'error', which a listen callback never hears of; unheard, it is an uncaught
 * exception in the test process, and the wait for the callback never ends.
 */
export function listenOn(server: Server, port: number, host = '127.0.0.1'): Promise<void> {
  return new Promise((done, fail) => {
    const failed = (err: Error) => {
      server.off('listening', listening);
      fail(err);
    };
    const listening = () => {
      server.off('error', failed);
      done();
    };
    server.once('error', failed);
    server.once('listening', listening);
    server.listen(port, host);
  });
}

/** How long listenAgain waits, by default, for another socket to let go of the port. */
export const SAME_PORT_WAIT_MS = 10_000;

/** A server that had to come back on its port found it taken for longer than listenAgain waits. */
export class PortStillTaken extends Error {
  constructor(
    readonly what: string,
    readonly port: number,
    readonly attempts: number,
    readonly waitedMs: number,
    cause: unknown,
  ) {
    super(
      `${what} could not listen on 127.0.0.1:${port} again: another socket held the port for ${waitedMs} ms (${attempts} binds, the last: ${(cause as Error)?.message ?? String(cause)}). ` +
        'It must come back on that port (what the test checks keeps its address), and a server of this or another process took the port while it was down.',
      { cause },
    );
    this.name = 'PortStillTaken';
  }
}

export interface ListenAgainOptions {
  /** how long to wait for the port to be let go (default SAME_PORT_WAIT_MS) */
  withinMs?: number;
  /** how often to try to bind it meanwhile (default 50 ms) */
  everyMs?: number;
  /** called after each bind that found the port taken */
  onTaken?: (attempt: number, err: unknown) => void;
}

/**
 * `listen()` (it binds `port`: listenOn, or a Fastify app's listen) for a server that must come back
 * on the port it had. A bind that failed only because another socket holds the port (portWasTaken:
 * an outgoing connection given it as its local port, a server started meanwhile) is made again every
 * `everyMs` until the port is let go, for `withinMs` at most; then it fails with PortStillTaken. Any
 * other failure is `listen`'s own, at once. `onTaken` hears each bind that found the port taken.
 */
export async function listenAgain<T>(
  what: string,
  port: number,
  listen: () => Promise<T>,
  opts: ListenAgainOptions = {},
): Promise<T> {
  const withinMs = opts.withinMs ?? SAME_PORT_WAIT_MS;
  const started = Date.now();
  for (let attempt = 1; ; attempt++) {
    try {
      return await listen();
    } catch (err) {
      if (!portWasTaken(err)) throw err;
      opts.onTaken?.(attempt, err);
      const waited = Date.now() - started;
      if (waited >= withinMs) throw new PortStillTaken(what, port, attempt, waited, err);
      // nothing announces that a port was let go: try again shortly, within the bound
      await new Promise((r) => setTimeout(r, Math.min(opts.everyMs ?? 50, withinMs - waited)));
    }
  }
}
