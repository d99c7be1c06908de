/**
 * NICE's window protocol on Pier's side (src/connectors/nicepay/window.ts), pure: the requestPay
 * parameters Pier's checkout hands to the SDK, the returnUrl auth result as a forger would post it,
 * the approve answer and the webhook, checked with the spec's published values (nicepay.md §10).
 */
import { describe, expect, it } from 'vitest';
import { fromApproveAnswer, fromReturnPost, fromWebhook, toRequestPayParams } from '../../src/connectors/nicepay/window.js';
import { paymentSignature } from '../../src/connectors/nicepay/crypto.js';
import type { NicePayment } from '../../src/connectors/nicepay/transformers.js';
import { ConnectorError, type ChannelCredentials, type WindowRequest } from '../../src/connectors/types.js';
import { Secret } from '../../src/lib/secret.js';

// the spec's published sandbox pair and returnUrl example (§1.4, §10 vectors 1 and 2)
const CLIENT_ID = 'S2_af4543a0be4d49a98122e01ec2059a56';
const SECRET = '9eb85607103646da9f9c02b128f2e5ee';
const AUTH_TOKEN = 'NICEUNTTB06096FF8F653AA366E7EEED1101AAAE';
const PUBLISHED_SIGNATURE = '99ea68bf15681741e793ece56ab87891b9bdc94cd54abdcb55b2884f4336155a';
const TID = 'UT0000113m01012111051714341073';
const MOID = 'imp_123456789012';

const channel: ChannelCredentials = { mid: CLIENT_ID, merchantKey: new Secret(SECRET), cancelPassword: new Secret(''), sandbox: true };
const expected = { moid: MOID, amount: 1004 };
const success = (over: Record<string, string> = {}) => ({
  authResultCode: '0000',
  authResultMsg: '인증 성공',
  tid: TID,
  clientId: CLIENT_ID,
  orderId: MOID,
  amount: '1004',
  mallReserved: '',
  authToken: AUTH_TOKEN,
  signature: PUBLISHED_SIGNATURE,
  ...over,
});

const request = (over: Partial<WindowRequest> = {}): WindowRequest => ({
  moid: MOID,
  amount: 55000,
  goodsName: '나이스 상품',
  payMethod: 'card',
  buyer: { name: '홍길동', tel: '010-1234-5678', email: 'buyer@example.com' },
  returnUrl: 'https://pier.example/checkout/cs_x/return',
  cancelUrl: 'https://pier.example/checkout/cs_x/cancel',
  mobile: false,
  cardQuotas: [3, 2],
  cardCode: '366',
  billing: false,
  language: 'ko',
  ...over,
});

describe('the returnUrl auth result', () => {
  it('is authenticated only with the published signature over authToken, clientId and Pier’s amount', () => {
    expect(fromReturnPost(channel, success(), expected)).toEqual({ outcome: 'authenticated', pgTid: TID });
  });

  it('is refused when forged: a wrong signature, another amount, another order or another clientId', () => {
    const forged = [
      success({ signature: PUBLISHED_SIGNATURE.replace(/^9/, '8') }),
      success({ signature: '' }),
      success({ amount: '4' }),
      success({ orderId: 'imp_999999999999' }),
      success({ clientId: 'S2_00000000000000000000000000000000' }),
      success({ authToken: 'NICEUNTT0000000000000000000000000000000' }),
      { ...success(), tid: '' },
    ];
    for (const posted of forged) expect(() => fromReturnPost(channel, posted, expected), JSON.stringify(posted)).toThrow(ConnectorError);
    // the signature is over Pier's amount: a result signed for 1004 cannot stand for an attempt of 1000
    expect(() => fromReturnPost(channel, success({ amount: '1000' }), { moid: MOID, amount: 1000 })).toThrow(/signature/);
  });

  it('reads the buyer’s cancel (I002, no tid, no signature) and other auth failures without trusting them', () => {
    expect(fromReturnPost(channel, { authResultCode: 'I002', authResultMsg: '사용자가 결제를 취소하였습니다.', clientId: CLIENT_ID, orderId: MOID, amount: '1004' }, expected)).toEqual({
      outcome: 'cancelled_by_buyer',
      code: 'I002',
      message: '사용자가 결제를 취소하였습니다.',
    });
    expect(fromReturnPost(channel, { authResultCode: 'P037', authResultMsg: '5만원 미만은 할부가 불가능합니다.' }, expected)).toEqual({
      outcome: 'declined',
      code: 'P037',
      message: '5만원 미만은 할부가 불가능합니다.',
      pgTid: null,
    });
    // a failure is still this attempt's: another order's is refused
    expect(() => fromReturnPost(channel, { authResultCode: 'I002', orderId: 'imp_000000000001' }, expected)).toThrow(ConnectorError);
    expect(() => fromReturnPost(channel, {}, expected)).toThrow(ConnectorError);
  });
});

describe('the requestPay parameters', () => {
  it('carry the attempt’s order id and amount, Pier’s return URL and the allowed installments', () => {
    expect(toRequestPayParams(channel, request())).toEqual({
      clientId: CLIENT_ID,
      method: 'card',
      orderId: MOID,
      amount: 55000,
      goodsName: '나이스 상품',
      returnUrl: 'https://pier.example/checkout/cs_x/return',
      language: 'KO',
      buyerName: '홍길동',
      buyerTel: '01012345678',
      buyerEmail: 'buyer@example.com',
      cardQuota: '00,02,03',
      cardCode: '06',
    });
  });

  it('name NICE’s methods and their required fields: bank, vbank with holder and deadline, cellphone with isDigital', () => {
    expect(toRequestPayParams(channel, request({ payMethod: 'trans' })).method).toBe('bank');
    const vbank = toRequestPayParams(channel, request({ payMethod: 'vbank', vbankDueMs: Date.UTC(2026, 11, 24, 14, 59) }));
    expect(vbank).toMatchObject({ method: 'vbank', vbankHolder: '홍길동', vbankExpDate: '2026-12-24T23:59' });
    expect(toRequestPayParams(channel, request({ payMethod: 'phone', digital: true }))).toMatchObject({ method: 'cellphone', isDigital: true });
    expect(toRequestPayParams(channel, request({ payMethod: 'phone' }))).toMatchObject({ method: 'cellphone', isDigital: false });
  });
});

describe('the approve answer', () => {
  const ediDate = '2021-11-05T17:14:35.150+0900';
  const answer = (over: Partial<NicePayment> = {}): NicePayment => ({
    resultCode: '0000',
    resultMsg: '정상 처리되었습니다.',
    tid: TID,
    orderId: MOID,
    ediDate,
    // spec §2.7 / §10 vector 2
    signature: '63b251b31c909eebef1a9f4fcc19e77bdcb8f64fc1066a29670f8627186865cd',
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
    ...over,
  });
  const req = { pgTid: TID, moid: MOID, amount: 1004 };

  it('reads the published answer as an approval', () => {
    expect(fromApproveAnswer(answer(), req, SECRET)).toMatchObject({
      outcome: 'approved',
      pgTid: TID,
      applyNum: '000000',
      paidAt: Math.floor(Date.UTC(2021, 10, 5, 8, 14, 35) / 1000),
      cardCode: '365',
      cardNumberMasked: '123412******1234',
      cardType: 0,
    });
  });

  it('never reads a success whose signature fails, that is for another amount or tid, or that names no order: in doubt', () => {
    for (const bad of [answer({ signature: '00'.repeat(32) }), answer({ status: 'paid', amount: 1005 }), answer({ orderId: undefined }), answer({ orderId: 'imp_000000000001', signature: '00'.repeat(32) })]) {
      let thrown: unknown;
      try {
        fromApproveAnswer(bad, req, SECRET);
      } catch (err) {
        thrown = err;
      }
      expect(thrown).toBeInstanceOf(ConnectorError);
      expect((thrown as ConnectorError).inDoubt).toBe(true);
    }
  });

  it('reads a signed approval of this tid and amount for another order as that order’s (a result moved from another window), never as this one’s', () => {
    expect(fromApproveAnswer(answer({ orderId: 'imp_000000000001' }), req, SECRET)).toEqual({ outcome: 'another_order', pgTid: TID, moid: 'imp_000000000001' });
  });

  it('reads a decline as it comes, and an issued virtual account with its account', () => {
    expect(fromApproveAnswer({ resultCode: 'A123', resultMsg: '거래금액 불일치' }, req, SECRET)).toEqual({ outcome: 'declined', code: 'A123', message: '거래금액 불일치', pgTid: TID });
    const vbankEdi = '2026-12-01T10:00:00.000+0900';
    const vbank = answer({
      status: 'ready',
      payMethod: 'vbank',
      card: null,
      ediDate: vbankEdi,
      signature: paymentSignature({ tid: TID, amount: 1004, ediDate: vbankEdi }, SECRET),
      vbank: { vbankCode: '004', vbankName: '국민', vbankNumber: '12345678901234', vbankExpDate: '2026-12-08T23:59:00.000+0900', vbankHolder: '홍길동' },
    });
    expect(fromApproveAnswer(vbank, req, SECRET)).toMatchObject({
      outcome: 'vbank_issued',
      vbankCode: '004',
      vbankNum: '12345678901234',
      vbankHolder: '홍길동',
      vbankDate: Math.floor(Date.UTC(2026, 11, 8, 14, 59) / 1000),
    });
  });

  it('reads an issued virtual account NICE gives no deadline (vbankExpDate null, [E2] §2.3) with vbank_date 0; a signed 0000 it cannot read is in doubt', () => {
    const edi = '2026-12-01T10:00:00.000+0900';
    const issued = (vbankExpDate: string | null) =>
      answer({
        status: 'ready',
        payMethod: 'vbank',
        card: null,
        approveNo: null,
        ediDate: edi,
        signature: paymentSignature({ tid: TID, amount: 1004, ediDate: edi }, SECRET),
        vbank: { vbankCode: '088', vbankName: '신한', vbankNumber: '56211234567890', vbankExpDate, vbankHolder: '홍길동' },
      });
    expect(fromApproveAnswer(issued(null), req, SECRET)).toMatchObject({ outcome: 'vbank_issued', vbankCode: '088', vbankNum: '56211234567890', vbankDate: 0 });
    // NICE approved and signed: whatever Pier cannot read in it, money may have moved
    let thrown: unknown;
    try {
      fromApproveAnswer(issued('someday'), req, SECRET);
    } catch (err) {
      thrown = err;
    }
    expect(thrown).toBeInstanceOf(ConnectorError);
    expect((thrown as ConnectorError).inDoubt).toBe(true);
  });
});

describe('webhooks', () => {
  // spec §6.4 worked example (vector 10)
  const hookChannel = { ...channel, merchantKey: new Secret('0123456789abcdef0123456789abcdef') };
  const hook = {
    resultCode: '0000',
    tid: 'nicuntct1m0101210727200125A056',
    orderId: MOID,
    amount: 1004,
    ediDate: '2021-07-27T20:01:25.000+0900',
    signature: '61ce750d1cda992ae8406f5269d09a3e27e0cb8ec9902da6008c9f02cf37c723',
    status: 'paid',
  };

  it('name the payment to re-read when the signature verifies, the message by its signed ediDate and status, and the state it claims', () => {
    expect(fromWebhook(hookChannel, hook)).toEqual({
      kind: 'payment_changed',
      moid: MOID,
      pgTid: hook.tid,
      messageId: '2021-07-27T20:01:25.000+0900 paid',
      // its signed ediDate, NICE's clock: compared with NICE's answers' times (decision 0087)
      sentAt: Date.UTC(2021, 6, 27, 11, 1, 25) / 1000,
      claimed: { state: 'paid', amount: 1004, cancelledAmount: 0 },
    });
    // the unsigned status, rewritten, still verifies: it only names another message and claims another state
    expect(fromWebhook(hookChannel, { ...hook, status: 'partialCancelled', balanceAmt: 4 })).toMatchObject({
      messageId: '2021-07-27T20:01:25.000+0900 partialCancelled',
      claimed: { state: 'paid', amount: 1004, cancelledAmount: 1000 },
    });
    expect(fromWebhook(hookChannel, { ...hook, status: 'ready' })).toMatchObject({ claimed: { state: 'awaiting_deposit', cancelledAmount: 0 } });
    expect(fromWebhook(hookChannel, { ...hook, status: 'cancelled', balanceAmt: 0 })).toMatchObject({ claimed: { state: 'cancelled', cancelledAmount: 1004 } });
    // a status Pier does not read, or a partial cancel without a balance it can read, claims nothing
    for (const odd of [{ status: 'refunded' }, { status: 'partialCancelled', balanceAmt: '4' }, { status: 'partialCancelled', balanceAmt: 1004 }]) {
      const notice = fromWebhook(hookChannel, { ...hook, ...odd });
      expect(notice).not.toHaveProperty('claimed');
      expect(notice).toMatchObject({ messageId: `2021-07-27T20:01:25.000+0900 ${odd.status === 'refunded' ? '?' : odd.status}` });
    }
  });

  it('are refused when the signature does not verify (a forger, or the admin TEST payload)', () => {
    expect(() => fromWebhook(hookChannel, { ...hook, amount: 1005 })).toThrow(ConnectorError);
    expect(() => fromWebhook(hookChannel, { ...hook, signature: 'x' })).toThrow(ConnectorError);
    expect(() => fromWebhook(channel, hook)).toThrow(ConnectorError);
  });
});
