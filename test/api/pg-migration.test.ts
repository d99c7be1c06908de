/**
 * Moving a merchant from JTNET to NICE (issue #13 item 5): the merchant adds a NICE API channel and makes it
 * the default. New billing keys and new payments go to NICE; the billing keys JTNET issued keep charging (and
 * refunding) through JTNET, the channel that issued them. Both PGs' own ledgers are checked, not only Pier's
 * answers.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { addChannel } from '../../src/core/merchants/channels.js';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';
import { PG_FACTS } from '../pgs.js';

const JTNET = PG_FACTS.jtnet;
const NICE = PG_FACTS.nice_v2;
const card = { card_number: testCardNumber({ kftcCode: '366', lastFour: '4321' }), expiry: '2030-12', birth: '820213', pwd_2digit: '00' };

let pier: TestPier;
let m: Awaited<ReturnType<TestPier['newMerchant']>>;
const niceChannel = { clientId: `S2_${randomBytes(16).toString('hex')}`, secretKey: randomBytes(16).toString('hex') };
/** the merchant as the PG table sees it once it has the NICE channel */
const migrated = () => ({ ...m, nice: niceChannel });

const again = (customer_uid: string, merchant_uid: string, amount: number) =>
  pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid, merchant_uid, amount, name: 'subscription' } });

/** the NICE simulator's payments for this merchant's clientId with this order id (= imp_uid) */
async function niceLedgerPayments(orderId: string) {
  const res = await fetch(`${pier.niceSimulatorUrl}/__ledger?clientId=${niceChannel.clientId}&orderId=${orderId}`);
  return ((await res.json()) as { payments: unknown[] }).payments;
}

/** the tPay simulator's approvals for this order id (= imp_uid), any MID */
async function tpayLedgerApprovals(moid: string) {
  const res = await fetch(`${pier.simulatorUrl}/__ledger`);
  return ((await res.json()) as { approvals: Array<{ moid: string }> }).approvals.filter((a) => a.moid === moid);
}

let oldKeyBefore: { imp_uid: string };

beforeAll(async () => {
  pier = await startTestPier({ pg: 'nice_v2' });
  // a merchant from before the move: JTNET channels only
  m = await pier.newMerchant({ pg: 'jtnet' });
  const issued = await pier.call('POST', '/subscribe/customers/old_key', { token: m.token, body: card });
  expect(issued.body.response).toMatchObject({ pg_provider: 'jtnet', pg_id: JTNET.pgId(m) });
  const charged = await again('old_key', 'before_move', 1000);
  expect(charged.body.response).toMatchObject({ status: 'paid', pg_provider: 'jtnet' });
  oldKeyBefore = charged.body.response;
  // the move: a NICE API channel, made the default
  await addChannel(pier.deps, m.merchantId, { provider: 'nice_v2', mid: niceChannel.clientId, merchantKey: niceChannel.secretKey, cancelPassword: '', kind: 'api', sandbox: true, isDefault: true, name: 'NICE' });
});
afterAll(() => pier.close());

describe('a merchant whose default API channel moves from JTNET to NICE', () => {
  it('issues new billing keys at NICE', async () => {
    const res = await pier.call('POST', '/subscribe/customers/new_key', { token: m.token, body: card });
    expect(res.body.code).toBe(0);
    expect(res.body.response).toMatchObject({ customer_uid: 'new_key', pg_provider: 'nice_v2', pg_id: niceChannel.clientId, card_code: '366' });
    const ledger = (await (await fetch(`${pier.niceSimulatorUrl}/__ledger?clientId=${niceChannel.clientId}`)).json()) as { billingKeys: Array<{ status?: string }> };
    expect(ledger.billingKeys).toHaveLength(1);
  });

  it('charges a new key through NICE: `again` without pg', async () => {
    const res = await again('new_key', 'after_move_new', 2000);
    expect(res.body.code).toBe(0);
    const p = res.body.response;
    expect(p).toMatchObject({ status: 'paid', amount: 2000, pg_provider: 'nice_v2', pg_id: niceChannel.clientId, customer_uid: 'new_key' });
    expect(p.pg_tid).toMatch(NICE.pgTid(migrated()));
    expect(await NICE.ledger(pier, migrated(), p.imp_uid)).toMatchObject({ tid: p.pg_tid, amount: 2000, status: 'paid' });
    expect(await tpayLedgerApprovals(p.imp_uid)).toEqual([]);
  });

  it('keeps charging the old JTNET key through JTNET, the channel that issued it', async () => {
    const res = await again('old_key', 'after_move_old', 3000);
    expect(res.body.code).toBe(0);
    const p = res.body.response;
    expect(p).toMatchObject({ status: 'paid', amount: 3000, pg_provider: 'jtnet', pg_id: JTNET.pgId(m), customer_uid: 'old_key' });
    expect(p.pg_tid).toMatch(JTNET.pgTid(m));
    expect(await JTNET.ledger(pier, m, p.imp_uid)).toMatchObject({ tid: p.pg_tid, amount: 3000, status: 'paid' });
    expect(await niceLedgerPayments(p.imp_uid)).toEqual([]);
    const key = await pier.call('GET', '/subscribe/customers/old_key', { token: m.token });
    expect(key.body.response).toMatchObject({ pg_provider: 'jtnet', pg_id: JTNET.pgId(m) });
  });

  it('refunds each payment through the PG that took it', async () => {
    const oldCancel = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: oldKeyBefore.imp_uid, amount: 400, reason: 'move' } });
    expect(oldCancel.body.response).toMatchObject({ pg_provider: 'jtnet', status: 'paid', cancel_amount: 400 });
    expect((await JTNET.ledger(pier, m, oldKeyBefore.imp_uid)).cancelledAmount).toBe(400);
    const newPayment = (await pier.call('GET', '/payments/find/after_move_new', { token: m.token })).body.response;
    const newCancel = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: newPayment.imp_uid, reason: 'move' } });
    expect(newCancel.body.response).toMatchObject({ pg_provider: 'nice_v2', status: 'cancelled', cancel_amount: 2000 });
    expect(await NICE.ledger(pier, migrated(), newPayment.imp_uid)).toMatchObject({ status: 'cancelled', cancelledAmount: 2000 });
  });

  it('sends key-in payments without pg to NICE, and with pg jtnet.{MID} still to JTNET', async () => {
    const keyIn = (merchant_uid: string, extra: Record<string, unknown> = {}) =>
      pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid, amount: 1500, ...card, ...extra } });
    const toNice = await keyIn('once_default');
    expect(toNice.body.response).toMatchObject({ status: 'paid', pg_provider: 'nice_v2', pg_id: niceChannel.clientId });
    expect(await NICE.ledger(pier, migrated(), toNice.body.response.imp_uid)).toMatchObject({ amount: 1500, status: 'paid' });
    const toJtnet = await keyIn('once_jtnet', { pg: JTNET.pgSelector(m) });
    expect(toJtnet.body.response).toMatchObject({ status: 'paid', pg_provider: 'jtnet', pg_id: JTNET.pgId(m) });
    expect(await JTNET.ledger(pier, m, toJtnet.body.response.imp_uid)).toMatchObject({ amount: 1500, status: 'paid' });
  });
});
