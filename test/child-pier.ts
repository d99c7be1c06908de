/**
 * Pier as a real child process (`npm start`'s `bin/start.js`) against a tPay simulator the test runs itself,
 * for tests that kill Pier with SIGKILL and restart it on the same database: the crash tests of
 * issue #9 (window) and #10 (charge and refund in flight), and PIER_WORKERS (test/operations/workers.test.ts).
 *
 * @example
 *   const pier = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl }));
 *   await pier.start(); … await pier.kill('SIGKILL'); await pier.start(); await pier.reconcile();
 */
import { execFile } from 'node:child_process';
import { join, resolve } from 'node:path';
import { envWithoutPier, onFreshPort, PIER_BANNER, startChild, type Child } from './child-process.js';

const ROOT = resolve(import.meta.dirname, '..');

export interface ChildPierSettings {
  databaseUrl: string;
  dataDir: string;
  simulatorUrl: string;
  /** PIER_WORKERS (default 1: one process) */
  workers?: number;
  /** more environment variables (PIER_…), set last */
  env?: Record<string, string>;
}

/**
 * `settings` is read at each start, so a test may fill it in its beforeAll. Pier's port is its own:
 * a fresh one at the first start, the same again at a restart (as an operator's restart), a new one
 * whenever the one it was given was taken before it bound it (child-process.ts onFreshPort).
 */
export function childPier(settings: () => ChildPierSettings) {
  let child: Child | null = null;
  /** the last child started, kept after kill() for what it wrote */
  let last: Child | null = null;
  /** the port of the last start that listened */
  let port: number | null = null;
  const urlOf = (p: number) => `http://127.0.0.1:${p}`;
  const url = () => {
    if (port === null) throw new Error('childPier: url() before Pier was started');
    return urlOf(port);
  };

  function env(p: number | null): NodeJS.ProcessEnv {
    const s = settings();
    return {
      ...envWithoutPier(),
      DATABASE_URL: s.databaseUrl,
      PIER_DATA_DIR: s.dataDir,
      HOST: '127.0.0.1',
      ...(p === null ? {} : { PORT: String(p), PIER_PUBLIC_URL: urlOf(p) }),
      PIER_SIMULATOR: 'false',
      PIER_JTNET_URL: s.simulatorUrl,
      // long enough that a frozen or held PG answer is still awaited when Pier is killed
      PIER_JTNET_READ_TIMEOUT_MS: '60000',
      LOG_LEVEL: 'silent',
      PIER_WORKERS: String(s.workers ?? 1),
      ...s.env,
    };
  }

  return {
    url,
    /** Starts Pier and resolves once it printed its start banner: every worker listens. Fails as soon as Pier exits instead, with its stderr. */
    async start(): Promise<void> {
      await onFreshPort(
        async (p) => {
          // kept before it is ready, so that kill() stops a start still under way
          const c = startChild('Pier', [join(ROOT, 'bin', 'start.js')], { cwd: ROOT, env: env(p) });
          child = c;
          last = c;
          await c.waitFor(PIER_BANNER);
          port = p;
        },
        { first: port ?? undefined },
      );
    },
    /** The process `start` began (with PIER_WORKERS=1, Pier's one process); null when none runs. */
    pid(): number | null {
      return child?.running() ? (child.process.pid ?? null) : null;
    },
    /** What the last Pier started wrote to stderr so far (after it was killed, too). */
    stderr(): string {
      return last?.stderr() ?? '';
    },
    /** The worker processes' ids (PIER_WORKERS > 1: the children of Pier's primary process). */
    workerPids(): Promise<number[]> {
      const pid = child?.process.pid;
      if (!pid) return Promise.resolve([]);
      return new Promise((done) => {
        // only Pier's workers: the primary may have other children (esbuild's service while it builds the bundle)
        execFile('pgrep', ['-P', String(pid), '-f', 'bin/start\\.js'], (_err, stdout) => done(stdout.split('\n').filter(Boolean).map(Number)));
      });
    },
    /** Ends the running Pier (if any) with `signal` and waits for it to exit; resolves to how it exited (null: it was not running). */
    kill(signal: NodeJS.Signals): Promise<{ code: number | null; signal: NodeJS.Signals | null } | null> {
      const c = child;
      child = null;
      if (!c || !c.running()) return Promise.resolve(null);
      c.process.kill(signal);
      return c.exited;
    },
    /** `pier reconcile --grace-seconds 0` as an operator runs it, on the same database. */
    reconcile(): Promise<{ code: number; stdout: string; stderr: string }> {
      return new Promise((done) => {
        execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), 'reconcile', '--grace-seconds', '0'], { cwd: ROOT, env: env(port), timeout: 120_000 }, (err, stdout, stderr) => {
          done({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
        });
      });
    },
  };
}
