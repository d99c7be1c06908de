import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startTestPier, testCardNumber, type TestPier, type TestMerchant, v1Call } from '../harness.js';

/**
 * Ids stored before decisions 0054 and 0062 (a merchant_uid over 40 bytes of UTF-8, a customer_uid
 * over 80, control characters, a window's `/` in a customer_uid) stay in the database over an
 * upgrade. Lookups and actions on those records take them; only new records are held to the limits
 * (docs/decisions/0068-ids-created-and-looked-up.md). Each record here is made through REST with an
 * ordinary id, then given its old id in the database, as the earlier Pier had written it.
 */
let pier: TestPier;
let m: TestMerchant;

const card = { card_number: testCardNumber({ kftcCode: '381', lastFour: '5678' }), expiry: '2030-12', birth: '820213' };
/** 22 characters, 67 bytes: REST took it before decision 0062 */
const OLD_ORDER = '주문_' + '가'.repeat(20);
/** a tab and a C1 control: REST took them before decision 0054 */
const OLD_ORDER_CONTROLS = 'old\torder\u0085';
/** 30 characters, 90 bytes */
const OLD_CUSTOMER = '고'.repeat(30);
/** the window took `/`, `?`, `#` in a customer_uid before decision 0054 */
const OLD_WINDOW_CUSTOMER = 'win/user?1#a';
/** 22 characters, 67 bytes: a schedule's */
const OLD_SCHEDULE = '정기_' + '나'.repeat(20);
const SCHEDULE_AT = 4102444800;

const call = (method: string, url: string, body?: unknown) => v1Call(pier, m.token, method, url, body);

const path = (id: string) => encodeURIComponent(id);
let oldImpUid: string;
let controlsImpUid: string;

async function counts() {
  const { db } = pier.store;
  const n = async (table: 'payments' | 'billing_keys' | 'payment_prepares' | 'payment_schedules') =>
    Number((await db.selectFrom(table).select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
  return { payments: await n('payments'), billing_keys: await n('billing_keys'), payment_prepares: await n('payment_prepares'), payment_schedules: await n('payment_schedules') };
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  const { db } = pier.store;
  const merchantId = m.merchantId;

  // a paid payment that issued a billing key, then renamed to ids the earlier Pier took
  const paid = await call('POST', '/subscribe/payments/onetime', { merchant_uid: 'tmp_old_order', amount: 5000, ...card, customer_uid: 'tmp_old_customer' });
  expect(paid.body.response.status, JSON.stringify(paid.body)).toBe('paid');
  oldImpUid = paid.body.response.imp_uid;
  await db.updateTable('payments').set({ merchant_uid: OLD_ORDER, merchant_uid_lock: OLD_ORDER, customer_uid: OLD_CUSTOMER }).where('imp_uid', '=', oldImpUid).execute();
  await db.updateTable('billing_keys').set({ customer_uid: OLD_CUSTOMER }).where('merchant_id', '=', merchantId).where('customer_uid', '=', 'tmp_old_customer').execute();

  const controls = await call('POST', '/subscribe/payments/onetime', { merchant_uid: 'tmp_controls', amount: 3000, ...card });
  expect(controls.body.response.status).toBe('paid');
  controlsImpUid = controls.body.response.imp_uid;
  await db.updateTable('payments').set({ merchant_uid: OLD_ORDER_CONTROLS, merchant_uid_lock: OLD_ORDER_CONTROLS }).where('imp_uid', '=', controlsImpUid).execute();

  const windowKey = await call('POST', '/subscribe/customers/tmp_window_customer', { ...card });
  expect(windowKey.body.code, JSON.stringify(windowKey.body)).toBe(0);
  await db.updateTable('billing_keys').set({ customer_uid: OLD_WINDOW_CUSTOMER }).where('merchant_id', '=', merchantId).where('customer_uid', '=', 'tmp_window_customer').execute();

  const scheduled = await call('POST', '/subscribe/payments/schedule', { customer_uid: 'tmp_sched_customer', ...card, schedules: [{ merchant_uid: 'tmp_schedule', schedule_at: SCHEDULE_AT, amount: 7000 }] });
  expect(scheduled.body.code, JSON.stringify(scheduled.body)).toBe(0);
  await db.updateTable('payment_schedules').set({ merchant_uid: OLD_SCHEDULE, customer_uid: OLD_CUSTOMER }).where('merchant_id', '=', merchantId).where('merchant_uid', '=', 'tmp_schedule').execute();

  const prepared = await call('POST', '/payments/prepare', { merchant_uid: 'tmp_prepare', amount: 4000 });
  expect(prepared.body.code).toBe(0);
  await db.updateTable('payment_prepares').set({ merchant_uid: OLD_ORDER }).where('merchant_id', '=', merchantId).where('merchant_uid', '=', 'tmp_prepare').execute();
});
afterAll(() => pier.close());

describe('ids stored before the limits of decisions 0054 and 0062 (decision 0068)', () => {
  it('finds a payment by its old merchant_uid on every lookup path', async () => {
    const found = await call('GET', `/payments/find/${path(OLD_ORDER)}`);
    expect(found.status, JSON.stringify(found.body)).toBe(200);
    expect(found.body.response).toMatchObject({ imp_uid: oldImpUid, merchant_uid: OLD_ORDER, customer_uid: OLD_CUSTOMER, status: 'paid', amount: 5000 });
    expect((await call('GET', `/payments/find/${path(OLD_ORDER)}/paid`)).body.response).toMatchObject({ imp_uid: oldImpUid });
    const all = await call('GET', `/payments/findAll/${path(OLD_ORDER)}`);
    expect(all.body.response.list.map((p: { imp_uid: string }) => p.imp_uid)).toEqual([oldImpUid]);
    const listed = await call('GET', `/payments?merchant_uid[]=${path(OLD_ORDER)}&merchant_uid[]=${path(OLD_ORDER_CONTROLS)}`);
    expect(listed.body.response.map((p: { imp_uid: string }) => p.imp_uid).sort()).toEqual([oldImpUid, controlsImpUid].sort());
    const withControls = await call('GET', '/payments/find/old%09order%C2%85');
    expect(withControls.body.response).toMatchObject({ imp_uid: controlsImpUid, merchant_uid: OLD_ORDER_CONTROLS });
    const prepared = await call('GET', `/payments/prepare/${path(OLD_ORDER)}`);
    expect(prepared.body.response).toMatchObject({ merchant_uid: OLD_ORDER, amount: 4000 });
  });

  it('finds and charges a billing key by its old customer_uid, and lists its payments and schedules', async () => {
    const key = await call('GET', `/subscribe/customers/${path(OLD_CUSTOMER)}`);
    expect(key.body.response).toMatchObject({ customer_uid: OLD_CUSTOMER });
    const keys = await call('GET', `/subscribe/customers?customer_uid[]=${path(OLD_CUSTOMER)}&customer_uid[]=${path(OLD_WINDOW_CUSTOMER)}`);
    expect(keys.body.response.map((k: { customer_uid: string }) => k.customer_uid).sort()).toEqual([OLD_CUSTOMER, OLD_WINDOW_CUSTOMER].sort());
    const windowKey = await call('GET', `/subscribe/customers/${path(OLD_WINDOW_CUSTOMER)}`);
    expect(windowKey.body.response).toMatchObject({ customer_uid: OLD_WINDOW_CUSTOMER });

    const again = await call('POST', '/subscribe/payments/again', { customer_uid: OLD_CUSTOMER, merchant_uid: 'stored_again', amount: 2000 });
    expect(again.body.response, JSON.stringify(again.body)).toMatchObject({ merchant_uid: 'stored_again', customer_uid: OLD_CUSTOMER, status: 'paid', amount: 2000 });
    const payments = await call('GET', `/subscribe/customers/${path(OLD_CUSTOMER)}/payments`);
    expect(payments.body.response.list.map((p: { imp_uid: string }) => p.imp_uid).sort()).toEqual([oldImpUid, again.body.response.imp_uid].sort());

    const range = `from=${SCHEDULE_AT - 60}&to=${SCHEDULE_AT + 60}`;
    for (const url of [`/subscribe/customers/${path(OLD_CUSTOMER)}/schedules?${range}`, `/subscribe/payments/schedule/customers/${path(OLD_CUSTOMER)}?${range}`]) {
      const res = await call('GET', url);
      expect(res.body.response.list.map((s: { merchant_uid: string }) => s.merchant_uid), url).toEqual([OLD_SCHEDULE]);
    }
    const schedule = await call('GET', `/subscribe/payments/schedule/${path(OLD_SCHEDULE)}`);
    expect(schedule.body.response).toMatchObject({ merchant_uid: OLD_SCHEDULE, customer_uid: OLD_CUSTOMER, schedule_status: 'scheduled', amount: 7000 });
  });

  it('cancels payments, unschedules a schedule and deletes a key by their old ids', async () => {
    const refund = await call('POST', '/payments/cancel', { merchant_uid: OLD_ORDER, amount: 1000, reason: 'old order' });
    expect(refund.body.response, JSON.stringify(refund.body)).toMatchObject({ imp_uid: oldImpUid, merchant_uid: OLD_ORDER, cancel_amount: 1000, status: 'paid' });
    const full = await call('POST', '/payments/cancel', { merchant_uid: OLD_ORDER_CONTROLS });
    expect(full.body.response, JSON.stringify(full.body)).toMatchObject({ imp_uid: controlsImpUid, status: 'cancelled', cancel_amount: 3000 });

    const revoked = await call('POST', '/subscribe/payments/unschedule', { customer_uid: OLD_CUSTOMER, merchant_uid: [OLD_SCHEDULE] });
    expect(revoked.body.code, JSON.stringify(revoked.body)).toBe(0);
    expect(revoked.body.response.map((s: { merchant_uid: string; schedule_status: string }) => [s.merchant_uid, s.schedule_status])).toEqual([[OLD_SCHEDULE, 'revoked']]);

    const deleted = await call('DELETE', `/subscribe/customers/${path(OLD_WINDOW_CUSTOMER)}`);
    expect(deleted.body.response, JSON.stringify(deleted.body)).toMatchObject({ customer_uid: OLD_WINDOW_CUSTOMER });
    const gone = await call('GET', `/subscribe/customers/${path(OLD_WINDOW_CUSTOMER)}`);
    expect(gone.body.code).toBe(1);
  });

  it('still refuses the same ids where they would name a new record, with V1 envelope, and writes nothing', async () => {
    const before = await counts();
    const cases: Array<[string, string, Record<string, unknown>, string, string]> = [
      ['POST', '/subscribe/payments/onetime', { merchant_uid: OLD_ORDER, amount: 1000, ...card }, 'merchant_uid', 'merchant_uid must be at most 40 bytes in UTF-8'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: OLD_ORDER_CONTROLS, amount: 1000, ...card }, 'merchant_uid', 'merchant_uid has the wrong format'],
      ['POST', '/subscribe/payments/onetime', { merchant_uid: 'stored_new', amount: 1000, ...card, customer_uid: OLD_CUSTOMER }, 'customer_uid', 'customer_uid must be at most 80 bytes in UTF-8'],
      ['POST', '/subscribe/payments/again', { customer_uid: OLD_CUSTOMER, merchant_uid: OLD_ORDER, amount: 1000 }, 'merchant_uid', 'merchant_uid must be at most 40 bytes in UTF-8'],
      ['POST', '/payments/prepare', { merchant_uid: OLD_ORDER, amount: 1000 }, 'merchant_uid', 'merchant_uid must be at most 40 bytes in UTF-8'],
      // the window never pays it, so its prepared amount is not changed either (decision 0074)
      ['PUT', '/payments/prepare', { merchant_uid: OLD_ORDER, amount: 1000 }, 'merchant_uid', 'merchant_uid must be at most 40 bytes in UTF-8'],
      ['POST', `/subscribe/customers/${path(OLD_CUSTOMER)}`, { ...card }, 'customer_uid', 'customer_uid must be at most 80 bytes in UTF-8'],
      ['POST', `/subscribe/customers/${path(OLD_WINDOW_CUSTOMER)}`, { ...card }, 'customer_uid', 'customer_uid has the wrong format'],
      ['POST', '/subscribe/payments/schedule', { customer_uid: OLD_CUSTOMER, schedules: [{ merchant_uid: OLD_SCHEDULE + '_2', schedule_at: SCHEDULE_AT, amount: 1000 }] }, 'schedules.0.merchant_uid', 'schedules.0.merchant_uid must be at most 40 bytes in UTF-8'],
      // card fields issue a key under that name: a new one
      ['POST', '/subscribe/payments/schedule', { customer_uid: OLD_CUSTOMER, ...card, schedules: [{ merchant_uid: 'stored_sched', schedule_at: SCHEDULE_AT, amount: 1000 }] }, 'customer_uid', 'customer_uid must be at most 80 bytes in UTF-8'],
      ['POST', '/subscribe/payments/schedule', { customer_uid: OLD_WINDOW_CUSTOMER, ...card, schedules: [{ merchant_uid: 'stored_sched', schedule_at: SCHEDULE_AT, amount: 1000 }] }, 'customer_uid', 'customer_uid has the wrong format'],
      ['POST', '/vbanks', { merchant_uid: OLD_ORDER, amount: 1000, vbank_code: '088', vbank_due: 1900000000 }, 'merchant_uid', 'merchant_uid must be at most 40 bytes in UTF-8'],
    ];
    for (const [method, url, body, field, detail] of cases) {
      const res = await call(method, url, body);
      expect(res.status, `${method} ${url} ${JSON.stringify(body)}`).toBe(400);
      expect(res.body).toEqual({ code: 1, message: `파라미터 형식이 올바르지 않습니다: ${field}`, response: null });
      expect(res.detail, `${method} ${url} ${JSON.stringify(body)}`).toBe(detail);
    }
    expect(await counts()).toEqual(before);
  });

  it('refuses in lookups what no Pier ever stored: over 40 or 80 characters, empty, an unpaired surrogate', async () => {
    const cases: Array<[string, string, Record<string, unknown> | undefined, string]> = [
      ['GET', `/payments/find/${path('가'.repeat(41))}`, undefined, 'merchant_uid must NOT have more than 40 characters'],
      ['GET', `/payments?merchant_uid[]=${path('a'.repeat(41))}`, undefined, 'merchant_uid.0 must NOT have more than 40 characters'],
      ['GET', `/subscribe/customers/${path('고'.repeat(81))}`, undefined, 'customer_uid must NOT have more than 80 characters'],
      ['POST', '/payments/cancel', { merchant_uid: 'a'.repeat(41) }, 'merchant_uid must NOT have more than 40 characters'],
      // an empty entry beside ids is ignored since decision 0081; a list of none is refused
      ['POST', '/subscribe/payments/unschedule', { merchant_uid: [''] }, 'merchant_uid lists no id; omit it to revoke every schedule of the customer'],
      ['POST', '/subscribe/payments/again', { customer_uid: '고'.repeat(81), merchant_uid: 'stored_again_2', amount: 1000 }, 'customer_uid must NOT have more than 80 characters'],
      ['POST', '/subscribe/payments/unschedule', { customer_uid: `${OLD_CUSTOMER}\ud800` }, 'must not contain an unpaired UTF-16 surrogate'],
    ];
    for (const [method, url, body, detail] of cases) {
      const res = await call(method, url, body);
      expect(res.status, `${method} ${url}`).toBe(400);
      expect(res.body.code).toBe(1);
      expect(res.body.message, `${method} ${url}`).toMatch(/^파라미터 형식이 올바르지 않습니다: (merchant_uid|customer_uid)(\.\d+)?$/);
      expect(res.detail, `${method} ${url}`).toBe(detail);
    }
    // 40 Hangul (120 bytes) is within what REST took before decision 0062: a lookup answers 404, not 400
    const absent = await call('GET', `/payments/find/${path('가'.repeat(40))}`);
    expect(absent.status).toBe(404);
    expect(absent.body).toEqual({ code: -1, message: '존재하지 않는 결제정보입니다.', response: null });
  });
});
