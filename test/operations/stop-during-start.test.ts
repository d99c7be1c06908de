/**
 * SIGTERM while Pier is still starting (a real child process), decision 0106. Before, the signal
 * handlers were installed once the start had ended: a SIGTERM during the start (a service manager
 * stopping a Pier it just started, a rolling deploy that gives up) killed the process with the
 * signal's default action, without draining. The start's last steps run with the port open and the
 * jobs running (the banner's demo console user), so requests and jobs in flight were cut off too.
 * Now the stop requested during the start is honoured once the start ends: a drain and exit 0.
 *
 * The start is held where the test can see it: sandbox start-up registers each account's notify
 * URL at the PG's simulator (decision 0086), and the test's simulator holds that request.
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
let workers = 1;

/** notify-URL registrations the simulator holds (while `holding`), and the next one's arrival */
let holding = false;
const heldRegistrations: Array<() => void> = [];
let registrationArrived: () => void = () => {};
const releaseRegistrations = () => {
  // the start registers one account after another: the later ones go through at once
  holding = false;
  heldRegistrations.splice(0).forEach((release) => release());
};

const pier = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl, workers }));

/** Polls another process's progress (no timer of this test can know when it gets there). */
async function until(what: string, ok: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; !(await ok()); i++) {
    if (i >= tries) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:' });
  simulator.addHook('onRequest', async (req) => {
    if (!holding || !req.url.startsWith('/__control/notify-url')) return;
    const released = new Promise<void>((r) => heldRegistrations.push(r));
    registrationArrived();
    await released;
  });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-stop-during-start-'));
});
afterAll(async () => {
  releaseRegistrations();
  await pier.kill('SIGKILL');
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('SIGTERM during the start', () => {
  it.each([1, 2])('PIER_WORKERS=%i: the stop is honoured once the start ends: Pier exits 0, not killed by the signal', async (n) => {
    workers = n;
    holding = true;
    const arrived = new Promise<void>((r) => (registrationArrived = r));
    const started = pier.start().then(
      () => 'started',
      (err: Error) => `start failed: ${err.message}`,
    );
    // the start is under way (migrated, its demo merchant made) and waits for the simulator
    await arrived;
    const exited = pier.kill('SIGTERM');
    releaseRegistrations();
    expect(await exited).toEqual({ code: 0, signal: null });
    // PIER_WORKERS=1 ended its start (the banner) before draining; the primary forks no worker
    if (n === 1) expect(await started).toBe('started');
    else await started;
  }, 120_000);

  it.each([1, 2])('PIER_WORKERS=%i: the same signal again before the start ends exits at once, 1 (a start that waits on another process)', async (n) => {
    workers = n;
    holding = true;
    const arrived = new Promise<void>((r) => (registrationArrived = r));
    const started = pier.start().catch(() => {});
    await arrived;
    const pid = pier.pid()!;
    const exited = pier.kill('SIGINT');
    // the first signal is taken (two sent at once may reach the process as one)
    await until('Pier says it stops once started', async () => pier.stderr().includes('stopping once the start has ended'));
    process.kill(pid, 'SIGINT');
    expect(await exited).toEqual({ code: 1, signal: null });
    expect(pier.stderr()).toContain('pier: stopped during its start');
    // it exited while its start still waited for the simulator
    expect(heldRegistrations.length).toBeGreaterThan(0);
    releaseRegistrations();
    await started;
  }, 120_000);
});
