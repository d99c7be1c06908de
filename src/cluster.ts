/**
 * PIER_WORKERS: N HTTP worker processes on one port (node:cluster), docs/decisions/0018.
 *
 * The primary does the once-only start-up work (migrations, embedded simulators, the demo merchant
 * and its banner) and then only supervises: it forks the workers, hands each what it prepared,
 * restarts a worker that dies (with backoff) once every worker has listened, stops Pier with a
 * non-zero exit when one dies before that (the start failed, as a single Pier's would) and, on
 * SIGTERM/SIGINT, lets every worker drain as a single Pier would. The port is shared by the cluster module (the primary accepts connections and
 * deals them out round-robin).
 *
 * Every worker serves HTTP and runs the background work too (schedules, webhooks, reconciliation):
 * that work is rows leased one claim at a time, so it is done once whether it is claimed by one of
 * these workers or by another Pier process on the same database.
 *
 * @example
 *   // main.ts, when PIER_WORKERS > 1 (and in each forked worker)
 *   await runCluster(config, { prepare: () => prepareForWorkers(config), startWorker: (setup) => startPier(config, { worker: setup }) });
 */
import cluster, { type Worker } from 'node:cluster';
import type { Config } from './config/index.js';
import { createLogger } from './lib/logger.js';
import { serveClusterMetrics } from './operations/cluster-metrics.js';

/** The environment variable that carries the primary's WorkerSetup (JSON) to each worker. */
const SETUP_ENV = 'PIER_WORKER_SETUP';
/** Exit code of a process stopped by a configuration error (EX_CONFIG): a restart cannot help. */
export const CONFIG_ERROR_EXIT = 78;

export interface Stoppable {
  stop(): Promise<void>;
  /**
   * How long `stop` may take: the jobs' grace or the slowest PG operation a request in flight may
   * still wait for, whichever is longer (stopDeadlineMs in main.ts, decision 0106).
   */
  stopDeadlineMs: number;
}

/** How long past its stop's deadline a process is given to close what is left (keep-alives, pools) before it exits anyway. */
const STOP_BACKSTOP_MARGIN_MS = 5_000;
/** The primary SIGKILLs a worker this long past its stop's deadline: after the worker's own backstop. */
const WORKER_KILL_MARGIN_MS = 10_000;

export interface Installation<Setup> {
  /** what each worker is handed (JSON) */
  setup: Setup;
  /** the start banner, given the address the workers listen on */
  banner(address: string): Promise<string>;
  /** stops what the primary runs (the embedded simulators, its database pool) */
  close(): Promise<void>;
  /** how long a worker's stop may take (Stoppable.stopDeadlineMs): the workers run the same connectors */
  stopDeadlineMs: number;
}

export interface ClusterHooks<Setup> {
  /** the primary's once-only start-up work */
  prepare(): Promise<Installation<Setup>>;
  /** one worker: serve and work until stopped */
  startWorker(setup: Setup): Promise<Stoppable>;
}

/** A worker that ran this long before dying is restarted at once; quicker deaths back off. */
const STABLE_AFTER_MS = 30_000;
const RESTART_BASE_MS = 250;
const RESTART_MAX_MS = 30_000;

/** Backoff before restarting a worker that died after `failures` quick deaths in a row: 250 ms, 500 ms, 1 s … 30 s. */
export function restartDelayMs(failures: number): number {
  return Math.min(RESTART_MAX_MS, RESTART_BASE_MS * 2 ** Math.max(0, failures - 1));
}

/** Runs this process as the primary (forking `config.workers` workers) or, in a forked process, as one worker. */
export async function runCluster<Setup>(config: Config, hooks: ClusterHooks<Setup>): Promise<void> {
  if (cluster.isWorker) {
    const setup = JSON.parse(process.env[SETUP_ENV] ?? 'null') as Setup;
    // before the start: the primary's SIGTERM may come while this worker starts (a stop requested
    // as the workers were forked), and a worker listens and runs jobs before its start ends
    const pier = hooks.startWorker(setup);
    const stop = stopOnSignals(pier);
    // the primary is gone (killed): nobody will restart or stop this worker, so drain and leave
    process.once('disconnect', stop);
    await pier;
    return;
  }
  await runPrimary(config, hooks);
}

async function runPrimary<Setup>(config: Config, hooks: ClusterHooks<Setup>): Promise<void> {
  const logger = createLogger(config.logLevel, undefined, { format: config.logFormat, mode: config.mode });
  // listened for before the once-only work: a stop requested meanwhile is honoured when it ends
  // (no worker is forked), rather than the signal's default killing the primary mid-start
  let stopRequested: NodeJS.Signals | null = null;
  let onStopSignal = (signal: NodeJS.Signals) => {
    if (stopRequested === signal) exitDuringStart();
    if (stopRequested) return;
    stopRequested = signal;
    process.stderr.write(STOP_AFTER_START);
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => onStopSignal(signal));
  const installation = await hooks.prepare();
  // a worker answering /metrics asks here for every worker's counters
  serveClusterMetrics();
  const env = { [SETUP_ENV]: JSON.stringify(installation.setup) };
  const slots = Array.from({ length: config.workers }, () => ({ failures: 0, startedAt: 0, worker: null as Worker | null, restart: null as NodeJS.Timeout | null }));
  let stopping = false;
  /** every worker listened once: from then on a worker that dies is restarted */
  let started = false;
  const listening = new Set<number>();

  const fork = (index: number) => {
    const slot = slots[index];
    slot.restart = null;
    slot.startedAt = Date.now();
    const worker = cluster.fork(env);
    slot.worker = worker;
    worker.on('listening', (address) => {
      listening.add(index);
      if (!started && listening.size === slots.length) {
        started = true;
        const host = address.address ?? config.host;
        void installation.banner(`http://${host.includes(':') ? `[${host}]` : host}:${address.port}`).then((banner) => process.stdout.write(banner));
      }
    });
    worker.on('exit', (code, signal) => {
      slot.worker = null;
      listening.delete(index);
      if (stopping) return;
      if (code === CONFIG_ERROR_EXIT) {
        // the worker already said why on stderr; every other worker would say the same
        logger.error({ worker: index + 1 }, 'worker stopped on a configuration error; stopping Pier');
        void shutdown(CONFIG_ERROR_EXIT);
        return;
      }
      if (!started) {
        // Pier's start failed (a port another program holds, an address not on this machine, a
        // database that does not answer), as a single Pier's would: stop with a non-zero exit, for
        // the service manager to see and restart. Forked again and again instead, the workers
        // failed the same way for good, behind a primary that never served and never exited.
        logger.error({ worker: index + 1, code, signal }, 'a worker could not start; stopping Pier');
        void shutdown(1);
        return;
      }
      slot.failures = Date.now() - slot.startedAt >= STABLE_AFTER_MS ? 1 : slot.failures + 1;
      const delayMs = restartDelayMs(slot.failures);
      logger.error({ worker: index + 1, pid: worker.process.pid, code, signal, restartInMs: delayMs }, 'worker died; restarting it');
      slot.restart = setTimeout(() => fork(index), delayMs);
    });
  };

  /** Every worker drains as a single Pier does on SIGTERM; the primary leaves once all have. */
  const shutdown = async (exitCode: number) => {
    if (stopping) return;
    stopping = true;
    for (const slot of slots) if (slot.restart) clearTimeout(slot.restart);
    const live = slots.map((s) => s.worker).filter((w): w is Worker => w !== null && !w.isDead());
    // how each worker ended, null when it stopped cleanly: exit 0, or killed by the SIGTERM itself (or
    // a terminal's SIGINT), which only a worker still loading can be (its handlers are installed
    // before it listens or takes a job: it had nothing to drain). One cut off by its own backstop
    // (exit 1) or killed by this one did not drain, and the service manager must see that in Pier's
    // exit (decision 0113)
    const howEnded = (code: number | null, signal: string | null) => (code === 0 || signal === 'SIGTERM' || signal === 'SIGINT' ? null : signal ? `killed by ${signal}` : `exit ${code}`);
    const exited = live.map(
      (w) => new Promise<string | null>((done) => (w.isDead() ? done(howEnded(w.process.exitCode, w.process.signalCode)) : w.once('exit', (code: number | null, signal: string | null) => done(howEnded(code, signal))))),
    );
    for (const w of live) w.process.kill('SIGTERM');
    // a worker bounds its own shutdown (its stop's deadline + 5 s); this is the backstop
    const backstop = setTimeout(() => {
      for (const w of live) if (!w.isDead()) w.process.kill('SIGKILL');
    }, installation.stopDeadlineMs + WORKER_KILL_MARGIN_MS);
    const unclean = (await Promise.all(exited)).filter((how): how is string => how !== null);
    clearTimeout(backstop);
    await installation.close().catch((err) => logger.error({ err }, 'closing the primary failed'));
    if (exitCode === 0 && unclean.length > 0) {
      process.stderr.write(`pier: ${unclean.length} worker(s) did not stop cleanly (${unclean.join(', ')}: cut off past the stop's deadline); exiting 1\n`);
      process.exit(1);
    }
    process.exit(exitCode);
  };
  onStopSignal = () => void shutdown(0);
  if (stopRequested) return shutdown(0);

  for (let i = 0; i < slots.length; i++) fork(i);
}

const STOP_AFTER_START = 'pier: stopping once the start has ended (the same signal again exits now)\n';

/**
 * The same signal again while a stop waits for the start: the start may wait on something that
 * does not end soon (another process's migration), and whoever sends it (Ctrl-C twice) wants out
 * now. Only the same signal: Ctrl-C reaches a starting worker as SIGINT and then, from its
 * primary, as SIGTERM, and that worker should still drain.
 */
function exitDuringStart(): never {
  process.stderr.write('pier: stopped during its start\n');
  process.exit(1);
}

/**
 * Stops `pier` on SIGTERM/SIGINT (once, however many signals come) and exits: 0 when it stopped
 * cleanly, 1 otherwise or when stopping outlived its deadline (`stopDeadlineMs`) + 5 s. Installed
 * while `pier` still starts: Pier listens and runs jobs before its start ends, so a signal then is
 * honoured as soon as the start ends (a drain, not the signal's default kill; a second signal
 * before then exits at once, 1); a start that fails exits on its own path. Returns the same stop.
 */
export function stopOnSignals(pier: Promise<Stoppable>): () => void {
  let stopping: NodeJS.Signals | 'disconnect' | null = null;
  let startEnded = false;
  pier.then(
    () => (startEnded = true),
    () => (startEnded = true),
  );
  const stop = (why: NodeJS.Signals | 'disconnect') => {
    if (stopping) {
      if (!startEnded && why === stopping) exitDuringStart();
      return;
    }
    stopping = why;
    // a worker's stderr says only why it could not start: the primary that stops it speaks for Pier
    if (!startEnded && !cluster.isWorker) process.stderr.write(STOP_AFTER_START);
    pier.then(
      (started) => {
        // what stops by itself is bounded (the runner by its grace, a PG call by its timeouts);
        // this backstop bounds everything else (HTTP keep-alives, pools)
        setTimeout(() => {
          process.stderr.write('pier: shutdown took too long; exiting\n');
          process.exit(1);
        }, started.stopDeadlineMs + STOP_BACKSTOP_MARGIN_MS).unref();
        started.stop().then(
          () => process.exit(0),
          () => process.exit(1),
        );
      },
      // the start failed: its caller says why and exits (runServer)
      () => {},
    );
  };
  for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => stop(signal));
  return () => stop('disconnect');
}
