/**
 * Pier as a real child process (`npm start`'s `bin/start.js`) against a tPay simulator the test runs itself,
 * for tests that kill Pier with SIGKILL and restart it on the same database: the crash tests of
 * issue #9 (window) and #10 (charge and refund in flight), and PIER_WORKERS (test/operations/workers.test.ts).
 *
 * @example
 *   const pier = childPier(() => ({ databaseUrl: db.url, dataDir, port, simulatorUrl }));
 *   await pier.start(); … await pier.kill('SIGKILL'); await pier.start(); await pier.reconcile();
 */
import { execFile, spawn, type ChildProcess } from 'node:child_process';
import { createServer } from 'node:net';
import { join, resolve } from 'node:path';

const ROOT = resolve(import.meta.dirname, '..');

export interface ChildPierSettings {
  databaseUrl: string;
  dataDir: string;
  port: number;
  simulatorUrl: string;
  /** PIER_WORKERS (default 1: one process) */
  workers?: number;
  /** more environment variables (PIER_…), set last */
  env?: Record<string, string>;
}

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

/** `settings` is read at each start, so a test may fill it in its beforeAll. */
export function childPier(settings: () => ChildPierSettings) {
  let child: ChildProcess | null = null;
  const url = () => `http://127.0.0.1:${settings().port}`;

  function env(): NodeJS.ProcessEnv {
    const s = settings();
    const base: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|PORT$|HOST$|NODE_OPTIONS$)/.test(k)) base[k] = v;
    return {
      ...base,
      DATABASE_URL: s.databaseUrl,
      PIER_DATA_DIR: s.dataDir,
      HOST: '127.0.0.1',
      PORT: String(s.port),
      PIER_PUBLIC_URL: url(),
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
    /** Starts Pier and resolves once it printed its start banner: every worker listens. */
    async start(): Promise<void> {
      const c = spawn(process.execPath, [join(ROOT, 'bin', 'start.js')], { cwd: ROOT, env: env(), stdio: ['ignore', 'pipe', 'pipe'] });
      child = c;
      let stderr = '';
      let stdout = '';
      c.stderr!.on('data', (d) => (stderr += d.toString()));
      await new Promise<void>((done, fail) => {
        const timer = setTimeout(() => fail(new Error(`Pier did not start: ${stderr}`)), 300_000);
        const onExit = (code: number | null) => {
          clearTimeout(timer);
          fail(new Error(`Pier exited (${code}): ${stderr}`));
        };
        c.once('exit', onExit);
        c.stdout!.on('data', (d) => {
          stdout += d.toString();
          if (stdout.includes('Pier is running')) {
            clearTimeout(timer);
            c.off('exit', onExit);
            c.stdout!.removeAllListeners('data').resume();
            done();
          }
        });
      });
    },
    /** The worker processes' ids (PIER_WORKERS > 1: the children of Pier's primary process). */
    workerPids(): Promise<number[]> {
      const pid = child?.pid;
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
      if (!c || c.exitCode !== null || c.signalCode !== null) return Promise.resolve(null);
      return new Promise((done) => {
        c.once('exit', (code, sig) => done({ code, signal: sig }));
        c.kill(signal);
      });
    },
    /** `pier reconcile --grace-seconds 0` as an operator runs it, on the same database. */
    reconcile(): Promise<{ code: number; stdout: string; stderr: string }> {
      return new Promise((done) => {
        execFile(process.execPath, [join(ROOT, 'bin', 'pier.js'), 'reconcile', '--grace-seconds', '0'], { cwd: ROOT, env: env(), timeout: 120_000 }, (err, stdout, stderr) => {
          done({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
        });
      });
    },
  };
}
