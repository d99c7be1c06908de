/**
 * Which channel an API charge goes through, and the V1 answers when there is none. The channel is
 * found in the same statement that records the attempt (docs/decisions/0017-payment-round-trips.md),
 * so every refusal here must also leave nothing recorded and the merchant_uid free.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { attemptRow } from '../../src/core/payments/attempts.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
const dashed = (n: string) => `${n.slice(0, 4)}-${n.slice(4, 8)}-${n.slice(8, 12)}-${n.slice(12)}`;
const card = { card_number: dashed(testCardNumber({ kftcCode: '381', lastFour: '5678' })), expiry: '2030-01', birth: '123456' };
const onetime = (merchant: TestMerchant, merchant_uid: string, extra: Record<string, unknown> = {}) =>
  pier.call('POST', '/subscribe/payments/onetime', { token: merchant.token, body: { merchant_uid, amount: 1000, ...card, ...extra } });
const attempts = (merchant: TestMerchant, merchantUid: string) =>
  pier.store.db.selectFrom('payments').select(['status', 'pg_id']).where('merchant_id', '=', merchant.merchantId).where('merchant_uid', '=', merchantUid).execute();

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

describe('onetime: the channel `pg` names', () => {
  it('charges through the default API channel without pg, the named MID with provider.MID, and the default of a provider', async () => {
    for (const [uid, pg, mid] of [['ch_none', undefined, 'tpaytest1m'], ['ch_mid', 'jtnet.tpaytest2m', 'tpaytest2m'], ['ch_provider', 'jtnet', 'tpaytest1m']] as const) {
      const res = await onetime(m, uid, pg ? { pg } : {});
      expect(res.body.response, uid).toMatchObject({ status: 'paid', merchant_uid: uid, pg_provider: 'jtnet', pg_id: mid });
      expect(await attempts(m, uid)).toEqual([{ status: 'paid', pg_id: mid }]);
    }
  });

  it('refuses a pg that names no API channel with the configured ones, recording nothing', async () => {
    const res = await onetime(m, 'ch_unknown_mid', { pg: 'jtnet.tpaytest0m' });
    expect(res.status).toBe(400);
    expect(res.body).toEqual({
      code: 1,
      message: 'pg: "jtnet.tpaytest0m"에 해당하는 비인증결제(API) PG 설정이 없습니다. (configured: jtnet.tpaytest1m, jtnet.tpaytest2m)',
      response: null,
    });
    expect(await attempts(m, 'ch_unknown_mid')).toEqual([]);
  });

  it('refuses a merchant with no API channel, recording nothing', async () => {
    const bare = await pier.newMerchant();
    await pier.store.db.deleteFrom('pg_channels').where('merchant_id', '=', bare.merchantId).where('kind', '=', 'api').execute();
    const res = await onetime(bare, 'ch_no_channel');
    expect(res.body).toEqual({ code: 1, message: '비인증결제(API) PG 설정 정보를 찾을 수 없습니다.', response: null });
    expect(await attempts(bare, 'ch_no_channel')).toEqual([]);
  });

  it('refuses (never replaces) a default channel whose PG this Pier does not have, recording nothing; a named channel still works', async () => {
    const merchant = await pier.newMerchant();
    await pier.store.db.updateTable('pg_channels').set({ is_default: 0 }).where('merchant_id', '=', merchant.merchantId).execute();
    const real = await pier.store.db.selectFrom('pg_channels').selectAll().where('merchant_id', '=', merchant.merchantId).where('mid', '=', 'tpaytest1m').executeTakeFirstOrThrow();
    await pier.store.db.insertInto('pg_channels').values({ ...real, id: 'ch_gone_pg', provider: 'gonepg', mid: 'gone1', name: 'gonepg.gone1', is_default: 1, created_at: 0 }).execute();

    const res = await onetime(merchant, 'ch_gone_pg');
    expect(res.status).toBe(501);
    expect(res.body).toEqual({ code: 1, message: 'PG "gonepg" is not available in this Pier', response: null });
    expect(await attempts(merchant, 'ch_gone_pg')).toEqual([]);

    const named = await onetime(merchant, 'ch_gone_pg', { pg: 'jtnet.tpaytest1m' });
    expect(named.body.response).toMatchObject({ status: 'paid', pg_id: 'tpaytest1m' });
  });
});

describe('again: the channel that issued the billing key', () => {
  it('refuses a key whose channel was removed with V1 code 1 naming it, recording nothing', async () => {
    const merchant = await pier.newMerchant();
    const key = await pier.call('POST', '/subscribe/customers/ch_cust', { token: merchant.token, body: { ...card, pg: 'jtnet.tpaytest2m' } });
    expect(key.body.code).toBe(0);
    await pier.store.db.deleteFrom('pg_channels').where('merchant_id', '=', merchant.merchantId).where('mid', '=', 'tpaytest2m').execute();
    const res = await pier.call('POST', '/subscribe/payments/again', { token: merchant.token, body: { customer_uid: 'ch_cust', merchant_uid: 'ch_removed', amount: 1000 } });
    expect(res.body).toEqual({ code: 1, message: '빌링키를 발급한 PG 설정(jtnet.tpaytest2m)이 삭제되었습니다.', response: null });
    expect(await attempts(merchant, 'ch_removed')).toEqual([]);
  });
});

describe('the merchant_uid lock, found taken by the statement that records the attempt', () => {
  it('is released by a virtual account past its deposit deadline, and the charge goes on', async () => {
    const now = Math.floor(pier.clock.now() / 1000);
    const channel = await pier.store.db.selectFrom('pg_channels').selectAll().where('merchant_id', '=', m.merchantId).where('mid', '=', 'tpaytest0m').executeTakeFirstOrThrow();
    const base = { merchantId: m.merchantId, merchantUid: 'ch_overdue', channel: { row: channel }, via: 'pc', amount: 1000, taxFree: 0, vatAmount: null, name: null, customData: null, noticeUrl: null, userAgent: null, cardQuota: 0, customerUid: null, customerUidUsage: null };
    const buyer = { name: null, email: null, tel: null, addr: null, postcode: null };
    const vbank = attemptRow({ ...base, impUid: 'imp_100000000001', payMethod: 'vbank', pgState: 'window', buyer }, now - 7200);
    await pier.store.db.insertInto('payments').values({ ...vbank, pg_state: 'done', vbank_date: now - 60 }).execute();

    const res = await onetime(m, 'ch_overdue');
    expect(res.body.response).toMatchObject({ status: 'paid', merchant_uid: 'ch_overdue', pay_method: 'card' });
    const rows = await pier.store.db.selectFrom('payments').select(['imp_uid', 'status', 'merchant_uid_lock']).where('merchant_uid', '=', 'ch_overdue').orderBy('started_at').execute();
    expect(rows).toEqual([
      { imp_uid: 'imp_100000000001', status: 'ready', merchant_uid_lock: null },
      { imp_uid: res.body.response.imp_uid, status: 'paid', merchant_uid_lock: 'ch_overdue' },
    ]);
  });

  it('answers a paid merchant_uid with V1 refused, recording nothing new', async () => {
    expect((await onetime(m, 'ch_twice')).body.response).toMatchObject({ status: 'paid' });
    const again = await onetime(m, 'ch_twice');
    expect(again.body).toEqual({ code: 1, message: '이미 결제가 이루어진 거래건입니다.', response: null });
    expect(await attempts(m, 'ch_twice')).toEqual([{ status: 'paid', pg_id: 'tpaytest1m' }]);
  });
});
