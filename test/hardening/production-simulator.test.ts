/**
 * A production Pier never runs the embedded PG simulators (decision 0118). Started with
 * PIER_SIMULATOR on, it made the embedded tPay simulator JTNET's host for every channel, live ones
 * too, and NICE's for sandbox channels: payments approved by a simulator that approves any test
 * card, whose unauthenticated control endpoints (deposits, faults, notify URLs) and ledger answer
 * anyone who reaches its port. The start is refused instead, before the database is touched.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ConfigError, loadConfig } from '../../src/config/index.js';
import { startPier } from '../../src/main.js';
import { freshDatabase } from '../harness.js';

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
const vaultKeys = `k1:${randomBytes(32).toString('base64')}`;

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-production-simulator-'));
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('production with PIER_SIMULATOR on', () => {
  it('refuses to start, naming the setting, instead of letting the embedded simulator answer for the PGs', async () => {
    const env = {
      PORT: '0',
      HOST: '127.0.0.1',
      PIER_DATA_DIR: dataDir,
      DATABASE_URL: db.url,
      LOG_LEVEL: 'silent',
      PIER_MODE: 'production',
      PIER_VAULT_KEYS: vaultKeys,
      PIER_SIMULATOR: 'true',
      PIER_SIMULATOR_PORT: '0',
    };
    const started: Awaited<ReturnType<typeof startPier>> | Error = await Promise.resolve()
      .then(() => startPier(loadConfig(env)))
      .catch((err: Error) => err);
    if (!(started instanceof Error)) {
      // it runs: what anyone who reaches the simulator's port gets, and who answers production's tPay calls
      const sim = started.simulators.jtnet!.apiUrl;
      const ledger = await fetch(`${sim}/__ledger`);
      const jtnetHost = started.deps.connectors.sandboxHost('jtnet');
      await started.stop();
      expect.fail(`production started with the embedded simulator: JTNET's host is ${jtnetHost}, and its ledger answered ${ledger.status} to an anonymous GET`);
    }
    expect(started).toBeInstanceOf(ConfigError);
    expect((started as Error).message).toMatch(/"simulator\.enabled".*PIER_SIMULATOR/);
  });
});
