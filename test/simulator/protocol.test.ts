import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { FastifyInstance } from 'fastify';
import { ManualClock } from '../../src/lib/clock.js';
import { createTpaySimulator, TPAY_TEST_ACCOUNTS } from '../../src/simulators/jtnet/app.js';
import { receiptSignature } from '../../src/simulators/jtnet/receipts.js';
import { testCardNumber } from '../../src/simulators/jtnet/test-cards.js';

const KEYIN = TPAY_TEST_ACCOUNTS[1]!; // tpaytest1m
const BILLING = TPAY_TEST_ACCOUNTS[2]!; // tpaytest2m
const auth = (a = KEYIN) => ({ mid: a.mid, api_key: a.merchantKey });

const SHINHAN = testCardNumber({ kftcCode: '366', lastFour: '4242' });
const card = (lastFour: string, kftcCode = '366') => testCardNumber({ kftcCode, lastFour });

let app: FastifyInstance;
let clock: ManualClock;
let moidSeq = 0;
const moid = () => `imp_${String(++moidSeq).padStart(12, '0')}`;

async function call(op: string, fields: Record<string, string>) {
  const res = await app.inject({
    method: 'POST',
    url: `/api/v1/${op}`,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams(fields).toString(),
  });
  expect(res.statusCode).toBe(200);
  return res.json() as Record<string, any>;
}

async function ledger(mid?: string) {
  const res = await app.inject({ method: 'GET', url: mid ? `/__ledger?mid=${mid}` : '/__ledger' });
  expect(res.statusCode).toBe(200);
  return res.json() as { merchants: string[]; approvals: any[]; declines: any[]; billingKeys: any[] };
}

async function issueKey(pan = SHINHAN, account = BILLING) {
  const r = await call('gen_billkey', { ...auth(account), card_num: pan, card_exp: '3012', card_pwd: '12', buyer_auth_num: '900101' });
  expect(r.result_cd).toBe('0000');
  return r.card_token as string;
}

async function keyIn(fields: Record<string, string> = {}) {
  return call('payments', {
    ...auth(),
    card_num: SHINHAN,
    card_exp: '3012',
    card_pwd: '12',
    buyer_auth_num: '900101',
    amt: '1000',
    moid: moid(),
    goods_nm: '테스트 상품',
    card_quota: '00',
    ...fields,
  });
}

beforeEach(() => {
  clock = new ManualClock(Date.UTC(2026, 0, 15, 3, 0, 0)); // 2026-01-15 12:00:00 KST
  app = createTpaySimulator({ clock, slowResponseMs: 20 });
});
afterEach(async () => {
  await app.close();
});

describe('authentication', () => {
  it('refuses an unknown mid with 2152 미등록가맹점', async () => {
    expect(await call('payments', { mid: 'nosuchmid', api_key: 'x', amt: '1000' })).toEqual({ result_cd: '2152', result_msg: '미등록가맹점' });
  });
  it('refuses a wrong api_key with A101', async () => {
    const r = await call('gen_billkey', { mid: 'tpaytest1m', api_key: BILLING.merchantKey, card_num: SHINHAN, card_exp: '3012' });
    expect(r).toEqual({ result_cd: 'A101', result_msg: '상점키(api_key) 검증에 실패하였습니다' });
  });
  it('refuses a request without api_key with A117', async () => {
    expect((await call('trans_search', { mid: 'tpaytest1m', moid: 'x' })).result_cd).toBe('A117');
  });
  it('reads fields from form-encoded bodies only', async () => {
    const res = await app.inject({ method: 'POST', url: '/api/v1/payments', payload: { ...auth(), amt: '1000' } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ result_cd: 'A117', result_msg: '필수입력항목이 누락되었습니다 (mid)' });
  });
});

describe('gen_billkey', () => {
  it('issues an opaque card_token with the masked number and tPay card company', async () => {
    const r = await call('gen_billkey', { ...auth(BILLING), card_num: SHINHAN, card_exp: '3012', card_pwd: '12', buyer_auth_num: '900101' });
    expect(r).toEqual({
      result_cd: '0000',
      result_msg: '빌키 발급 성공',
      card_token: expect.stringMatching(/^[A-Za-z0-9_-]{32}$/),
      card_num: '936600******4242',
      card_code: '06',
      card_name: '신한',
      card_type: '0',
    });
    expect(r.card_token).not.toContain('4242');
    const l = await ledger('tpaytest2m');
    expect(l.billingKeys).toHaveLength(1);
    expect(l.billingKeys[0]).toMatchObject({ cardToken: r.card_token, cardNumMasked: '936600******4242', tpayCardCode: '06', cardExp: '3012', chargeRule: { kind: 'approve' }, deletedAt: null });
  });

  it('reports a check card as card_type 1 and maps the issuer from the PAN', async () => {
    const r = await call('gen_billkey', { ...auth(BILLING), card_num: testCardNumber({ kftcCode: '041', check: true, lastFour: '1111' }), card_exp: '3012' });
    expect(r).toMatchObject({ result_cd: '0000', card_code: '15', card_name: '우리', card_type: '1' });
  });

  it('declines a 00NN card with the issuer reason and keeps no key', async () => {
    const r = await call('gen_billkey', { ...auth(BILLING), card_num: card('0026'), card_exp: '3012' });
    expect(r).toEqual({ result_cd: '3095', result_msg: '카드사 실패 응답', error_cd: '26', error_msg: '도난, 분실카드' });
    expect((await ledger()).billingKeys).toHaveLength(0);
  });

  it('issues keys for Visa and Mastercard numbers by default (BC as issuer), and refuses a number ending in 3051 as overseas', async () => {
    const visa = await call('gen_billkey', { ...auth(BILLING), card_num: '4092023012345677', card_exp: '3012' });
    expect(visa).toMatchObject({ result_cd: '0000', card_code: '01', card_num: '409202******5677' });
    const master = await call('gen_billkey', { ...auth(BILLING), card_num: testCardNumber({ prefix: '540000', lastFour: '4242' }), card_exp: '3012' });
    expect(master).toMatchObject({ result_cd: '0000' });
    const r = await call('gen_billkey', { ...auth(BILLING), card_num: testCardNumber({ prefix: '411111', lastFour: '3051' }), card_exp: '3012' });
    expect(r).toEqual({ result_cd: '3051', result_msg: '해외카드 거래불가' });
  });

  it('applies natural validation first: Luhn, expiry, birth, password', async () => {
    const base = { ...auth(BILLING), card_exp: '3012' };
    const badLuhn = SHINHAN.slice(0, 15) + String((Number(SHINHAN[15]) + 1) % 10);
    expect(await call('gen_billkey', { ...base, card_num: badLuhn })).toMatchObject({ result_cd: '3011', error_cd: '14' });
    expect(await call('gen_billkey', { ...base, card_num: SHINHAN, card_exp: '2512' })).toMatchObject({ result_cd: '3021', error_cd: '04' });
    expect(await call('gen_billkey', { ...base, card_num: SHINHAN, buyer_auth_num: '999999' })).toMatchObject({ error_cd: '51' });
    expect(await call('gen_billkey', { ...base, card_num: SHINHAN, card_pwd: '99' })).toMatchObject({ error_cd: '19' });
    expect(await call('gen_billkey', { ...base, card_num: SHINHAN, card_pwd: '1' })).toMatchObject({ result_cd: 'A212' });
  });
});

describe('payments_token', () => {
  it('approves with a tPay-shaped tid, an 8-digit approval number and the card facts', async () => {
    const token = await issueKey();
    const m = moid();
    const r = await call('payments_token', { ...auth(BILLING), card_token: token, goods_nm: '정기결제', amt: '14000', moid: m, batch_div: '1' });
    expect(r).toEqual({
      result_cd: '0000',
      result_msg: '승인 성공',
      tid: expect.stringMatching(/^tpaytest2m260115120000\d{4}$/),
      moid: m,
      paid_amt: '14000',
      app_no: expect.stringMatching(/^\d{8}$/),
      app_dt: '20260115120000',
      app_co: '06',
      app_co_name: '신한',
      card_num: '936600******4242',
      card_quota: '00',
      card_type: '0',
      pay_method: 'CARD',
      receipt_url: expect.any(String),
    });
    // the slip's address is where the caller reached the simulator (inject: localhost:80), signed for this tid
    expect(r.receipt_url).toBe(`http://localhost:80/receipt/${r.tid}?sig=${receiptSignature(TPAY_TEST_ACCOUNTS[2]!.merchantKey, r.tid)}`);
    const l = await ledger('tpaytest2m');
    expect(l.approvals).toHaveLength(1);
    expect(l.approvals[0]).toMatchObject({ tid: r.tid, moid: m, amount: 14000, status: 'paid', appNo: r.app_no, method: 'billkey', cancels: [] });
  });

  it('declines every charge of a 10NN key with NN', async () => {
    const token = await issueKey(card('1054'));
    for (const amt of ['1000', '50000']) {
      const r = await call('payments_token', { ...auth(BILLING), card_token: token, goods_nm: 'x', amt, moid: moid() });
      expect(r).toMatchObject({ result_cd: '3095', result_msg: '카드사 실패 응답', error_cd: '54', error_msg: '잔액부족', tid: expect.stringMatching(/^tpaytest2m/) });
    }
    const l = await ledger('tpaytest2m');
    expect(l.approvals).toHaveLength(0);
    expect(l.declines.map((d) => d.errorCd)).toEqual(['54', '54']);
  });

  it('declines by amount trigger …9NN and approves …000', async () => {
    const token = await issueKey();
    expect(await call('payments_token', { ...auth(BILLING), card_token: token, goods_nm: 'x', amt: '10954', moid: moid() })).toMatchObject({ error_cd: '54' });
    expect(await call('payments_token', { ...auth(BILLING), card_token: token, goods_nm: 'x', amt: '10999', moid: moid() })).toMatchObject({ result_cd: '9999' });
    expect(await call('payments_token', { ...auth(BILLING), card_token: token, goods_nm: 'x', amt: '11000', moid: moid() })).toMatchObject({ result_cd: '0000' });
  });

  it('refuses an unknown token, another merchant\'s token and a deleted token with A126', async () => {
    const token = await issueKey();
    const charge = (a = BILLING) => call('payments_token', { ...auth(a), card_token: token, goods_nm: 'x', amt: '1000', moid: moid() });
    expect((await call('payments_token', { ...auth(BILLING), card_token: 'nope', goods_nm: 'x', amt: '1000', moid: moid() })).result_cd).toBe('A126');
    expect((await charge(KEYIN)).result_cd).toBe('A126');
    expect(await call('del_billkey', { ...auth(BILLING), card_token: token })).toEqual({ result_cd: '0000', result_msg: '빌키 삭제 성공' });
    expect((await charge()).result_cd).toBe('A126');
    expect((await call('del_billkey', { ...auth(BILLING), card_token: token })).result_cd).toBe('A126');
  });

  it('declines 04 once the stored expiry has passed', async () => {
    const token = await issueKey();
    clock.set(Date.UTC(2031, 0, 1, 0, 0, 0));
    expect(await call('payments_token', { ...auth(BILLING), card_token: token, goods_nm: 'x', amt: '1000', moid: moid() })).toMatchObject({
      result_cd: '3021',
      error_cd: '04',
      error_msg: '유효기간 만료(기간오류)',
    });
  });
});

describe('payments (key-in)', () => {
  it('answers in the payments_token shape', async () => {
    const r = await keyIn({ amt: '60000', card_quota: '03' });
    expect(r).toMatchObject({ result_cd: '0000', paid_amt: '60000', card_quota: '03', app_co: '06', card_num: '936600******4242' });
    expect(r.app_no).toMatch(/^\d{8}$/);
  });

  it('gives the same approval number for the same moid and a different one for another moid', async () => {
    const m = moid();
    const a = await keyIn({ moid: m });
    await call('refunds', { ...auth(), tid: a.tid, cancel_pw: '123456' });
    const again = await keyIn({ moid: m });
    expect(again.result_cd).toBe('A127'); // an approved moid cannot be reused, even once cancelled
    const b = await keyIn();
    expect(b.app_no).not.toBe(a.app_no);
  });

  it('refuses a second approval for the same moid but allows a retry after a decline', async () => {
    const m = moid();
    expect((await keyIn({ moid: m, card_num: card('0054') })).error_cd).toBe('54');
    expect((await keyIn({ moid: m })).result_cd).toBe('0000');
    expect(await keyIn({ moid: m })).toEqual({ result_cd: 'A127', result_msg: '주문번호 중복 오류', moid: m });
  });

  it('applies the installment and amount rules', async () => {
    expect(await keyIn({ amt: '10000', card_quota: '02' })).toMatchObject({ result_cd: '3024', error_cd: '06', error_msg: '할부금액오류 또는 5만원 미만 할부불가' });
    expect(await keyIn({ amt: '60000', card_quota: '01' })).toMatchObject({ result_cd: '3022' });
    expect(await keyIn({ amt: '99' })).toMatchObject({ result_cd: '3041', error_cd: '13', error_msg: '금액 오류' });
    expect(await keyIn({ amt: '-5' })).toMatchObject({ result_cd: 'A116' });
    expect(await keyIn({ amt: '50000', card_quota: '02' })).toMatchObject({ result_cd: '0000', card_quota: '02' });
  });

  it('records the approval of a 0098 card before holding the answer', async () => {
    const m = moid();
    const r = await keyIn({ card_num: card('0098'), moid: m });
    expect(r).toMatchObject({ result_cd: '0000', moid: m });
    expect((await ledger()).approvals.map((a) => a.moid)).toContain(m);
  });

  it('answers 0099 with a system error and records no approval', async () => {
    const r = await keyIn({ card_num: card('0099') });
    expect(r).toMatchObject({ result_cd: '9999', result_msg: '시스템 오류 (카드사 실패 응답)' });
    expect(r.error_cd).toBeUndefined();
    expect((await ledger()).approvals).toHaveLength(0);
  });
});

describe('refunds', () => {
  it('cancels partially then fully, with cancel tids and KST date and time', async () => {
    const paid = await keyIn({ amt: '10000' });
    clock.advance(60_000);
    const r1 = await call('refunds', { ...auth(), tid: paid.tid, cancel_pw: '123456', cancel_amt: '3000', cancel_msg: '부분 환불', partial_cancel: '1' });
    expect(r1).toEqual({
      result_cd: '2001',
      result_msg: '취소 성공',
      tid: expect.stringMatching(/^tpaytest1m260115120100\d{4}$/),
      org_tid: paid.tid,
      moid: paid.moid,
      CancelDate: '20260115',
      CancelTime: '120100',
      PayMethod: 'CARD',
      cancel_amt: '3000',
      remain_amt: '7000',
      partial_cancel: '1',
      receipt_url: `http://localhost:80/receipt/${r1.tid}?sig=${receiptSignature(TPAY_TEST_ACCOUNTS[1]!.merchantKey, r1.tid)}`,
    });
    expect(r1.tid).not.toBe(paid.tid);
    const r2 = await call('refunds', { ...auth(), tid: paid.tid, cancel_pw: '123456', cancel_amt: '7000', partial_cancel: '0' });
    expect(r2).toMatchObject({ result_cd: '2001', cancel_amt: '7000', remain_amt: '0' });
    expect(await call('refunds', { ...auth(), tid: paid.tid, cancel_pw: '123456', cancel_amt: '1' })).toEqual({ result_cd: '2013', result_msg: '취소 완료 거래' });
    const [tx] = (await ledger('tpaytest1m')).approvals;
    expect(tx).toMatchObject({ status: 'cancelled', amount: 10000, cancelledAmount: 10000 });
    expect(tx.cancels.map((c: any) => [c.amount, c.partial])).toEqual([
      [3000, true],
      [7000, false],
    ]);
  });

  it('refuses wrong, missing or other merchant\'s cancel passwords', async () => {
    const paid = await keyIn();
    expect(await call('refunds', { ...auth(), tid: paid.tid, cancel_pw: '000000', cancel_amt: '1000' })).toEqual({ result_cd: '2024', result_msg: '취소패스워드 불일치' });
    expect((await call('refunds', { ...auth(), tid: paid.tid, cancel_amt: '1000' })).result_cd).toBe('2025');
    expect((await ledger()).approvals[0].cancelledAmount).toBe(0);
  });

  it('accepts both published cancel passwords of tpaytest2m', async () => {
    const token = await issueKey();
    const paid = await call('payments_token', { ...auth(BILLING), card_token: token, goods_nm: 'x', amt: '2000', moid: moid() });
    expect((await call('refunds', { ...auth(BILLING), tid: paid.tid, cancel_pw: '1234', cancel_amt: '1000', partial_cancel: '1' })).result_cd).toBe('2001');
    expect((await call('refunds', { ...auth(BILLING), tid: paid.tid, cancel_pw: '123456', cancel_amt: '1000', partial_cancel: '1' })).result_cd).toBe('2001');
  });

  it('refuses over the balance, zero, a full cancel of the wrong amount, unknown and failed tids', async () => {
    const paid = await keyIn({ amt: '5000' });
    const refund = (f: Record<string, string>) => call('refunds', { ...auth(), tid: paid.tid, cancel_pw: '123456', ...f });
    expect(await refund({ cancel_amt: '6000', partial_cancel: '1' })).toEqual({ result_cd: '2032', result_msg: '취소금액이 취소가능금액보다 큼' });
    expect((await refund({ cancel_amt: '0', partial_cancel: '1' })).result_cd).toBe('2010');
    expect((await refund({ cancel_amt: '4000', partial_cancel: '0' })).result_cd).toBe('2011');
    expect((await refund({ moid: 'imp_other' })).result_cd).toBe('2012');
    expect((await call('refunds', { ...auth(), tid: 'tpaytest1m2601151200009999', cancel_pw: '123456' })).result_cd).toBe('2012');
    expect((await call('refunds', { ...auth(KEYIN), tid: paid.tid, cancel_pw: '123456' })).result_cd).toBe('2001'); // no cancel_amt: the whole balance
    const declined = await keyIn({ card_num: card('0054') });
    expect((await call('refunds', { ...auth(), tid: declined.tid, cancel_pw: '123456', cancel_amt: '1000' })).result_cd).toBe('2014');
  });

  it('does not let one merchant cancel another merchant\'s tid', async () => {
    const paid = await keyIn();
    expect((await call('refunds', { ...auth(BILLING), tid: paid.tid, cancel_pw: '123456', cancel_amt: '1000' })).result_cd).toBe('2012');
  });
});

describe('trans_search', () => {
  it('finds an attempt by moid (OUR DESIGN) or tid, with its cancels', async () => {
    const paid = await keyIn({ amt: '8000' });
    await call('refunds', { ...auth(), tid: paid.tid, cancel_pw: '123456', cancel_amt: '3000', partial_cancel: '1' });
    const byMoid = await call('trans_search', { ...auth(), moid: paid.moid, sch_sdate: '20260114', sch_edate: '20260116' });
    expect(byMoid.result_cd).toBe('0000');
    expect(byMoid.list_arr).toEqual([
      expect.objectContaining({
        tid: paid.tid,
        moid: paid.moid,
        state_cd: '2',
        amt: '8000',
        cancel_amt: '3000',
        remain_amt: '5000',
        app_no: paid.app_no,
        app_dt: '20260115120000',
        app_co: '06',
        card_num: '936600******4242',
        cancel_list: [expect.objectContaining({ cancel_amt: '3000', partial_cancel: '1' })],
      }),
    ]);
    const byTid = await call('trans_search', { ...auth(), tid: paid.tid });
    expect(byTid.list_arr.map((x: any) => x.tid)).toEqual([paid.tid]);
  });

  it('lists declined attempts with state 9', async () => {
    const d = await keyIn({ card_num: card('0051') });
    const r = await call('trans_search', { ...auth(), moid: d.moid });
    expect(r.list_arr).toEqual([expect.objectContaining({ tid: d.tid, state_cd: '9', error_cd: '51', app_no: '' })]);
  });

  it('answers A118 when nothing matches, including outside the date range', async () => {
    const paid = await keyIn();
    expect(await call('trans_search', { ...auth(), moid: 'imp_unknown' })).toEqual({ result_cd: 'A118', result_msg: '조회 결과데이터 없음', list_arr: [] });
    expect((await call('trans_search', { ...auth(), moid: paid.moid, sch_sdate: '20260116', sch_edate: '20260120' })).result_cd).toBe('A118');
    expect((await call('trans_search', { ...auth(BILLING), moid: paid.moid })).result_cd).toBe('A118');
    expect((await call('trans_search', { ...auth(), moid: paid.moid, sch_sdate: '2026-01-15' })).result_cd).toBe('A106');
    expect((await call('trans_search', { ...auth() })).result_cd).toBe('A117');
  });
});

describe('control endpoints and ledger', () => {
  it('registers an extra merchant that can then transact', async () => {
    const res = await app.inject({ method: 'POST', url: '/__control/merchants', payload: { mid: 'pier00001m', merchantKey: 'k+/=key', cancelPassword: '9999' } });
    expect(res.statusCode).toBe(201);
    const acct = { mid: 'pier00001m', merchantKey: 'k+/=key', cancelPassword: '9999' };
    const paid = await call('payments', { ...auth(acct), card_num: SHINHAN, card_exp: '3012', amt: '1000', moid: moid(), goods_nm: 'x' });
    expect(paid.tid).toMatch(/^pier00001m/);
    expect((await call('refunds', { ...auth(acct), tid: paid.tid, cancel_pw: '9999' })).result_cd).toBe('2001');
    const bad = await app.inject({ method: 'POST', url: '/__control/merchants', payload: { mid: 'x y', merchantKey: '' } });
    expect(bad.statusCode).toBe(400);
  });

  it('accepts extra accounts as an option', async () => {
    await app.close();
    app = createTpaySimulator({ clock, accounts: [{ mid: 'extra0001m', merchantKey: 'secret', cancelPassword: '1111' }] });
    expect((await call('trans_search', { mid: 'extra0001m', api_key: 'secret', moid: 'x' })).result_cd).toBe('A118');
  });

  it('filters the ledger by mid and never shows keys or passwords', async () => {
    await keyIn();
    await issueKey();
    const all = await ledger();
    expect(all.merchants).toEqual(['tpaytest0m', 'tpaytest1m', 'tpaytest2m']);
    expect(all.approvals.map((a) => a.mid)).toEqual(['tpaytest1m']);
    expect(all.billingKeys.map((k) => k.mid)).toEqual(['tpaytest2m']);
    const only1 = await ledger('tpaytest1m');
    expect(only1.billingKeys).toEqual([]);
    expect(only1.merchants).toEqual(['tpaytest1m']);
    const text = JSON.stringify(all);
    for (const a of TPAY_TEST_ACCOUNTS) expect(text).not.toContain(a.merchantKey);
    expect(text).not.toContain(SHINHAN);
  });

  it('injects a 500 without processing, and a broken body after processing', async () => {
    await app.inject({ method: 'POST', url: '/__control/faults', payload: { mode: 'http_500', op: 'payments' } });
    const res = await app.inject({
      method: 'POST',
      url: '/api/v1/payments',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...auth(), card_num: SHINHAN, card_exp: '3012', amt: '1000', moid: 'imp_f1', goods_nm: 'x' }).toString(),
    });
    expect(res.statusCode).toBe(500);
    expect((await ledger()).approvals).toHaveLength(0);

    await app.inject({ method: 'POST', url: '/__control/faults', payload: { mode: 'bad_json' } });
    const res2 = await app.inject({
      method: 'POST',
      url: '/api/v1/payments',
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams({ ...auth(), card_num: SHINHAN, card_exp: '3012', amt: '1000', moid: 'imp_f2', goods_nm: 'x' }).toString(),
    });
    expect(() => JSON.parse(res2.body)).toThrow();
    expect((await ledger()).approvals.map((a) => a.moid)).toEqual(['imp_f2']);
    expect((await app.inject({ method: 'GET', url: '/__control/faults' })).json()).toEqual({ pending: [] });
    expect((await app.inject({ method: 'POST', url: '/__control/faults', payload: { mode: 'nope' } })).statusCode).toBe(400);
  });
});
