/**
 * PIER_WORKERS > 1, SIGTERM with a worker that does not stop (a real primary and its workers),
 * decision 0113. The primary SIGKILLs a worker still running past its stop's deadline + 10 s
 * (decision 0106); before, it then exited 0 as after a clean drain, and a service manager saw a
 * clean stop of a Pier whose worker was cut off. Now it exits 1 and says why.
 *
 * The frozen worker is SIGSTOPped (a process that cannot run: swapped out, stuck, under a
 * debugger); the deadline is short here: no jobs' grace, tPay 1 s + 2 s, NICE 2 × (1 s + 0.5 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { childPier } from '../child-pier.js';
import { freshDatabase } from '../harness.js';

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;
let frozen: number | undefined;

const pier = childPier(() => ({
  databaseUrl: db.url,
  dataDir,
  simulatorUrl,
  workers: 2,
  env: {
    PIER_SHUTDOWN_GRACE_MS: '0',
    PIER_JTNET_CONNECT_TIMEOUT_MS: '1000',
    PIER_JTNET_READ_TIMEOUT_MS: '2000',
    PIER_NICE_CONNECT_TIMEOUT_MS: '1000',
    PIER_NICE_READ_TIMEOUT_MS: '500',
  },
}));

const alive = (pid: number) => {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
};

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:' });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-workers-stop-'));
});
afterAll(async () => {
  await pier.kill('SIGKILL');
  if (frozen !== undefined && alive(frozen)) process.kill(frozen, 'SIGKILL');
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('SIGTERM to the primary while a worker cannot stop', () => {
  it('kills that worker past its deadline and exits 1, not 0', async () => {
    await pier.start();
    const workers = await pier.workerPids();
    expect(workers).toHaveLength(2);
    frozen = workers[0]!;
    process.kill(frozen, 'SIGSTOP');

    const exit = await pier.kill('SIGTERM');
    expect(exit).toEqual({ code: 1, signal: null });
    expect(pier.stderr()).toContain("pier: 1 worker(s) did not stop cleanly (killed by SIGKILL: cut off past the stop's deadline); exiting 1");
    // the frozen worker was killed, the other drained: none is left behind
    expect(workers.filter(alive)).toEqual([]);
  }, 120_000);
});
