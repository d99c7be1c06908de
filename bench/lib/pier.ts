/**
 * Pier and the tPay simulator as separate processes, and the sandbox demo merchant's setup for a
 * benchmark: an access token, billing keys for a few customers, a card for key-in payments.
 */
import { spawnSync } from 'node:child_process';
import { randomBytes } from 'node:crypto';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { JTNET_TEST_MIDS } from '../../src/core/sandbox/demo.js';
import { testCardNumber } from '../../src/simulators/jtnet/test-cards.js';
import { PIER_ENTRY } from './compile.js';
import { freePort, ROOT, serveOnFreshPort, type Child } from './proc.js';

/** An approving 신한 credit card of the simulator (last four digits are not a trigger). */
export const BENCH_CARD = { card_number: testCardNumber({ kftcCode: '366', lastFour: '1234' }), expiry: '2030-12', birth: '820213', pwd_2digit: '00' };

export interface SimulatorProc {
  child: Child;
  url: string;
}

export async function startSimulator(dataDir: string): Promise<SimulatorProc> {
  mkdirSync(dataDir, { recursive: true });
  const sim = await serveOnFreshPort(
    'tpay-simulator',
    'src/simulators/jtnet/main.ts',
    (port) => ({ TPAY_SIM_PORT: String(port), TPAY_SIM_HOST: '127.0.0.1', TPAY_SIM_DB: join(dataDir, 'tpay-sim.sqlite'), TPAY_SIM_LOG_LEVEL: 'warn' }),
    { path: '/__ledger' },
  );
  return { child: sim.child, url: sim.url };
}

export interface PierProc {
  child: Child;
  url: string;
  databaseUrl: string;
  /** what it was started with (PORT and the ports of `portsIn` included) */
  env: Record<string, string>;
}

/** Starts Pier as `npm start` does (bin/start.js, compile.ts) in its own process, embedded simulator off, pointed at `jtnetUrl`. */
export async function startPierProc(opts: {
  name: string;
  dataDir: string;
  databaseUrl: string;
  jtnetUrl: string;
  logLevel?: string;
  nodeArgs?: string[];
  /** more environment, e.g. PIER_WORKERS */
  env?: Record<string, string>;
  /**
   * give the demo merchant a default API channel on a simulator MID of this start's own, so the
   * imp_uids of different Pier databases in one run never meet at the simulator's moid check
   */
  ownSimulatorMid?: string;
  /** environment variables to set to a port of their own, as PORT is (for the preload's server: bench/lib/count-queries.mjs) */
  portsIn?: string[];
}): Promise<PierProc> {
  // a port taken before Pier (or its preload) bound it: started again on new ones
  const { child, env, url } = await serveOnFreshPort(
    opts.name,
    PIER_ENTRY,
    async (port) => {
      const more: Record<string, string> = {};
      for (const name of opts.portsIn ?? []) more[name] = String(await freePort());
      return {
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
        ...more,
      };
    },
    { path: '/openapi.json', ms: 120_000, nodeArgs: opts.nodeArgs },
  );
  if (opts.ownSimulatorMid) {
    const account = await registerSimulatorMid(opts.jtnetUrl, opts.ownSimulatorMid);
    const listed = cli(env, ['merchant', 'list']);
    const code = listed.split('\n').find((l) => l.includes(DEMO_IMP_KEY))?.match(/\bimp\d{8}\b/)?.[0];
    if (!code) throw new Error(`no demo merchant in \`pier merchant list\`:\n${listed}`);
    cli(env, ['channel', 'add', code, '--provider', 'jtnet', '--mid', account.mid, '--secret', account.merchantKey, '--cancel-password', account.cancelPassword, '--kind', 'api', '--sandbox', '--default']);
  }
  return { child, url, databaseUrl: opts.databaseUrl, env };
}

/** `pier …` (the CLI) on the database of a Pier started with `env`; its output. */
function cli(env: Record<string, string>, args: string[]): string {
  const r = spawnSync(process.execPath, [join(ROOT, 'bin/pier.js'), ...args], { cwd: ROOT, env: { ...process.env, ...env }, encoding: 'utf8', timeout: 60_000 });
  if (r.status !== 0) throw new Error(`pier ${args.slice(0, 2).join(' ')} failed (${r.status}): ${r.stderr}${r.stdout}`);
  return r.stdout;
}

/**
 * A MID of the simulator's own registered for this run (`mid`: 1-20 letters, digits, `_`). The
 * simulator refuses a moid its MID approved before (tPay's A127); imp_uids are the moids, drawn at
 * random per database, so servers on different databases charging through one MID can meet there
 * (about once in four full runs of the bench, which counted it as a failed charge).
 */
export async function registerSimulatorMid(simUrl: string, mid: string) {
  const account = { mid, merchantKey: randomBytes(32).toString('base64'), cancelPassword: '123456' };
  const res = await fetch(`${simUrl}/__control/merchants`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ mid, merchantKey: account.merchantKey, cancelPassword: account.cancelPassword, name: mid }),
    signal: AbortSignal.timeout(10_000),
  });
  if (res.status !== 201) throw new Error(`registering simulator MID ${mid}: HTTP ${res.status} ${await res.text()}`);
  return account;
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

/**
 * A simulator MID and a billing key of its own, for load that bypasses Pier: the test MID
 * tpaytest1m, or `mid` registered for this run (registerSimulatorMid).
 */
export async function simulatorAccount(simUrl: string, mid?: string): Promise<SimulatorAccount> {
  const acct = mid ? await registerSimulatorMid(simUrl, mid) : JTNET_TEST_MIDS.find((t) => t.mid === 'tpaytest1m')!;
  const res = await fetch(`${simUrl}/api/v1/gen_billkey`, {
    method: 'POST',
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    body: new URLSearchParams({ mid: acct.mid, api_key: acct.merchantKey, card_num: BENCH_CARD.card_number, card_exp: '3012', card_pwd: '00', buyer_auth_num: '820213' }).toString(),
  });
  const key = (await res.json()) as { result_cd: string; card_token: string };
  if (key.result_cd !== '0000') throw new Error(`gen_billkey: ${JSON.stringify(key)}`);
  return { mid: acct.mid, apiKey: acct.merchantKey, cardToken: key.card_token };
}
