/**
 * NICE's pure mappings: what Pier sends (signData, encData, cancel fields) and how it reads NICE's
 * answers (signature first, then status, amounts, codes). No I/O.
 */
import { describe, expect, it } from 'vitest';
import { paymentSignature, tidSignData, orderSignData, billingSignData, encryptEncDataA2 } from '../../src/connectors/nicepay/crypto.js';
import {
  fromCancelAnswer,
  fromChargeAnswer,
  fromLookupAnswer,
  fromNetCancelAnswer,
  fromRegistAnswer,
  niceEdiDate,
  niceResult,
  niceTimeToUnix,
  toBillingPayCall,
  toCancelCall,
  toFindByOrderIdCall,
  toApproveCall,
  toRegistCall,
  niceText,
  type NicePayment,
} from '../../src/connectors/nicepay/transformers.js';
import { toRequestPayParams } from '../../src/connectors/nicepay/window.js';
import { mapNiceCardCode } from '../../src/connectors/kftc-codes.js';
import { ConnectorError } from '../../src/connectors/types.js';
import { Secret } from '../../src/lib/secret.js';

const SECRET = '9eb85607103646da9f9c02b128f2e5ee';
const TID = 'UT0000113m01012111051714341073';
const EDI = '2021-11-05T17:14:35.150+0900';

/** NICE's spec §2.7 example, re-signed for the fields a test changes. */
function payment(over: Partial<NicePayment> = {}): NicePayment {
  const p: NicePayment = {
    resultCode: '0000',
    resultMsg: '정상 처리되었습니다.',
    tid: TID,
    cancelledTid: null,
    orderId: 'imp_000000000001',
    ediDate: EDI,
    status: 'paid',
    paidAt: '2021-11-05T17:14:35.000+0900',
    failedAt: '0',
    cancelledAt: '0',
    payMethod: 'card',
    amount: 1004,
    balanceAmt: 1004,
    approveNo: '000000',
    receiptUrl: `https://npg.nicepay.co.kr/issue/IssueLoader.do?type=0&innerWin=Y&TID=${TID}`,
    card: { cardCode: '04', cardName: '삼성', cardNum: '123412******1234', cardQuota: 0, cardType: 'credit', canPartCancel: true },
    vbank: null,
    cancels: null,
    ...over,
  };
  return { ...p, signature: over.signature ?? paymentSignature({ tid: p.tid!, amount: p.amount!, ediDate: p.ediDate! }, SECRET) };
}

const req = { moid: 'imp_000000000001', amount: 1004, cardQuota: 0 };

function thrown(fn: () => unknown): unknown {
  try {
    fn();
  } catch (err) {
    return err;
  }
  return undefined;
}

describe('times', () => {
  it('reads NICE times with and without a colon in the offset, and "0" as not happened', () => {
    expect(niceTimeToUnix('2021-11-05T17:14:35.000+0900')).toBe(Date.UTC(2021, 10, 5, 8, 14, 35) / 1000);
    expect(niceTimeToUnix('2021-11-05T17:14:35.150+09:00')).toBe(Date.UTC(2021, 10, 5, 8, 14, 35) / 1000);
    expect(niceTimeToUnix('2023-03-25T23:59')).toBe(Date.UTC(2023, 2, 25, 14, 59, 0) / 1000);
    expect(niceTimeToUnix('0')).toBeNull();
    expect(niceTimeToUnix('yesterday')).toBeNull();
  });
  it('writes ediDate in KST with milliseconds', () => {
    expect(niceEdiDate(Date.UTC(2026, 0, 15, 3, 0, 0, 7))).toBe('2026-01-15T12:00:00.007+09:00');
  });
});

describe('requests', () => {
  it('regist: encData in mode A2, signData over orderId + ediDate, buyerTel digits only', () => {
    const call = toRegistCall({ number: '1234567890123456', expiryYear: 2025, expiryMonth: 12, birth: '800101', pwd2digit: '12' }, { name: '홍길동', tel: '010-1234-5678' }, 'bk-1', '2dcc2a0d63bf469490bb19a201be3735', EDI);
    expect(call).toEqual({
      method: 'POST',
      path: '/v1/subscribe/regist',
      body: {
        // spec §3.1 A2 vector
        encData: '6ecfe97e521bc67c3053d74a9dbdba53033d343fc9e8e38e730964b22ef2e4a59607171b00a9da977141b3f79fffa1e80a16c08bc58666b479f554a966a363414347e62f2621f8df220c7a4a545592d0',
        orderId: 'bk-1',
        encMode: 'A2',
        buyerName: '홍길동',
        buyerTel: '01012345678',
        ediDate: EDI,
        signData: orderSignData('bk-1', EDI, '2dcc2a0d63bf469490bb19a201be3735'),
      },
    });
  });
  it('billing payment: signData over orderId + bid, useShopInterest false', () => {
    const call = toBillingPayCall('BIKY/1', { ...req, goodsName: '정기결제', buyer: {} }, SECRET, EDI);
    expect(call.path).toBe('/v1/subscribe/BIKY%2F1/payments');
    expect(call.body).toMatchObject({ orderId: req.moid, amount: 1004, cardQuota: 0, useShopInterest: false, signData: billingSignData(req.moid, 'BIKY/1', EDI, SECRET) });
  });
  it('cancel: cancelAmt only when partial, refund account fields for a virtual account', () => {
    const full = toCancelCall({ pgTid: TID, moid: req.moid, amount: 1004, partial: false, reason: '' }, 'imp_000000000001-cA', SECRET, EDI);
    expect(full.body).toEqual({ reason: '취소요청', orderId: 'imp_000000000001-cA', ediDate: EDI, signData: tidSignData(TID, EDI, SECRET) });
    const partial = toCancelCall({ pgTid: TID, moid: req.moid, amount: 500, partial: true, reason: '부분', refundBank: '088', refundAccount: '1234', refundHolder: '홍길동' }, 'o', SECRET, EDI);
    expect(partial.body).toMatchObject({ cancelAmt: 500, refundBankCode: '088', refundAccount: '1234', refundHolder: '홍길동' });
  });
  it('approve: the registered amount, signData over tid + amount + ediDate (spec §1.6; vector 2)', () => {
    expect(toApproveCall(TID, 1004, SECRET, EDI)).toEqual({
      method: 'POST',
      path: `/v1/payments/${TID}`,
      body: { amount: 1004, ediDate: EDI, signData: '63b251b31c909eebef1a9f4fcc19e77bdcb8f64fc1066a29670f8627186865cd' },
    });
  });
  it('find by orderId: no orderDate, signData over the orderId', () => {
    expect(toFindByOrderIdCall('imp_1', SECRET, EDI)).toEqual({ method: 'GET', path: '/v1/payments/find/imp_1', query: { ediDate: EDI, signData: orderSignData('imp_1', EDI, SECRET) } });
  });
});

describe('charge answers', () => {
  it('maps a signed paid answer, card code via the KFTC table', () => {
    expect(fromChargeAnswer(payment(), req, SECRET, 0)).toEqual({
      outcome: 'approved',
      pgTid: TID,
      applyNum: '000000',
      cardQuota: 0,
      paidAt: Date.UTC(2021, 10, 5, 8, 14, 35) / 1000,
      receiptUrl: `https://npg.nicepay.co.kr/issue/IssueLoader.do?type=0&innerWin=Y&TID=${TID}`,
      cardCode: '365',
      cardName: '삼성카드',
      cardNumberMasked: '123412******1234',
      cardType: 0,
    });
  });
  it('refuses a forged or missing signature, in doubt (money may have moved)', () => {
    for (const signature of ['0'.repeat(64), '']) {
      const err = (() => {
        try {
          fromChargeAnswer(payment({ signature }), req, SECRET, 0);
        } catch (e) {
          return e;
        }
      })() as ConnectorError;
      expect(err).toBeInstanceOf(ConnectorError);
      expect([err.kind, err.inDoubt]).toEqual(['bad_response', true]);
    }
    // signed with another secret
    const other = payment();
    other.signature = paymentSignature({ tid: TID, amount: 1004, ediDate: EDI }, 'ffffffffffffffffffffffffffffffff');
    expect(() => fromChargeAnswer(other, req, SECRET, 0)).toThrow(/signature/);
  });
  it('refuses a signed answer for another amount or order', () => {
    expect(() => fromChargeAnswer(payment({ amount: 1005, balanceAmt: 1005 }), req, SECRET, 0)).toThrow(/1005 KRW/);
    expect(() => fromChargeAnswer(payment({ orderId: 'imp_other' }), req, SECRET, 0)).toThrow(/another orderId/);
  });
  it('a decline carries NICE code and message; card-data codes are authentication declines', () => {
    expect(fromChargeAnswer({ resultCode: '3095', resultMsg: '카드사 거절', tid: TID }, req, SECRET, 0)).toEqual({ outcome: 'declined', code: '3095', message: '카드사 거절', pgTid: TID, stage: 'approval' });
    expect(fromChargeAnswer({ resultCode: 'F113', resultMsg: '본인인증 실패' }, req, SECRET, 0)).toMatchObject({ stage: 'authentication', pgTid: null });
  });
  // spec §3.2 [E2]: "On U112, U503 or U506 look the charge up by orderId before resending"; the rest by §8
  it.each(['U112', 'U503', 'U506', 'U507', 'U508', 'U501', 'A226', 'A299', '9999'])('%s does not say the card was not charged: in doubt, never a decline', (code) => {
    const err = thrown(() => fromChargeAnswer({ resultCode: code, resultMsg: 'x', tid: TID, orderId: req.moid }, req, SECRET, 0));
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ inDoubt: true, kind: 'bad_response' });
    expect((err as Error).message).toContain(`[${code}]`);
  });
});

describe('net-cancel answers (spec §5.3)', () => {
  const moid = 'imp_000000000001';
  it('voided when NICE reversed a signed approval of this order, with that approval as NICE reports it (recorded with its refund)', () => {
    const p = payment({ status: 'cancelled', balanceAmt: 0 });
    expect(fromNetCancelAnswer(p, moid, SECRET)).toEqual({ voided: expect.objectContaining({ found: true, state: 'cancelled', pgTid: TID, amount: p.amount, cancelledAmount: p.amount }) });
  });
  // nothing to reverse: no such order, the hour passed (the lookup just found nothing), already net-cancelled
  it.each(['U107', 'U111', 'U126', 'A118', 'A251', '2020', 'U504'])('%s: nothing to reverse', (code) => {
    expect(fromNetCancelAnswer({ resultCode: code, resultMsg: 'x', orderId: moid }, moid, SECRET)).toBe('nothing');
  });
  // the order may still be approved at NICE: the attempt must stay open, its merchant_uid held
  it.each(['9999', 'P035', 'U503', 'U508', 'A299', 'U501', 'Z123'])('%s says nothing about the order: in doubt, asked again later', (code) => {
    const err = thrown(() => fromNetCancelAnswer({ resultCode: code, resultMsg: 'x', orderId: moid }, moid, SECRET));
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ inDoubt: true, retryable: true });
  });
});

describe('encData with a secretKey of another length', () => {
  it('is a ConnectorError that is not in doubt (nothing was sent)', () => {
    const err = thrown(() => encryptEncDataA2('cardNo=1', SECRET.slice(0, 31)));
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ inDoubt: false });
    expect((err as Error).message).toMatch(/32-character/);
  });
});

describe('cancel answers', () => {
  const cancelled = (amount: number, balance: number) =>
    payment({
      status: balance === 0 ? 'cancelled' : 'partialCancelled',
      cancelledTid: 'UT0000113m01012111051714349999',
      balanceAmt: balance,
      cancelledAt: '2021-11-06T10:00:00.000+0900',
      cancels: [{ tid: 'UT0000113m01012111051714349999', amount, cancelledAt: '2021-11-06T10:00:00.000+0900', reason: '고객요청', receiptUrl: 'https://npg.nicepay.co.kr/issue/x' }],
    });
  it('maps a signed partial cancel: the cancel tid, its amount, its slip', () => {
    expect(fromCancelAnswer(cancelled(400, 604), { pgTid: TID, amount: 400 }, SECRET, 0)).toEqual({
      outcome: 'refunded',
      pgCancelTid: 'UT0000113m01012111051714349999',
      amount: 400,
      cancelledAt: Date.UTC(2021, 10, 6, 1, 0, 0) / 1000,
      receiptUrl: 'https://npg.nicepay.co.kr/issue/x',
    });
  });
  it('refuses a cancel of another amount than asked, and an unsigned one', () => {
    expect(() => fromCancelAnswer(cancelled(1004, 0), { pgTid: TID, amount: 400 }, SECRET, 0)).toThrow(/1004 KRW/);
    expect(() => fromCancelAnswer({ ...cancelled(400, 604), signature: 'x' }, { pgTid: TID, amount: 400 }, SECRET, 0)).toThrow(ConnectorError);
  });
  it('a refused cancel is a decline with NICE code and message', () => {
    expect(fromCancelAnswer({ resultCode: 'U128', resultMsg: '부분취소는 운영 환경에서 이용 가능합니다.' }, { pgTid: TID, amount: 400 }, SECRET, 0)).toEqual({ outcome: 'declined', code: 'U128', message: '부분취소는 운영 환경에서 이용 가능합니다.' });
  });
  // a decline gives the amount back to the merchant, who may refund it again: only when NICE says so
  it.each(['U112', 'U506', 'U508', 'A299', '9999'])('%s does not say NICE did not refund: in doubt, never a decline', (code) => {
    const err = thrown(() => fromCancelAnswer({ resultCode: code, resultMsg: 'x', tid: TID }, { pgTid: TID, amount: 400 }, SECRET, 0));
    expect(err).toBeInstanceOf(ConnectorError);
    expect(err).toMatchObject({ inDoubt: true, kind: 'bad_response' });
  });
});

describe('lookup answers', () => {
  const q = { moid: 'imp_000000000001' };
  it('not found for NICE no-data codes', () => {
    expect(fromLookupAnswer({ resultCode: 'U107', resultMsg: '조회된 데이터가 없습니다.' }, q, SECRET)).toEqual({ found: false });
  });
  it('partialCancelled is paid with the cancelled amount = amount − balanceAmt', () => {
    expect(fromLookupAnswer(payment({ status: 'partialCancelled', balanceAmt: 604 }), q, SECRET)).toMatchObject({ found: true, state: 'paid', amount: 1004, cancelledAmount: 400 });
  });
  it('ready is a virtual account awaiting deposit, with its account and deadline', () => {
    const r = fromLookupAnswer(
      payment({ status: 'ready', payMethod: 'vbank', card: null, vbank: { vbankCode: '088', vbankName: '신한', vbankNumber: '56211234567890', vbankExpDate: '2021-11-07T23:59:59.000+0900', vbankHolder: '홍길동' } }),
      q,
      SECRET,
    );
    expect(r).toMatchObject({ found: true, state: 'awaiting_deposit', vbank: { code: '088', name: '신한은행', num: '56211234567890', dueAt: Date.UTC(2021, 10, 7, 14, 59, 59) / 1000 } });
  });
  it('a virtual account NICE gives no deadline (vbankExpDate null, [E2] §2.3) has due date 0, V1 for none; a malformed one is refused', () => {
    const vbank = { vbankCode: '088', vbankName: '신한', vbankNumber: '56211234567890', vbankExpDate: null, vbankHolder: '홍길동' };
    expect(fromLookupAnswer(payment({ status: 'ready', payMethod: 'vbank', card: null, approveNo: null, vbank }), q, SECRET)).toMatchObject({
      found: true,
      state: 'awaiting_deposit',
      vbank: { code: '088', num: '56211234567890', dueAt: 0 },
    });
    const { vbankExpDate: _, ...absent } = vbank;
    expect(fromLookupAnswer(payment({ status: 'ready', payMethod: 'vbank', card: null, vbank: absent }), q, SECRET)).toMatchObject({ vbank: { dueAt: 0 } });
    expect(() => fromLookupAnswer(payment({ status: 'ready', payMethod: 'vbank', card: null, vbank: { ...vbank, vbankExpDate: '20211107' } }), q, SECRET)).toThrow(/malformed deadline/);
  });
  it('an unknown status or a bad signature is never read as paid', () => {
    expect(() => fromLookupAnswer(payment({ status: 'refunded?' }), q, SECRET)).toThrow(/unknown status/);
    expect(() => fromLookupAnswer(payment({ signature: 'f'.repeat(64) }), q, SECRET)).toThrow(/signature/);
  });
  it('a payment of another order is not this attempt', () => {
    expect(fromLookupAnswer(payment({ orderId: 'imp_999' }), q, SECRET)).toEqual({ found: false });
  });
});

describe('other answers', () => {
  it('regist: the bid and the card company; declines carry NICE code', () => {
    const card = { number: '5361120000001234' };
    expect(fromRegistAnswer({ resultCode: '0000', bid: 'BIKYnictest00m1104191651325596', cardCode: '06', cardName: '[신한]' }, card)).toEqual({
      outcome: 'issued',
      billingKey: 'BIKYnictest00m1104191651325596',
      cardCode: '366',
      cardName: '신한카드',
      cardNumberMasked: '536112******1234',
      cardType: null,
    });
    expect(fromRegistAnswer({ resultCode: 'F112', resultMsg: '유효하지않은 카드번호' }, card)).toEqual({ outcome: 'declined', code: 'F112', message: '유효하지않은 카드번호' });
  });
  it('an unmapped card code keeps NICE name without brackets', () => {
    expect(mapNiceCardCode('24', '[산은캐피탈]')).toEqual({ cardCode: null, cardName: '산은캐피탈' });
  });
  it('HTTP 401 (wrong secret) is a technical failure NICE refused before acting, not a decline', () => {
    let err: unknown;
    try {
      niceResult({ status: 401, body: { resultCode: 'U104', resultMsg: '사용자 인증에 실패하였습니다.' } }, 'billing payment');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(ConnectorError);
    expect([(err as ConnectorError).kind, (err as ConnectorError).inDoubt, (err as ConnectorError).message]).toEqual(['http_status', false, 'NICE billing payment: HTTP 401 [U104]사용자 인증에 실패하였습니다.']);
  });
});

// NICE's limits are bytes (the manual's "Byte" column; U105/P009 refuse, they do not cut): decision 0133
describe("NICE's byte limits", () => {
  const bytes = (v: unknown) => Buffer.byteLength(String(v), 'utf8');
  const longName = '프리미엄 유기농 제철 과일 정기배송 (3개월 약정)'; // 28 characters, 62 UTF-8 bytes
  const longPerson = '김수한무거북이와두루미삼천갑자동방삭'; // 18 characters, 54 bytes

  it('cuts at a byte count, never inside a character', () => {
    expect(niceText('abc', 3)).toBe('abc');
    expect(niceText('가나다', 8)).toBe('가나');
    expect(niceText('a가', 3)).toBe('a');
    expect(niceText('😀😀', 5)).toBe('😀');
  });

  it('a billing charge sends goodsName within 40 bytes and buyerName within 30', () => {
    const call = toBillingPayCall('BIKY/1', { moid: 'imp_1', amount: 1004, goodsName: longName, cardQuota: 0, buyer: { name: longPerson } }, SECRET, EDI);
    const body = call.body as Record<string, string>;
    expect(body.goodsName).toBe('프리미엄 유기농 제철 과일 정');
    expect(bytes(body.goodsName)).toBeLessThanOrEqual(40);
    expect(body.buyerName).toBe('김수한무거북이와두루');
    expect(bytes(body.buyerName)).toBeLessThanOrEqual(30);
  });

  it('a cancel sends a reason within 100 bytes', () => {
    const reason = '고객님의 요청으로 정기배송 상품의 남은 회차를 모두 취소하고 결제하신 금액 전액을 환불해 드립니다';
    const call = toCancelCall({ pgTid: TID, moid: 'imp_1', amount: 1004, partial: false, reason }, 'imp_1-c1', SECRET, EDI);
    const sent = (call.body as Record<string, string>).reason!;
    expect(bytes(sent)).toBeLessThanOrEqual(100);
    expect(reason.startsWith(sent)).toBe(true);
    expect(bytes(sent)).toBeGreaterThan(97);
  });

  it('the window gets goodsName, buyerName and vbankHolder within their bytes', () => {
    const channel = { mid: 'S2_af4543a0be4d49a98122e01ec2059a56', merchantKey: new Secret(SECRET), cancelPassword: new Secret('') };
    const base = { moid: 'imp_1', amount: 60000, goodsName: longName, buyer: { name: longPerson }, returnUrl: 'https://pier.test/r', cancelUrl: 'https://pier.test/c', mobile: false, cardQuotas: [], cardCode: null, billing: false } as const;
    const card = toRequestPayParams(channel, { ...base, payMethod: 'card' } as never);
    expect(bytes(card.goodsName)).toBeLessThanOrEqual(40);
    expect(bytes(card.buyerName)).toBeLessThanOrEqual(30);
    const vbank = toRequestPayParams(channel, { ...base, payMethod: 'vbank' } as never);
    expect(bytes(vbank.vbankHolder)).toBeLessThanOrEqual(40);
  });
});
