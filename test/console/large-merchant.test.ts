/**
 * The console on a merchant with more payments than any one statement should read: 50,150 of them,
 * written straight into the store (copies of one real payment) over ten days, seven to a second so
 * that windows of the walk end inside a second. Before the walk, the export stopped at 50,000 rows without a
 * word, the count read every payment, and each page sorted them all: on SQLite, one statement
 * on the event loop every merchant's payments wait on.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { searchBillingKeys } from '../../src/core/console/billing-keys.js';
import { dailyStats, exportPayments, searchPayments } from '../../src/core/console/payments.js';
import { listDeliveries } from '../../src/webhooks/deliveries.js';
import { COUNT_CAP } from '../../src/store/walk.js';
import { insertCopies } from '../bulk-rows.js';
import { testCardNumber } from '../harness.js';
import { planOf, statementsOf } from '../plans.js';
import { startConsolePier, type Agent, type ConsolePier, type ConsoleUser } from './console-harness.js';

const COPIES = 50_150;
const KEY_COPIES = 10_050;
const DELIVERY_COPIES = 10_050;
const PER_SECOND = 7;
/** seven payments share a second, two minutes apart from the next seven: ten days in all */
const SECONDS_APART = 120;

let c: ConsolePier;
let alice: ConsoleUser;
let a: Agent;
let seed: { imp_uid: string; started_at: number };
/** every imp_uid of alice's, in the console's order, as one ORDER BY over all of them gives it */
let newestFirst: string[];

async function inOrder(where: (q: any) => any = (q) => q): Promise<string[]> {
  const rows = await where(c.pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_id', '=', alice.merchant.merchantId))
    .orderBy('started_at', 'desc')
    .orderBy('imp_uid', 'desc')
    .execute();
  return rows.map((r: { imp_uid: string }) => r.imp_uid);
}

beforeAll(async () => {
  c = await startConsolePier();
  alice = await c.newUser();
  const bob = await c.newUser();
  for (const u of [alice, bob]) {
    const r = await c.pier.call('POST', '/subscribe/payments/onetime', {
      token: u.merchant.token,
      body: { merchant_uid: `seed_${u.merchant.merchantCode}`, amount: 1000, card_number: testCardNumber({ kftcCode: '366', lastFour: '4321' }), expiry: '2030-12', birth: '820213', name: '대량', buyer_name: '홍길동', notice_url: 'http://127.0.0.1:9/hook' },
    });
    expect(r.body.response?.status).toBe('paid');
    if (u === alice) seed = { imp_uid: r.body.response.imp_uid, started_at: r.body.response.started_at };
  }
  const db = c.pier.store.db;
  const copied: Record<string, string> = {
    imp_uid: `'imp_bulk_' || (100000 + s.i)`,
    merchant_uid: `'bulk_' || (100000 + s.i)`,
    merchant_uid_lock: `'bulk_' || (100000 + s.i)`,
    started_at: `p.started_at - (s.i / ${PER_SECOND}) * ${SECONDS_APART}`,
    buyer_name: `case when s.i % 3 = 0 then '김철수' else p.buyer_name end`,
  };
  await insertCopies(c.pier.store, 'payments', { count: COPIES, where: `p.imp_uid = '${seed.imp_uid}'`, copied });
  // and 10,050 billing keys of hers, a customer a second apart from the next, three to a second
  const key = await c.pier.call('POST', '/subscribe/customers/cust_seed', {
    token: alice.merchant.token,
    body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '4321' }), expiry: '2030-12', birth: '820213', customer_name: '홍길동' },
  });
  expect(key.body.code).toBe(0);
  const keyCopied: Record<string, string> = {
    id: `'bk_bulk_' || s.i`,
    customer_uid: `'cust_' || (100000 + s.i)`,
    updated: `p.updated - s.i / 3`,
    customer_name: `case when s.i % 4 = 0 then '김영희' else p.customer_name end`,
  };
  await insertCopies(c.pier.store, 'billing_keys', { count: KEY_COPIES, where: `p.merchant_id = '${alice.merchant.merchantId}' and p.customer_uid = 'cust_seed'`, copied: keyCopied });
  // and 10,050 webhook deliveries of hers (the seed payment's, copied), three to a second, a fifth failed
  const deliveryCopied: Record<string, string> = {
    id: `'dl_bulk_' || (100000 + s.i)`,
    created_at: `p.created_at - s.i / 3`,
    state: `case when s.i % 5 = 0 then 'failed' else 'delivered' end`,
    lease_owner: 'null',
  };
  await insertCopies(c.pier.store, 'webhook_deliveries', { count: DELIVERY_COPIES, where: `p.merchant_id = '${alice.merchant.merchantId}'`, copied: deliveryCopied });
  if (c.pier.store.dialect === 'postgres') await sql`analyze`.execute(db);
  newestFirst = await inOrder();
  expect(newestFirst).toHaveLength(COPIES + 1);
  a = c.agent();
  expect((await a.signIn(alice.email, alice.password)).status).toBe(303);
}, 120_000);

afterAll(async () => {
  await c?.close();
});

const csvIds = (body: string) =>
  body
    .replace(/^\uFEFF/, '')
    .trim()
    .split('\r\n')
    .slice(1)
    .map((line) => line.slice(0, line.indexOf(',')));

describe('the console on a merchant with 50,151 payments', () => {
  it('exports every payment, newest first, through windows that end inside a second', async () => {
    const r = await a.get('/console/payments.csv');
    expect(r.status).toBe(200);
    expect(r.body.startsWith('\uFEFFimp_uid,merchant_uid,status,')).toBe(true);
    const ids = csvIds(r.body);
    expect(ids.length).toBe(COPIES + 1);
    expect(ids).toEqual(newestFirst);
  });

  it('exports exactly the payments a text filter matches, in the same order', async () => {
    const r = await a.get('/console/payments.csv?q=%EC%B2%A0%EC%88%98'); // 철수
    expect(r.status).toBe(200);
    const expected = await inOrder((q) => q.where('buyer_name', '=', '김철수'));
    expect(expected.length).toBe(Math.floor(COPIES / 3));
    expect(csvIds(r.body)).toEqual(expected);
  });

  it('counts up to 10,000, says there are more, and pages within them', async () => {
    const page = await a.get('/console/payments');
    expect(page.status).toBe(200);
    expect(page.body).toContain('10,000건 이상');
    const first = await a.get('/console/api/payments?page=2');
    expect(first.json).toMatchObject({ ok: true, total: COUNT_CAP, capped: true, page: 2, pages: COUNT_CAP / 20 });
    expect(first.json.list.map((p: { imp_uid: string }) => p.imp_uid)).toEqual(newestFirst.slice(20, 40));
    // a page past the cap is the last page within it
    const far = await a.get('/console/api/payments?page=999');
    expect(far.json).toMatchObject({ total: COUNT_CAP, capped: true, page: COUNT_CAP / 20 });
    expect(far.json.list.map((p: { imp_uid: string }) => p.imp_uid)).toEqual(newestFirst.slice(COUNT_CAP - 20, COUNT_CAP));
    // below the cap the count is exact
    const one = await a.get('/console/api/payments?q=imp_bulk_100007');
    expect(one.json).toMatchObject({ total: 1, capped: false, pages: 1 });
    expect(one.json.list.map((p: { imp_uid: string }) => p.imp_uid)).toEqual(['imp_bulk_100007']);
  });

  it('the dashboard counts every payment of its days', async () => {
    const days = await dailyStats(c.pier.deps, alice.merchant.merchantId, seed.started_at, 14);
    expect(days.reduce((n, d) => n + d.approved, 0)).toBe(COPIES + 1);
    expect(days.reduce((n, d) => n + d.volume, 0)).toBe((COPIES + 1) * 1000);
  });

  it('lists 10,051 billing keys: up to 10,000 counted, pages in order, a search exact', async () => {
    const all = (
      await c.pier.store.db.selectFrom('billing_keys').select('customer_uid').where('merchant_id', '=', alice.merchant.merchantId).orderBy('updated', 'desc').orderBy('customer_uid', 'desc').execute()
    ).map((r) => r.customer_uid);
    expect(all).toHaveLength(KEY_COPIES + 1);
    const page = await a.get('/console/billing-keys?page=3');
    expect(page.status).toBe(200);
    expect(page.body).toContain('10,000건 이상');
    const listed = await a.get('/console/api/billing-keys?page=3');
    expect(listed.json).toMatchObject({ ok: true, total: COUNT_CAP, capped: true, page: 3, pages: COUNT_CAP / 20 });
    expect(listed.json.list.map((k: { customer_uid: string }) => k.customer_uid)).toEqual(all.slice(40, 60));
    const found = await searchBillingKeys(c.pier.deps, alice.merchant.merchantId, '영희', { page: 2, limit: 100 });
    const named = (
      await c.pier.store.db.selectFrom('billing_keys').select('customer_uid').where('merchant_id', '=', alice.merchant.merchantId).where('customer_name', '=', '김영희').orderBy('updated', 'desc').orderBy('customer_uid', 'desc').execute()
    ).map((r) => r.customer_uid);
    expect(found).toMatchObject({ total: Math.floor(KEY_COPIES / 4), capped: false, page: 2 });
    expect(found.list.map((k) => k.customer_uid)).toEqual(named.slice(100, 200));
  });

  it('lists 10,051 webhook deliveries: up to 10,000 counted, pages in order, a state filter exact', async () => {
    const inLog = async (state?: string) =>
      (
        await c.pier.store.db
          .selectFrom('webhook_deliveries')
          .select('id')
          .where('merchant_id', '=', alice.merchant.merchantId)
          .$if(state !== undefined, (q) => q.where('state', '=', state!))
          .orderBy('created_at', 'desc')
          .orderBy('id', 'desc')
          .execute()
      ).map((r) => r.id);
    const all = await inLog();
    expect(all).toHaveLength(DELIVERY_COPIES + 1);
    const page = await a.get('/console/webhooks?page=2');
    expect(page.status).toBe(200);
    expect(page.body).toContain('10,000건 이상');
    const listed = await a.get('/console/api/webhooks/deliveries?page=2');
    expect(listed.json).toMatchObject({ ok: true, total: COUNT_CAP, capped: true, page: 2 });
    expect(listed.json.list.map((d: { id: string }) => d.id)).toEqual(all.slice(20, 40));
    // Pier's own REST API: the same walk, V1-style paging
    const rest = await c.pier.call('GET', '/pier/webhooks/deliveries?page=3&limit=50', { token: alice.merchant.token });
    expect(rest.body.response).toMatchObject({ total: COUNT_CAP, capped: true, previous: 2, next: 4 });
    expect(rest.body.response.list.map((d: { id: string }) => d.id)).toEqual(all.slice(100, 150));
    const failed = await inLog('failed');
    expect(failed).toHaveLength(Math.floor(DELIVERY_COPIES / 5));
    const onlyFailed = await a.get('/console/api/webhooks/deliveries?state=failed&page=3');
    expect(onlyFailed.json).toMatchObject({ total: failed.length, capped: false, page: 3 });
    expect(onlyFailed.json.list.map((d: { id: string }) => d.id)).toEqual(failed.slice(40, 60));
  });

  it('reads the payments, billing keys and deliveries through indexes, never sorting or scanning the merchant\'s history', async () => {
    const merchantId = alice.merchant.merchantId;
    const ran = await statementsOf(c.pier, async (store) => {
      const deps = { ...c.pier.deps, store };
      await searchPayments(deps, merchantId, {}, { page: 3, limit: 20 });
      await searchPayments(deps, merchantId, { q: '철수', status: 'paid' }, { page: 1, limit: 20 });
      for (const filter of [{ q: '철수' }, {}]) {
        let windows = 0;
        for await (const _ of exportPayments(deps, merchantId, filter)) if (++windows === 3) break;
      }
      await dailyStats(deps, merchantId, seed.started_at, 2);
      await searchBillingKeys(deps, merchantId, '', { page: 2, limit: 20 });
      await searchBillingKeys(deps, merchantId, '영희', { page: 1, limit: 20 });
      await listDeliveries(store, { merchantId, limit: 20, offset: 40 });
      await listDeliveries(store, { merchantId, state: 'failed', limit: 20 });
    });
    const onPayments = ran.filter((s) => /from "(payments|billing_keys|webhook_deliveries)"/.test(s.sql));
    expect(onPayments.length).toBeGreaterThan(10);
    for (const s of onPayments) {
      const plan = await planOf(c.pier, s.sql, s.parameters);
      const what = `${s.sql}\n${plan}`;
      // a count reads every payment it counts: the console counts by walking windows instead
      expect(s.sql, what).not.toMatch(/count\(/i);
      if (c.pier.store.dialect === 'sqlite') {
        expect(plan, what).not.toMatch(/USE TEMP B-TREE FOR ORDER BY|SCAN (payments|billing_keys|webhook_deliveries|d|e)\b/);
        // a page's rows by their ids: by a unique key (through a merchant index, as SQLite chose
        // while the merchant was in the statement, they read her whole history)
        if (/"(imp_uid|id|customer_uid)" in \(/.test(s.sql)) expect(plan, what).toMatch(/USING INDEX sqlite_autoindex_\w+ \((merchant_id=\? AND )?(imp_uid|id|customer_uid)=\?\)/);
        expect(plan, what).toMatch(/USING (COVERING )?INDEX (payments_merchant_started|payments_merchant_status_started|sqlite_autoindex_payments_1|billing_keys_merchant_updated|sqlite_autoindex_billing_keys_\d|webhook_deliveries_merchant_created|sqlite_autoindex_webhook_deliveries_1)/);
      } else {
        // PostgreSQL picks among the indexes by its statistics (a window it estimates small may be
        // sorted, a rare state read through its own index); what it must never do is read the table
        expect(plan, what).not.toMatch(/Seq Scan on (payments|billing_keys|webhook_deliveries)\b/);
        expect(plan, what).toMatch(/Index (Only )?Scan|Bitmap Index Scan/);
      }
    }
  });
});
