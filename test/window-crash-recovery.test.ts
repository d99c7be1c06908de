/**
 * The done-criterion of issue #9, with a real process kill: Pier (a child process) is SIGKILLed
 * between the PG's approval of a payment-window payment and Pier recording it, and after a restart
 * and `pier reconcile --grace-seconds 0` the payment is paid at Pier and at the PG alike (or, when
 * Pier stayed down past the PG's net-cancel, refunded at both). The tPay simulator runs in this
 * test process with its net-cancel of unacknowledged approvals on (40 min on its own manual clock),
 * so an acknowledgement (resultConfirm) Pier loses shows up as a refund at the PG. The buyer's
 * browser is plain HTTP: Pier's checkout form, the PG window's form, the PG's result form.
 * Runs on SQLite, and on PostgreSQL with TEST_DATABASE_URL.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../src/core/merchants/merchants.js';
import { ManualClock } from '../src/lib/clock.js';
import { createTpaySimulator } from '../src/simulators/jtnet/index.js';
import { openStore } from '../src/store/db.js';
import { childPier } from './child-pier.js';
import { freshDatabase, testCardNumber } from './harness.js';
import { formOf } from './buyer-forms.js';

const NET_CANCEL_MS = 40 * 60_000;

let simulator: FastifyInstance;
let simulatorUrl: string;
const simClock = new ManualClock(Date.now());
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;
const pier = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl }));
const pierUrl = () => pier.url();
const startPierProcess = () => pier.start();
const killPier = (signal: NodeJS.Signals) => pier.kill(signal);
const reconcileCli = () => pier.reconcile();

async function sim(path: string, body?: unknown) {
  const res = await fetch(`${simulatorUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as any;
}

/** Polls another process's progress (no event to wait on) until `check` returns a value. */
async function until<T>(what: string, check: () => Promise<T | null | undefined | false>, tries = 1200): Promise<T> {
  for (let i = 0; i < tries; i++) {
    const v = await check();
    if (v) return v;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`timed out waiting for ${what}`);
}

// ---- the buyer's browser, without a browser ----



async function postForm(url: string, fields: Record<string, string>) {
  const res = await fetch(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  return { status: res.status, html: await res.text() };
}

/**
 * request_pay → Pier's checkout → the PG window → the buyer pays: the PG has approved, and its
 * result form (to be auto-posted to Pier) is returned with the attempt's imp_uid.
 */
async function payInWindow(merchantCode: string, merchantUid: string, amount: number) {
  const created = await fetch(`${pierUrl()}/checkout/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ imp_code: merchantCode, params: { pg: 'jtnet', pay_method: 'card', name: '상품', amount, merchant_uid: merchantUid, buyer_name: '홍길동', buyer_tel: '010-1234-5678' }, mode: 'overlay', origin: 'https://shop.example' }),
  });
  const s = (await created.json()) as any;
  expect(s.session_id, JSON.stringify(s)).toEqual(expect.any(String));
  const toPg = await postForm(`${pierUrl()}/checkout/${s.session_id}/start`, { agree: '1', card_code: '366' });
  expect(toPg.status, toPg.html).toBe(200);
  const pgForm = formOf(toPg.html, 'pg-form');
  const window = await postForm(pgForm.action, pgForm.fields);
  expect(window.status, window.html).toBe(200);
  const payForm = formOf(window.html, 'payForm');
  const paid = await postForm(new URL(payForm.action, pgForm.action).toString(), {
    txToken: payForm.fields.txToken,
    action: 'pay',
    cardNo: testCardNumber({ kftcCode: '366', lastFour: '4242' }),
    cardExpiry: '12/30',
    buyerAuthNum: '900101',
    cardPwd: '12',
    cardQuota: '00',
  });
  expect(paid.status, paid.html).toBe(200);
  const result = formOf(paid.html, 'tpayResult');
  expect(result.action.startsWith(pierUrl())).toBe(true);
  return { sessionId: s.session_id as string, result };
}

async function ledgerOf(moid: string) {
  const l = await sim('/__ledger');
  return [...l.approvals, ...l.declines].filter((t: any) => t.moid === moid);
}

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:', clock: simClock, netCancelUnconfirmedMs: NET_CANCEL_MS, slowResponseMs: 600_000 });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-wcrash-'));
});
afterEach(async () => {
  await killPier('SIGKILL');
  await sim('/__control/holds/release', {});
});
afterAll(async () => {
  await killPier('SIGKILL');
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

/**
 * Pier takes the PG's result post, and asks the PG (trans_search) to confirm it; the PG holds that
 * answer, and Pier is killed while it waits: the approval exists at the PG, Pier has not recorded it.
 */
async function killBetweenApprovalAndRecord(merchantUid: string, amount: number) {
  await startPierProcess();
  const store = openStore(db.url);
  let merchantCode: string;
  try {
    merchantCode = (await store.db.selectFrom('merchants').innerJoin('api_keys', 'api_keys.merchant_id', 'merchants.id').select('merchants.merchant_code').where('api_keys.imp_key', '=', DEMO_IMP_KEY).executeTakeFirstOrThrow()).merchant_code;
  } finally {
    await store.close();
  }
  const { sessionId, result } = await payInWindow(merchantCode, merchantUid, amount);
  const [approval] = await until('the approval at the PG', async () => {
    const l = (await sim('/__ledger')).approvals.filter((a: any) => a.amount === amount && a.status === 'paid' && !a.confirmedAt);
    return l.length === 1 ? l : null;
  });

  await sim('/__control/faults', { mode: 'hold', op: 'trans_search' });
  const posted = postForm(result.action, result.fields).catch(() => null); // the browser's auto-post
  await until('Pier to ask the PG about the approval', async () => (await sim('/__control/holds')).held === 1);
  await killPier('SIGKILL');
  await posted;
  await sim('/__control/holds/release', {});
  return { approval, sessionId, impUid: approval.moid as string };
}

describe('kill -9 of Pier between the PG approval of a window payment and its record', () => {
  it('after restart and `pier reconcile --grace-seconds 0`: paid at Pier with the PG tid and amount, acknowledged at the PG, nothing open', async () => {
    const { approval, impUid } = await killBetweenApprovalAndRecord('wcrash_paid', 12_000);
    const store = openStore(db.url);
    try {
      const before = await store.db.selectFrom('payments').select(['status', 'pg_state', 'pg_tid']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
      expect(before).toEqual({ status: 'ready', pg_state: 'in_doubt', pg_tid: null }); // not recorded, handed to reconciliation

      simClock.advance(10 * 60_000); // Pier is down a while, well within the PG's net-cancel
      await startPierProcess();
      const cli = await reconcileCli();
      expect(cli.code, cli.stderr).toBe(0);
      expect(cli.stdout).toContain(impUid);

      // the restarted server's job sends the PG's acknowledgement (resultConfirm)
      const atPg = await until('the acknowledgement at the PG', async () => {
        const [t] = await ledgerOf(impUid);
        return t?.confirmedAt ? t : null;
      });
      simClock.advance(NET_CANCEL_MS); // past the net-cancel: an acknowledged approval stays
      const [after] = await ledgerOf(impUid);
      expect(after).toMatchObject({ tid: approval.tid, status: 'paid', amount: 12_000, cancelledAmount: 0, confirmedAt: atPg.confirmedAt });

      const token = (await (await fetch(`${pierUrl()}/users/getToken`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET }) })).json()) as any;
      const v1 = ((await (await fetch(`${pierUrl()}/payments/${impUid}`, { headers: { authorization: token.response.access_token } })).json()) as any).response;
      expect(v1).toMatchObject({ imp_uid: impUid, merchant_uid: 'wcrash_paid', status: 'paid', amount: 12_000, cancel_amount: 0, pg_tid: approval.tid });
      const row = await store.db.selectFrom('payments').select(['status', 'pg_state', 'pg_tid', 'amount', 'merchant_uid_lock']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
      expect({ ...row, amount: Number(row.amount) }).toEqual({ status: 'paid', pg_state: 'done', pg_tid: approval.tid, amount: 12_000, merchant_uid_lock: 'wcrash_paid' });
      expect(await store.db.selectFrom('payments').select('imp_uid').where('pg_state', 'in', ['window', 'calling', 'in_doubt']).execute()).toEqual([]);
      expect(await store.db.selectFrom('window_confirms').select('imp_uid').where('imp_uid', '=', impUid).where('state', '!=', 'done').execute()).toEqual([]);
    } finally {
      await store.close();
      await killPier('SIGTERM');
    }
  }, 600_000);
  it('down past the PG net-cancel: after restart and `pier reconcile --grace-seconds 0`, refunded at Pier as at the PG', async () => {
    const { approval, impUid } = await killBetweenApprovalAndRecord('wcrash_refunded', 8_000);
    simClock.advance(NET_CANCEL_MS + 60_000); // nobody acknowledged the approval: the PG net-cancels it
    await startPierProcess();
    const cli = await reconcileCli();
    expect(cli.code, cli.stderr).toBe(0);
    expect(cli.stdout).toContain(impUid);

    const [atPg] = await ledgerOf(impUid);
    expect(atPg).toMatchObject({ tid: approval.tid, status: 'cancelled', amount: 8_000, cancelledAmount: 8_000 });
    const store = openStore(db.url);
    try {
      const token = (await (await fetch(`${pierUrl()}/users/getToken`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET }) })).json()) as any;
      const v1 = ((await (await fetch(`${pierUrl()}/payments/${impUid}`, { headers: { authorization: token.response.access_token } })).json()) as any).response;
      expect(v1).toMatchObject({ imp_uid: impUid, merchant_uid: 'wcrash_refunded', status: 'cancelled', amount: 8_000, cancel_amount: 8_000, pg_tid: approval.tid });
      expect(v1.cancel_history.map((c: any) => c.amount)).toEqual(atPg.cancels.map((c: any) => c.amount));
      expect(await store.db.selectFrom('payments').select('imp_uid').where('pg_state', 'in', ['window', 'calling', 'in_doubt']).execute()).toEqual([]);
      expect(await store.db.selectFrom('payment_cancels').select('state').where('state', 'in', ['pending', 'in_doubt']).execute()).toEqual([]);
    } finally {
      await store.close();
      await killPier('SIGTERM');
    }
  }, 600_000);
});
