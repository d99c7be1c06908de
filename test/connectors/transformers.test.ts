import { describe, expect, it } from 'vitest';
import { classifyTransportError } from '../../src/connectors/jtnet/client.js';
import {
  asTpayResponse,
  fromGenBillkeyResponse,
  fromPaymentResponse,
  fromRefundsResponse,
  receiptUrlOf,
  fromTransSearchResponse,
  kstTimestampToUnix,
  mapTpayCardCode,
  timeFromTid,
  toCardExp,
  toGenBillkeyRequest,
  toPaymentsRequest,
  toPaymentsTokenRequest,
  toRefundsRequest,
  toTransSearchRequest,
  TPAY_TO_KFTC,
} from '../../src/connectors/jtnet/transformers.js';
import { ConnectorError, type ChannelCredentials } from '../../src/connectors/types.js';
import { Secret } from '../../src/lib/secret.js';
import { TPAY_CARD_COMPANIES } from '../../src/simulators/jtnet/card-companies.js';

const channel: ChannelCredentials = { mid: 'tpaytest1m', merchantKey: new Secret('key+/='), cancelPassword: new Secret('123456') };
const NOON_KST = Date.UTC(2026, 0, 15, 3, 0, 0) / 1000;
const card = { number: '9366000000014242', expiryYear: 2030, expiryMonth: 12, birth: '900101', pwd2digit: '12', cvc: '123' };
const req = { moid: 'imp_000000000001', amount: 14000, goodsName: '상품', cardQuota: 0, buyer: { name: '홍길동', tel: '01012345678', email: null } };

function thrown(f: () => unknown): ConnectorError {
  try {
    f();
  } catch (e) {
    expect(e).toBeInstanceOf(ConnectorError);
    return e as ConnectorError;
  }
  throw new Error('did not throw');
}

describe('formatting', () => {
  it('formats card_exp as YYMM', () => {
    expect(toCardExp({ expiryYear: 2030, expiryMonth: 12 })).toBe('3012');
    expect(toCardExp({ expiryYear: 2031, expiryMonth: 1 })).toBe('3101');
    expect(toCardExp({ expiryYear: 2100, expiryMonth: 5 })).toBe('0005');
  });
  it('reads KST timestamps and the time inside a tPay TID', () => {
    expect(kstTimestampToUnix('20260115120000')).toBe(NOON_KST);
    expect(kstTimestampToUnix('2026011512')).toBeNull();
    expect(kstTimestampToUnix(undefined)).toBeNull();
    expect(timeFromTid('tpaytest1m2601151200000042', 'tpaytest1m')).toBe(NOON_KST);
    expect(timeFromTid('othermid002601151200000042', 'tpaytest1m')).toBeNull();
  });
});

describe('card company mapping', () => {
  it('maps every tPay code the simulator emits to the same KFTC code', () => {
    for (const c of TPAY_CARD_COMPANIES) expect(mapTpayCardCode(c.tpayCode, c.tpayName).cardCode).toBe(c.kftcCode);
  });
  it('uses PortOne-style names (spec §3.1) rather than tPay short names', () => {
    expect(mapTpayCardCode('06', '신한')).toEqual({ cardCode: '366', cardName: '신한카드' });
    expect(mapTpayCardCode('02', 'KB국민')).toEqual({ cardCode: '381', cardName: 'KB국민카드' });
    expect(mapTpayCardCode('15', '우리')).toEqual({ cardCode: '041', cardName: '우리카드' });
    expect(mapTpayCardCode('25', '해외비자')).toEqual({ cardCode: '10005', cardName: '해외비자' });
    const names = Object.values(TPAY_TO_KFTC).map((v) => v.name);
    for (const n of ['BC카드', '현대카드', '삼성카드', '롯데카드', 'NH농협카드', '하나카드', '씨티카드', '카카오뱅크', '케이뱅크']) expect(names).toContain(n);
  });
  it('keeps tPay\'s name and no code for an unknown tPay code', () => {
    expect(mapTpayCardCode('99', '미상카드')).toEqual({ cardCode: null, cardName: '미상카드' });
    expect(mapTpayCardCode(undefined, undefined)).toEqual({ cardCode: null, cardName: null });
  });
});

describe('request builders', () => {
  it('gen_billkey sends auth, card number, YYMM expiry, password and birth', () => {
    expect(toGenBillkeyRequest(channel, card, {})).toEqual({
      mid: 'tpaytest1m',
      api_key: 'key+/=',
      card_num: '9366000000014242',
      card_exp: '3012',
      card_pwd: '12',
      buyer_auth_num: '900101',
    });
    expect(toGenBillkeyRequest(channel, { number: '1', expiryYear: 2030, expiryMonth: 1 }, {})).toEqual({
      mid: 'tpaytest1m',
      api_key: 'key+/=',
      card_num: '1',
      card_exp: '3001',
    });
  });
  it('payments (key-in) sends the card, order and buyer fields', () => {
    expect(toPaymentsRequest(channel, card, { ...req, cardQuota: 3, mallUserId: 'u1' })).toEqual({
      mid: 'tpaytest1m',
      api_key: 'key+/=',
      goods_nm: '상품',
      amt: '14000',
      moid: 'imp_000000000001',
      mall_user_id: 'u1',
      buyer_nm: '홍길동',
      buyer_tel: '01012345678',
      buyer_auth_num: '900101',
      card_num: '9366000000014242',
      card_exp: '3012',
      card_pwd: '12',
      card_cvc: '123',
      card_quota: '03',
      card_interest: '0',
    });
  });
  it('payments_token sends the card_token with batch_div 1', () => {
    expect(toPaymentsTokenRequest(channel, 'tok', req)).toEqual({
      mid: 'tpaytest1m',
      api_key: 'key+/=',
      card_token: 'tok',
      goods_nm: '상품',
      amt: '14000',
      moid: 'imp_000000000001',
      buyer_name: '홍길동',
      buyer_tel: '01012345678',
      batch_div: '1',
      card_quota: '00',
    });
  });
  it('refunds send the cancel password and partial_cancel 0/1', () => {
    const r = { pgTid: 'T1', moid: 'imp_1', amount: 3000, partial: true, reason: '고객 요청' };
    expect(toRefundsRequest(channel, r)).toEqual({
      mid: 'tpaytest1m',
      api_key: 'key+/=',
      tid: 'T1',
      cancel_pw: '123456',
      cancel_amt: '3000',
      cancel_msg: '고객 요청',
      partial_cancel: '1',
      moid: 'imp_1',
    });
    expect(toRefundsRequest(channel, { ...r, partial: false }).partial_cancel).toBe('0');
  });
  it('trans_search looks up by moid (and tid) from the KST day before to the day after', () => {
    expect(toTransSearchRequest(channel, { moid: 'imp_1', pgTid: null, aroundMs: Date.UTC(2026, 0, 15, 16, 0, 0) })).toEqual({
      mid: 'tpaytest1m',
      api_key: 'key+/=',
      moid: 'imp_1',
      sch_sdate: '20260115',
      sch_edate: '20260117',
    });
    expect(toTransSearchRequest(channel, { moid: 'imp_1', pgTid: 'T9', aroundMs: NOON_KST * 1000 }).tid).toBe('T9');
  });
});

describe('response mappers', () => {
  const approved = {
    result_cd: '0000',
    result_msg: '승인 성공',
    tid: 'tpaytest1m2601151200000001',
    moid: 'imp_000000000001',
    paid_amt: '14000',
    app_no: '12345678',
    app_dt: '20260115120000',
    app_co: '06',
    app_co_name: '신한',
    card_num: '936600******4242',
    card_quota: '00',
    card_type: '1',
  };

  it('maps an approval', () => {
    expect(fromPaymentResponse(approved, req, 'tpaytest1m', 0)).toEqual({
      outcome: 'approved',
      pgTid: 'tpaytest1m2601151200000001',
      applyNum: '12345678',
      cardQuota: 0,
      paidAt: NOON_KST,
      receiptUrl: null,
      cardCode: '366',
      cardName: '신한카드',
      cardNumberMasked: '936600******4242',
      cardType: 1,
    });
  });

  it('falls back to the TID\'s time, then to now, when app_dt is absent', () => {
    const { app_dt: _, ...noDt } = approved;
    expect(fromPaymentResponse(noDt, req, 'tpaytest1m', 5)).toMatchObject({ outcome: 'approved', paidAt: NOON_KST });
    expect(fromPaymentResponse({ ...noDt, tid: 'X1' }, req, 'tpaytest1m', 5)).toMatchObject({ outcome: 'approved', paidAt: 5 });
    const { card_type: __, ...noType } = approved;
    expect(fromPaymentResponse(noType, req, 'tpaytest1m', 0)).toMatchObject({ cardType: null });
  });

  it('surfaces the issuer code and message of a decline, else tPay\'s own', () => {
    expect(
      fromPaymentResponse({ result_cd: '3095', result_msg: '카드사 실패 응답', error_cd: '54', error_msg: '잔액부족', tid: 'T2' }, req, 'm', 0),
    ).toEqual({ outcome: 'declined', code: '54', message: '잔액부족', pgTid: 'T2', stage: 'approval' });
    expect(fromPaymentResponse({ result_cd: 'A127', result_msg: '주문번호 중복 오류' }, req, 'm', 0)).toEqual({
      outcome: 'declined',
      code: 'A127',
      message: '주문번호 중복 오류',
      pgTid: null,
      stage: 'approval',
    });
  });

  it('tells card data that fails authentication (number, expiry, password, birth date) from an issuer\'s decline', () => {
    const decline = (r: Record<string, string>) => fromPaymentResponse({ result_msg: 'x', tid: 'T', ...r } as never, req, 'm', 0);
    for (const r of [{ result_cd: '3011', error_cd: '14' }, { result_cd: '3021' }, { result_cd: '3021', error_cd: '04' }] as Array<Record<string, string>>) {
      expect(decline(r)).toMatchObject({ outcome: 'declined', stage: 'authentication' });
    }
    for (const nn of ['04', '14', '19', '23', '48', '51', '52']) expect(decline({ result_cd: '3095', error_cd: nn })).toMatchObject({ stage: 'authentication' });
    for (const nn of ['01', '02', '16', '26', '49', '54']) expect(decline({ result_cd: '3095', error_cd: nn })).toMatchObject({ stage: 'approval' });
    expect(decline({ result_cd: '3051' })).toMatchObject({ stage: 'approval' });
    expect(decline({ result_cd: '9999' })).toMatchObject({ stage: 'approval' });
  });

  it('treats an approval without tid or with another amount as a bad, in-doubt answer', () => {
    const e1 = thrown(() => fromPaymentResponse({ ...approved, tid: '' }, req, 'm', 0));
    expect([e1.kind, e1.inDoubt]).toEqual(['bad_response', true]);
    const e2 = thrown(() => fromPaymentResponse({ ...approved, paid_amt: '1400' }, req, 'm', 0));
    expect(e2.message).toContain('1400');
  });

  it('maps billing-key issuance', () => {
    expect(
      fromGenBillkeyResponse({ result_cd: '0000', card_token: 'tok', card_num: '938100******1111', card_code: '02', card_name: 'KB국민', card_type: '0' }),
    ).toEqual({ outcome: 'issued', billingKey: 'tok', cardCode: '381', cardName: 'KB국민카드', cardNumberMasked: '938100******1111', cardType: 0 });
    expect(fromGenBillkeyResponse({ result_cd: '3051', result_msg: '해외카드 거래불가' })).toEqual({
      outcome: 'declined',
      code: '3051',
      message: '해외카드 거래불가',
    });
    expect(thrown(() => fromGenBillkeyResponse({ result_cd: '0000' })).kind).toBe('bad_response');
  });

  it('passes on only an absolute http(s) receipt URL that fits V1 (a script: link or an overlong value becomes null)', () => {
    expect(receiptUrlOf('https://pg.example/receipt/T1?sig=abc')).toBe('https://pg.example/receipt/T1?sig=abc');
    expect(receiptUrlOf('http://127.0.0.1:8091/__sim/receipt/T1?sig=abc')).toBe('http://127.0.0.1:8091/__sim/receipt/T1?sig=abc');
    for (const bad of ['javascript:alert(1)', 'data:text/html,<script>1</script>', '/receipt/T1', '', `https://pg.example/${'a'.repeat(300)}`, 42, null, undefined]) {
      expect(receiptUrlOf(bad)).toBeNull();
    }
  });

  it('maps refunds: 2001 is success, anything else a decline', () => {
    expect(
      fromRefundsResponse(
        { result_cd: '2001', tid: 'C1', CancelDate: '20260115', CancelTime: '120000', cancel_amt: '3000', receipt_url: 'https://pg.example/receipt/C1?sig=x' },
        { amount: 3000 },
        0,
      ),
    ).toEqual({ outcome: 'refunded', pgCancelTid: 'C1', amount: 3000, cancelledAt: NOON_KST, receiptUrl: 'https://pg.example/receipt/C1?sig=x' });
    expect(fromRefundsResponse({ result_cd: '2001', tid: 'C1' }, { amount: 3000 }, 7)).toEqual({
      outcome: 'refunded',
      pgCancelTid: 'C1',
      amount: 3000,
      cancelledAt: 7,
      receiptUrl: null,
    });
    expect(fromRefundsResponse({ result_cd: '2024', result_msg: '취소패스워드 불일치' }, { amount: 1 }, 0)).toEqual({
      outcome: 'declined',
      code: '2024',
      message: '취소패스워드 불일치',
    });
    expect(fromRefundsResponse({ result_cd: '0000', result_msg: '?' }, { amount: 1 }, 0).outcome).toBe('declined');
  });

  it('maps trans_search, preferring an approved row over failed attempts', () => {
    const row = { tid: 'T1', moid: 'imp_1', state_cd: '9', amt: '5000', cancel_amt: '0', app_no: '', app_dt: '20260115120000', app_co: '06', card_num: '936600******4242', card_quota: '00', card_type: '0' };
    const res = { result_cd: '0000', list_arr: [row, { ...row, tid: 'T2', state_cd: '2', cancel_amt: '1000', app_no: '87654321' }] };
    expect(fromTransSearchResponse(res, 'tpaytest1m', { moid: 'imp_1' })).toEqual({
      found: true,
      state: 'paid',
      pgTid: 'T2',
      amount: 5000,
      cancelledAmount: 1000,
      applyNum: '87654321',
      paidAt: NOON_KST,
      cardQuota: 0,
      receiptUrl: null,
      cardCode: '366',
      cardName: '신한카드',
      cardNumberMasked: '936600******4242',
      cardType: 0,
    });
    expect(fromTransSearchResponse({ result_cd: '0000', list_arr: [row] }, 'm', { moid: 'imp_1' })).toMatchObject({ state: 'failed', applyNum: null });
    expect(fromTransSearchResponse({ result_cd: '0000', list_arr: [{ ...row, state_cd: '1' }] }, 'm', { moid: 'imp_1' })).toMatchObject({ state: 'cancelled' });
    expect(fromTransSearchResponse(res, 'm', { moid: 'imp_other' })).toEqual({ found: false });
    expect(fromTransSearchResponse({ result_cd: 'A118', list_arr: [] }, 'm', { moid: 'imp_1' })).toEqual({ found: false });
    // a state code Pier does not know is never read as paid: the answer is unusable, the attempt stays in doubt
    for (const state_cd of ['3', '', 'X']) {
      const unknown = thrown(() => fromTransSearchResponse({ result_cd: '0000', list_arr: [{ ...row, state_cd }] }, 'm', { moid: 'imp_1' }));
      expect([unknown.kind, unknown.inDoubt]).toEqual(['bad_response', true]);
    }
    const e = thrown(() => fromTransSearchResponse({ result_cd: 'A101', result_msg: '상점키 오류' }, 'm', { moid: 'imp_1' }));
    expect([e.kind, e.inDoubt, e.message]).toEqual(['bad_response', false, 'tPay trans_search refused: A101 상점키 오류']);
  });

  it('rejects bodies that are not tPay answers', () => {
    expect(thrown(() => asTpayResponse([1])).inDoubt).toBe(true);
    expect(thrown(() => asTpayResponse({ result_msg: 'x' })).message).toContain('result_cd');
    expect(asTpayResponse({ result_cd: '0000' })).toEqual({ result_cd: '0000' });
  });
});

describe('classifyTransportError', () => {
  it('treats refused, unresolvable and connect-timeout connections as not sent', () => {
    const refused = Object.assign(new Error('connect ECONNREFUSED'), { code: 'ECONNREFUSED' });
    for (const err of [
      refused,
      new AggregateError([refused], 'all addresses failed'),
      Object.assign(new Error('fetch failed'), { cause: Object.assign(new Error('getaddrinfo'), { code: 'ENOTFOUND' }) }),
      Object.assign(new Error('Connect Timeout Error'), { code: 'UND_ERR_CONNECT_TIMEOUT' }),
    ]) {
      const e = classifyTransportError(err, 'payments');
      expect([e.kind, e.inDoubt, e.retryable]).toEqual(['connect', false, true]);
    }
  });
  it('treats header and body timeouts as in doubt', () => {
    for (const code of ['UND_ERR_HEADERS_TIMEOUT', 'UND_ERR_BODY_TIMEOUT']) {
      const e = classifyTransportError(Object.assign(new Error('timeout'), { code }), 'payments');
      expect([e.kind, e.inDoubt, e.retryable]).toEqual(['timeout', true, false]);
    }
  });
  it('treats a socket closed after sending, or anything unknown, as in doubt', () => {
    for (const err of [Object.assign(new Error('other side closed'), { code: 'UND_ERR_SOCKET' }), new Error('???')]) {
      const e = classifyTransportError(err, 'refunds');
      expect([e.kind, e.inDoubt]).toEqual(['bad_response', true]);
    }
  });
});
