/**
 * A sandbox Pier killed (SIGKILL: kill -9, a power loss, the OOM killer) while its first start
 * makes the demo merchant (real child processes, decision 0122). The merchant and its test
 * channels (JTNET's three test MIDs, NICE's sandbox pair) were written one after another, each in
 * its own transaction: killed after the merchant's insert, the start left the demo merchant with
 * fewer channels, or none, for good, since every later start finds a merchant and changes nothing.
 * The README's one-command demo then answered its first payment "no channel". Now the merchant is
 * committed with every channel or not at all, and the next start makes it whole.
 *
 * The start is held at the moment after the demo merchant's first channel insert by
 * demo-setup-held.ts (Pier's start-up work in a process of its own, its database handle noting
 * that insert), then killed with SIGKILL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { JTNET_TEST_MIDS } from '../../src/connectors/jtnet/channel-rules.js';
import { NICE_SANDBOX_KEYS } from '../../src/connectors/nicepay/channel-rules.js';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { openStore, type Store } from '../../src/store/db.js';
import { childPier } from '../child-pier.js';
import { envWithoutPier, startChild, type Child } from '../child-process.js';
import { freshDatabase, testCardNumber } from '../harness.js';

/** what demo-setup-held.ts prints once held */
const HELD_LINE = "held after the demo merchant's first channel insert";
const ROOT = resolve(import.meta.dirname, '../..');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const card = testCardNumber({ kftcCode: '366', lastFour: '1234' });

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;
let held: Child | null = null;
const pier = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl }));

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:' });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
});
afterAll(async () => {
  await simulator?.close();
});
beforeEach(async () => {
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-demo-setup-crash-'));
});
afterEach(async () => {
  if (held?.running()) {
    held.process.kill('SIGKILL');
    await held.exited;
  }
  await pier.kill('SIGKILL');
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** A sandbox start held after the demo merchant's first channel insert, then killed with SIGKILL. */
async function startKilledAfterTheFirstChannelInsert(): Promise<void> {
  held = startChild('the held Pier start', ['--import', TSX_LOADER, join(ROOT, 'test/operations/demo-setup-held.ts')], {
    cwd: ROOT,
    env: { ...envWithoutPier(), DATABASE_URL: db.url, PIER_DATA_DIR: dataDir, HOST: '127.0.0.1', PIER_SIMULATOR: 'false', PIER_JTNET_URL: simulatorUrl, LOG_LEVEL: 'silent' },
  });
  await held.waitFor(new RegExp(HELD_LINE), 120_000);
  held.process.kill('SIGKILL');
  expect(await held.exited).toEqual({ code: null, signal: 'SIGKILL' });
}

async function withStore<T>(use: (store: Store) => Promise<T>): Promise<T> {
  const store = openStore(db.url);
  try {
    return await use(store);
  } finally {
    await store.close();
  }
}

/** The demo merchant's channels as `provider.mid (kind)`, sorted; null when there is no demo merchant. */
const demoChannels = () =>
  withStore(async ({ db: q }) => {
    const key = await q.selectFrom('api_keys').select('merchant_id').where('imp_key', '=', DEMO_IMP_KEY).executeTakeFirst();
    if (!key) return null;
    const rows = await q.selectFrom('pg_channels').select(['provider', 'mid', 'kind', 'is_default']).where('merchant_id', '=', key.merchant_id).execute();
    return rows.map((c) => `${c.provider}.${c.mid} (${c.kind}${c.is_default ? ', default' : ''})`).sort();
  });

/** every published test account, JTNET's the defaults of their kinds (ensureDemoMerchant) */
const EVERY_TEST_CHANNEL = [
  ...JTNET_TEST_MIDS.map((t) => `jtnet.${t.mid} (${t.kind}${t.demoDefault ? ', default' : ''})`),
  ...NICE_SANDBOX_KEYS.map((t) => `nice_v2.${t.mid} (${t.kind}${t.demoDefault ? ', default' : ''})`),
].sort();

async function api(path: string, token: string | null, body: unknown) {
  const res = await fetch(`${pier.url()}${path}`, {
    method: 'POST',
    headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) },
    body: JSON.stringify(body),
  });
  return { status: res.status, body: (await res.json()) as any };
}

describe('a sandbox Pier killed while its first start makes the demo merchant', () => {
  it('the next start makes the demo merchant whole: every test channel, and a demo payment is paid', async () => {
    await startKilledAfterTheFirstChannelInsert();

    await pier.start();
    expect(await demoChannels()).toEqual(EVERY_TEST_CHANNEL);
    const token = (await api('/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;
    const paid = await api('/subscribe/payments/onetime', token, { merchant_uid: 'demo-after-crash-1', amount: 1_004, card_number: card, expiry: '2030-01', birth: '123456' });
    expect(paid.status).toBe(200);
    expect(paid.body.code).toBe(0);
    expect(paid.body.response).toMatchObject({ merchant_uid: 'demo-after-crash-1', amount: 1_004, status: 'paid', pg_provider: 'jtnet', pg_id: 'tpaytest1m' });
  }, 300_000);

  it('a demo channel an operator removed after a complete start stays removed at the next start', async () => {
    await pier.start();
    expect(await demoChannels()).toEqual(EVERY_TEST_CHANNEL);
    await pier.kill('SIGTERM');
    const removed = JTNET_TEST_MIDS.find((t) => !t.demoDefault)!;
    await withStore(({ db: q }) => q.deleteFrom('pg_channels').where('provider', '=', 'jtnet').where('mid', '=', removed.mid).execute());

    await pier.start();
    expect(await demoChannels()).toEqual(EVERY_TEST_CHANNEL.filter((c) => !c.startsWith(`jtnet.${removed.mid} `)));
  }, 300_000);
});
