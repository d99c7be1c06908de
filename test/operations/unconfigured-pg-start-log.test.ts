/**
 * The line a production start without a PG's settings logs (decision 0079, src/main.ts
 * reportUnconfiguredPgs): `npm start` (bin/start.js) as a real child process without
 * PIER_JTNET_URL, its JSON log lines read from stdout. With channels of the PG left out it is a
 * warning counting them; without, information. Either way it names the PG and how to set it up.
 */
import { randomBytes } from 'node:crypto';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { loadConfig } from '../../src/config/index.js';
import { addChannel, removeChannel } from '../../src/core/merchants/channels.js';
import { createMerchant } from '../../src/core/merchants/merchants.js';
import { startPier } from '../../src/main.js';
import { envWithoutPier, PIER_BANNER, startChild } from '../child-process.js';
import { freshDatabase } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
const HOW = 'jtnet (JTNet(tPay)): set PIER_JTNET_URL (connectors.jtnet.baseUrl) to the tPay host';

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
const vaultKeys = `k1:${randomBytes(32).toString('base64')}`;
const env = () => ({ PIER_DATA_DIR: dataDir, DATABASE_URL: db.url, PIER_MODE: 'production', PIER_VAULT_KEYS: vaultKeys, HOST: '127.0.0.1' });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-unconfigured-log-'));
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** Starts Pier as `npm start` does, without PIER_JTNET_URL, until its banner; its log lines, parsed, once it has stopped. */
async function startWithoutJtnet(): Promise<{ level: number; msg: string; pgs?: string[]; channels?: number }[]> {
  // port 0: nothing here calls it, and no other process can take it before Pier binds it
  const vars = { ...envWithoutPier(), ...env(), PORT: '0', LOG_LEVEL: 'info', LOG_FORMAT: 'json' };
  const child = startChild('Pier', [join(ROOT, 'bin', 'start.js')], { cwd: ROOT, env: vars });
  try {
    await child.waitFor(PIER_BANNER);
  } finally {
    child.process.kill('SIGTERM');
    await child.ended;
  }
  return child
    .stdout()
    .split('\n')
    .filter((l) => l.startsWith('{'))
    .map((l) => JSON.parse(l));
}

describe('a production start without PIER_JTNET_URL', () => {
  it('logs one information line naming JTNET and how to set it up, when no channel is JTNET\'s; then one warning counting its channels', async () => {
    const lines = (await startWithoutJtnet()).filter((l) => l.msg.startsWith('PGs not configured'));
    expect(lines).toEqual([expect.objectContaining({ level: 30, pgs: ['jtnet'], msg: `PGs not configured, left out of this Pier: ${HOW}` })]);

    // channels made while this Pier had a tPay host
    const before = await startPier(loadConfig({ ...env(), PORT: '0', LOG_LEVEL: 'silent', PIER_JTNET_URL: 'http://127.0.0.1:9' }));
    try {
      const merchant = await createMerchant(before.deps, { name: 'tPay shop' });
      for (const mid of ['tpaylive1m', 'tpaylive2m']) {
        await addChannel(before.deps, merchant.merchantId, { provider: 'jtnet', mid, merchantKey: 'k'.repeat(40), cancelPassword: '123456', kind: 'api', sandbox: false });
      }
      const nice = await addChannel(before.deps, merchant.merchantId, { provider: 'nice_v2', mid: `R2_${randomBytes(16).toString('hex')}`, merchantKey: randomBytes(16).toString('hex'), cancelPassword: '', kind: 'window', sandbox: false });
      expect(nice.provider).toBe('nice_v2');
      const warned = (await startWithoutJtnet()).filter((l) => l.msg.startsWith('PGs not configured'));
      expect(warned).toEqual([
        expect.objectContaining({ level: 40, pgs: ['jtnet'], channels: 2, msg: `PGs not configured, left out of this Pier; their 2 channel(s) cannot pay or refund until set up: ${HOW}` }),
      ]);
      await removeChannel(before.deps, merchant.merchantId, nice.id);
    } finally {
      await before.stop();
    }
  });
});
