/**
 * Pier and the tPay simulator as separate processes, and the sandbox demo merchant's setup for a
 * benchmark: an access token, billing keys for a few customers, a card for key-in payments.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { JTNET_TEST_MIDS } from '../../src/core/sandbox/demo.js';
import { testCardNumber } from '../../src/simulators/jtnet/test-cards.js';
import { freePort, startNode, waitForHttp, type Child } from './proc.js';

/** An approving 신한 credit card of the simulator (last four digits are not a trigger). */
export const BENCH_CARD = { card_number: testCardNumber({ kftcCode: '366', lastFour: '1234' }), expiry: '2030-12', birth: '820213', pwd_2digit: '00' };

export interface SimulatorProc {
  child: Child;
  url: string;
}

export async function startSimulator(dataDir: string): Promise<SimulatorProc> {
  mkdirSync(dataDir, { recursive: true });
  const port = await freePort();
  const child = startNode('tpay-simulator', 'src/simulators/jtnet/main.ts', {
    TPAY_SIM_PORT: String(port),
    TPAY_SIM_HOST: '127.0.0.1',
    TPAY_SIM_DB: join(dataDir, 'tpay-sim.sqlite'),
    TPAY_SIM_LOG_LEVEL: 'warn',
  });
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/__ledger`, child);
  return { child, url };
}

export interface PierProc {
  child: Child;
  url: string;
  databaseUrl: string;
}

/** Starts `src/main.ts` in its own process, embedded simulator off, pointed at `jtnetUrl`. */
export async function startPierProc(opts: {
  name: string;
  dataDir: string;
  databaseUrl: string;
  jtnetUrl: string;
  logLevel?: string;
  nodeArgs?: string[];
  /** more environment, e.g. PIER_WORKERS */
  env?: Record<string, string>;
}): Promise<PierProc> {
  const port = await freePort();
  const env: Record<string, string> = {
    PIER_MODE: 'sandbox',
    HOST: '127.0.0.1',
    PORT: String(port),
    PIER_DATA_DIR: opts.dataDir,
    DATABASE_URL: opts.databaseUrl,
    PIER_SIMULATOR: 'false',
    PIER_JTNET_URL: opts.jtnetUrl,
    LOG_LEVEL: opts.logLevel ?? 'warn',
    PIER_CONFIG: '',
    ...opts.env,
  };
  const child = startNode(opts.name, 'src/main.ts', env, opts.nodeArgs ?? []);
  const url = `http://127.0.0.1:${port}`;
  await waitForHttp(`${url}/openapi.json`, child, 120_000);
  return { child, url, databaseUrl: opts.databaseUrl };
}

export async function v1(url: string, method: string, path: string, token: string | null, body?: unknown) {
  const res = await fetch(url + path, {
    method,
    headers: { ...(body === undefined ? {} : { 'content-type': 'application/json' }), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    body: body === undefined ? undefined : JSON.stringify(body),
  });
  const text = await res.text();
  let json: { code: number; message: string | null; response: any } | null = null;
  try {
    json = JSON.parse(text);
  } catch {
    /* not JSON */
  }
  return { status: res.status, text, json };
}

export interface MerchantSetup {
  token: string;
  customerUids: string[];
  /** the raw body of one `again` answer (the bare-HTTP ceiling answers these bytes) */
  sampleAgainBody: string;
}

/** The demo merchant's token, `customers` billing keys (issued in parallel) and one checked charge. */
export async function setupMerchant(url: string, customers: number, tag: string): Promise<MerchantSetup> {
  const t = await v1(url, 'POST', '/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET });
  if (t.json?.code !== 0) throw new Error(`getToken failed: ${t.text}`);
  const token = t.json.response.access_token as string;
  const customerUids = Array.from({ length: customers }, (_, i) => `bench_${tag}_${i}`);
  await Promise.all(
    customerUids.map(async (uid) => {
      const r = await v1(url, 'POST', `/subscribe/customers/${uid}`, token, BENCH_CARD);
      if (r.json?.code !== 0) throw new Error(`billing key for ${uid} failed: ${r.text}`);
    }),
  );
  const r = await v1(url, 'POST', '/subscribe/payments/again', token, { customer_uid: customerUids[0], merchant_uid: `bench_${tag}_probe`, amount: 1000, name: 'bench again' });
  if (r.json?.code !== 0 || r.json.response?.status !== 'paid') throw new Error(`probe charge failed: ${r.text}`);
  return { token, customerUids, sampleAgainBody: r.text };
}

export interface SimulatorAccount {
  mid: string;
  apiKey: string;
  /** a billing key the simulator issued for BENCH_CARD */
  cardToken: string;
}

/** The simulator's test MID and a billing key of its own, for load that bypasses Pier. */
export async function simulatorAccount(simUrl: string): Promise<SimulatorAccount> {
  const acct = JTNET_TEST_MIDS.find((t) => t.mid === 'tpaytest1m')!;
  const res = await fetch(`${simUrl}/api/v1/gen_billkey`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ mid: acct.mid, api_key: acct.merchantKey, card_num: BENCH_CARD.card_number, card_exp: '3012', card_pwd: '00', buyer_auth_num: '820213' }).toString(),
  });
  const key = (await res.json()) as { result_cd: string; card_token: string };
  if (key.result_cd !== '0000') throw new Error(`gen_billkey: ${JSON.stringify(key)}`);
  return { mid: acct.mid, apiKey: acct.merchantKey, cardToken: key.card_token };
}
