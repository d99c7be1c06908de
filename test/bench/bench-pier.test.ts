/**
 * The bench starts its Piers as an operator would (bench/lib/pier.ts): a child `src/main.ts` on its
 * own database, a simulator MID of its own added with `pier channel add`. That command's rules
 * changed once under the bench (decision 0080: with several PGs configured it must name one) and
 * `npm run bench` stopped at its first section with nobody told; this runs the same start and the
 * probe charge every section begins with, on the suite's store.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { setupMerchant, startPierProc, startSimulator, type SimulatorProc } from '../../bench/lib/pier.js';
import { stopAll } from '../../bench/lib/proc.js';
import { freshDatabase } from '../harness.js';

describe("the bench's Pier start (bench/lib/pier.ts)", () => {
  let work: string;
  let db: Awaited<ReturnType<typeof freshDatabase>>;
  let sim: SimulatorProc | null = null;

  beforeAll(async () => {
    work = mkdtempSync(join(tmpdir(), 'pier-bench-start-'));
    db = await freshDatabase();
    sim = await startSimulator(join(work, 'sim'));
  });

  afterAll(async () => {
    // every child the bench's helpers started, also a Pier whose start threw after its spawn
    await stopAll();
    await db.drop();
    rmSync(work, { recursive: true, force: true });
  });

  it('adds its own simulator MID as the default API channel and charges through it', async () => {
    const pier = await startPierProc({ name: 'pier-bench-start', dataDir: join(work, 'pier'), databaseUrl: db.url, jtnetUrl: sim!.url, ownSimulatorMid: 'benchstart1' });
    const setup = await setupMerchant(pier.url, 1, 'start');
    const probe = JSON.parse(setup.sampleAgainBody);
    expect(probe.code).toBe(0);
    expect(probe.response).toMatchObject({ status: 'paid', merchant_uid: 'bench_start_probe', amount: 1000, pg_provider: 'jtnet', pg_id: 'benchstart1' });
  });
});
