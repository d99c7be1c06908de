import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { request } from 'undici';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { loadConfig } from '../src/config/index.js';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../src/core/merchants/merchants.js';
import { startPier } from '../src/main.js';
import { freshDatabase, testCardNumber } from './harness.js';

let dataDir: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
const env = () => ({ PORT: '0', PIER_DATA_DIR: dataDir, DATABASE_URL: db.url, LOG_LEVEL: 'silent', PIER_SIMULATOR_PORT: '0' });

beforeAll(async () => {
  dataDir = mkdtempSync(join(tmpdir(), 'pier-main-'));
  db = await freshDatabase();
});
afterAll(async () => {
  await db.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/** The demo merchant's access token (i'mport's demo keys), over real HTTP. */
async function demoToken(address: string): Promise<string> {
  const res = await request(`${address}/users/getToken`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET }),
  });
  const t = (await res.body.json()) as { code: number; response: { access_token: string } };
  expect(t.code).toBe(0);
  return t.response.access_token;
}

describe('starting Pier', () => {
  it('on first sandbox start creates the demo merchant with i\'mport\'s demo keys, a vault key file and a working simulator', async () => {
    const stdout = vi.spyOn(process.stdout, 'write');
    let banner = '';
    const pier = await startPier(loadConfig(env()));
    try {
      expect(existsSync(join(dataDir, 'vault.key'))).toBe(true);
      const token = await demoToken(pier.address);
      // the seed's key-in curl example, over real HTTP, through the embedded simulator
      const pay = await request(`${pier.address}/subscribe/payments/onetime`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: token },
        body: JSON.stringify({ merchant_uid: `order_id_${randomBytes(4).toString('hex')}`, card_number: testCardNumber({ kftcCode: '366', lastFour: '1234' }).replace(/(\d{4})(?=\d)/g, '$1-'), expiry: '2030-01', birth: '123456', amount: 3000 }),
      });
      const p = (await pay.body.json()) as { code: number; response: { pg_id: string; status: string; fail_reason: string | null } };
      expect(p.code).toBe(0);
      expect(p.response.pg_id).toBe('tpaytest1m');
      expect(p.response.status).toBe('paid');
      // the demo's NICE API channel pays through the embedded NICE simulator (no base URL: the connector's sandbox host is the simulator)
      const nicePay = await request(`${pier.address}/subscribe/payments/onetime`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: token },
        body: JSON.stringify({ pg: 'nice_v2', merchant_uid: `nice_order_${randomBytes(4).toString('hex')}`, card_number: testCardNumber({ kftcCode: '366', lastFour: '1234' }), expiry: '2030-01', birth: '123456', amount: 3000 }),
      });
      const np = (await nicePay.body.json()) as { code: number; response: { pg_provider: string; pg_id: string; status: string; imp_uid: string } };
      expect(np.code, JSON.stringify(np)).toBe(0);
      expect(np.response).toMatchObject({ pg_provider: 'nice_v2', pg_id: 'S2_af4543a0be4d49a98122e01ec2059a56', status: 'paid' });
      // the embedded NICE simulator listens on its own port beside tPay's, and the NICE channels' connector points at it
      const niceSim = pier.simulators.nice_v2;
      expect(niceSim?.apiUrl).toMatch(/^http:\/\/127\.0\.0\.1:\d+$/);
      expect(niceSim!.apiUrl).not.toBe(pier.simulators.jtnet?.apiUrl);
      expect((await request(`${niceSim!.apiUrl}/__health`)).statusCode).toBe(200);
      const niceLedger = await request(`${niceSim!.apiUrl}/__ledger`);
      expect(await niceLedger.body.text()).toContain(np.response.imp_uid);
      const channels = await pier.deps.store.db.selectFrom('pg_channels').select(['provider', 'mid', 'kind', 'is_default', 'sandbox']).orderBy('provider').orderBy('mid').orderBy('kind').execute();
      // NICE's sandbox channels sit beside JTNET's, which stay the defaults (pg-less demo requests keep going to JTNET)
      expect(channels).toEqual([
        { provider: 'jtnet', mid: 'tpaytest0m', kind: 'window', is_default: 1, sandbox: 1 },
        { provider: 'jtnet', mid: 'tpaytest1m', kind: 'api', is_default: 1, sandbox: 1 },
        { provider: 'jtnet', mid: 'tpaytest2m', kind: 'api', is_default: 0, sandbox: 1 },
        { provider: 'nice_v2', mid: 'S2_af4543a0be4d49a98122e01ec2059a56', kind: 'api', is_default: 0, sandbox: 1 },
        { provider: 'nice_v2', mid: 'S2_af4543a0be4d49a98122e01ec2059a56', kind: 'window', is_default: 0, sandbox: 1 },
      ]);
      // the window carries no notice URL: the sandbox told the embedded tPay simulator (its "merchant
      // admin") where the window MID's deposit notices go, the demo window channel's notify URL (decision 0086)
      const window = await pier.deps.store.db.selectFrom('pg_channels').select('id').where('mid', '=', 'tpaytest0m').executeTakeFirstOrThrow();
      const noticeUrl = (await (await request(`${pier.simulators.jtnet!.apiUrl}/__control/notify-url?mid=tpaytest0m`)).body.json()) as { url: string | null };
      expect(noticeUrl.url).toMatch(new RegExp(`^https?://[^/]+/checkout/pg/${window.id}/notify$`));
    } finally {
      await pier.stop();
      banner = stdout.mock.calls.map((c) => String(c[0])).join('');
      stdout.mockRestore();
    }
    // the start banner names every demo channel, NICE's included, and never a secret
    expect(banner).toContain('jtnet.tpaytest1m   (JTNet(tPay), API, default)');
    expect(banner).toContain('nice_v2.S2_af4543a0be4d49a98122e01ec2059a56   (NICE페이먼츠, window)');
    expect(banner).toContain('nice_v2.S2_af4543a0be4d49a98122e01ec2059a56   (NICE페이먼츠, API)');
    expect(banner).not.toContain('9eb85607103646da9f9c02b128f2e5ee');
    expect(banner).toMatch(/NICEPAY sim\s+http:\/\/127\.0\.0\.1:\d+\s+\(ledger: http:\/\/127\.0\.0\.1:\d+\/__ledger\)/);
  });

  it("counts its background work's claims in /metrics: by queue, found or empty, the rows leased and the time taken", async () => {
    const received: string[] = [];
    const receiver = createServer((req, res) => {
      let body = '';
      req.on('data', (c) => (body += c));
      req.on('end', () => {
        received.push(body);
        res.end('OK');
      });
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
    const pier = await startPier(loadConfig(env()));
    try {
      const token = await demoToken(pier.address);
      const merchantUid = `order_claims_${randomBytes(4).toString('hex')}`;
      const pay = await request(`${pier.address}/subscribe/payments/onetime`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: token },
        body: JSON.stringify({
          merchant_uid: merchantUid,
          card_number: testCardNumber({ kftcCode: '366', lastFour: '1234' }),
          expiry: '2030-01',
          amount: 3000,
          notice_url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`,
        }),
      });
      expect(((await pay.body.json()) as { response: { status: string } }).response.status).toBe('paid');
      // the payment's webhook is leased by a claim of the running webhook lane, then sent
      await vi.waitUntil(() => received.some((b) => b.includes(merchantUid)), { timeout: 10_000, interval: 20 });
      const text = await (await request(`${pier.address}/metrics`)).body.text();
      const series = (line: RegExp) => Number(line.exec(text)?.[1] ?? NaN);
      expect(series(/^pier_job_claims_total\{queue="webhooks",result="found"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
      expect(series(/^pier_job_claimed_rows_total\{queue="webhooks"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
      // every lane claims when it starts: nothing is due for schedules
      expect(series(/^pier_job_claims_total\{queue="schedules",result="empty"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
      expect(series(/^pier_job_claim_duration_seconds_count\{queue="schedules"\} (\d+)$/m)).toBeGreaterThanOrEqual(1);
    } finally {
      await pier.stop();
      receiver.close();
    }
  });

  it('on a second start finds the demo merchant and creates nothing new', async () => {
    const pier = await startPier(loadConfig(env()));
    try {
      const merchants = await pier.deps.store.db.selectFrom('merchants').select('merchant_code').execute();
      expect(merchants).toHaveLength(1);
    } finally {
      await pier.stop();
    }
  });

  it('creates its data folder when the database lives elsewhere (PostgreSQL, or a SQLite file outside it): the simulator ledgers and the vault key go there', async () => {
    // the database is not in the data folder, so opening it creates nothing there; the simulators'
    // ledger files came next and failed with "Cannot open database because the directory does not exist"
    const otherDb = await freshDatabase();
    const parent = mkdtempSync(join(tmpdir(), 'pier-main-nodir-'));
    const missingDir = join(parent, 'not', 'yet');
    try {
      const pier = await startPier(loadConfig({ ...env(), PIER_DATA_DIR: missingDir, DATABASE_URL: otherDb.url }));
      try {
        expect(existsSync(join(missingDir, 'tpay-simulator.sqlite'))).toBe(true);
        expect(existsSync(join(missingDir, 'nicepay-simulator.sqlite'))).toBe(true);
        expect(existsSync(join(missingDir, 'vault.key'))).toBe(true);
        expect((await demoToken(pier.address)).length).toBeGreaterThan(0);
      } finally {
        await pier.stop();
      }
    } finally {
      await otherDb.drop();
      rmSync(parent, { recursive: true, force: true });
    }
  });

  it('with simulator.publicUrl set, receipt_url and the window open at that public address, not the listen address', async () => {
    const pier = await startPier(loadConfig({ ...env(), PIER_SIMULATOR_PUBLIC_URL: 'https://tpay-sim.example.test/' }));
    try {
      const token = await demoToken(pier.address);
      const pay = await request(`${pier.address}/subscribe/payments/onetime`, {
        method: 'POST',
        headers: { 'content-type': 'application/json', authorization: token },
        body: JSON.stringify({ merchant_uid: `order_id_${randomBytes(4).toString('hex')}`, card_number: testCardNumber({ kftcCode: '366', lastFour: '1234' }), expiry: '2030-01', birth: '123456', amount: 3000 }),
      });
      const p = (await pay.body.json()) as { response: { status: string; pg_tid: string; receipt_url: string } };
      expect(p.response.status).toBe('paid');
      expect(p.response.receipt_url.startsWith(`https://tpay-sim.example.test/receipt/${p.response.pg_tid}?sig=`)).toBe(true);
      const form = pier.deps.connectors.get('jtnet')!.window!.startWindow(
        { mid: 'tpaytest0m', merchantKey: { reveal: () => 'k'.repeat(32) } as never, cancelPassword: { reveal: () => '' } as never },
        { moid: 'imp_000000000001', amount: 1000, goodsName: 'x', payMethod: 'card', buyer: {}, returnUrl: 'http://r', cancelUrl: 'http://c', mobile: false, cardQuotas: [], billing: false, language: 'ko' },
      );
      expect(form).toMatchObject({ kind: 'form', action: 'https://tpay-sim.example.test/webTxInit' });
    } finally {
      await pier.stop();
    }
  });

  it('refuses production mode while the demo credentials exist', async () => {
    const config = loadConfig({ ...env(), PIER_MODE: 'production', PIER_VAULT_KEYS: `k1:${randomBytes(32).toString('base64')}`, PIER_JTNET_URL: 'http://127.0.0.1:9' });
    await expect(startPier(config)).rejects.toThrow(/imp_apikey/);
  });
});
