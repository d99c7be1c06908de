/**
 * Billing keys and key-in (spec §3): `POST /v1/subscribe/regist` (encData decrypted per §3.1),
 * `POST /v1/subscribe/{bid}/payments`, `POST /v1/subscribe/{bid}/expire`, `POST /v1/key-in/payments`.
 * Card rules are the shared test-card rules (docs/simulator-nicepay.md).
 */
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { checkCard, chargeOutcome, isFailure, nicepayFailure, SYSTEM_FAILURE, type CardCheck, type NiceFailure } from './card-rules.js';
import { ISSUER_REASONS } from '../shared/test-cards.js';
import { body, parseAmount, signDataOk, text, type Caller, type Json, type NiceSimContext } from './context.js';
import type { SimPaymentDetails } from './ledger.js';
import {
  answerFailure,
  MISSING_FIELD,
  overLongField,
  newPayment,
  niceRoute,
  ORDER_ID_USED,
  settleCharge,
  SIGN_DATA_FAILED,
  type Answer,
} from './payment-routes.js';
import { decryptEncData, niceTime, parseEncCard, WINDOW_METHODS } from './protocol.js';

const BID_GONE = nicepayFailure('U115', '삭제된 BID 입니다.');
const BID_NOT_FOUND = nicepayFailure('A124', 'BID를 찾을 수 없습니다.');

/** The card inside an `encData`, checked; or the failure to answer (`undecryptable` is the mode's code). */
function cardOfEncData(ctx: NiceSimContext, b: Json, caller: Caller, quota: number, undecryptable: NiceFailure): CardCheck | NiceFailure {
  const encData = text(b, 'encData');
  if (!encData) return MISSING_FIELD('encData');
  const plain = decryptEncData(encData, caller.secretKey, text(b, 'encMode') ?? undefined);
  const fields = plain ? parseEncCard(plain) : null;
  if (!fields) return undecryptable;
  return checkCard({ ...fields, quota }, ctx.clock.now(), ctx.overseasCards);
}

/** The shared rules' card failures in billing-registration words (spec §3.1). */
function registFailure(f: NiceFailure): NiceFailure {
  if (f.resultCode === '3011') return nicepayFailure('F112', '유효하지않은 카드번호를 입력하셨습니다.');
  if (f.resultCode === '3095' && /비밀번호|생년월일/.test(f.resultMsg)) return nicepayFailure('F113', '본인인증에 실패하였습니다.');
  return f;
}

function regist(ctx: NiceSimContext, req: FastifyRequest, caller: Caller): Answer {
  const b = body(req);
  const orderId = text(b, 'orderId');
  if (!orderId) return answerFailure(MISSING_FIELD('orderId'));
  const tooLong = overLongField(b, { orderId: 64, buyerName: 30, buyerEmail: 60, buyerTel: 20 });
  if (tooLong) return answerFailure(tooLong);
  if (!signDataOk(b, [orderId], caller.secretKey)) return answerFailure(SIGN_DATA_FAILED);
  const now = ctx.clock.now();
  const tid = ctx.ledger.issueTid(caller.clientId, WINDOW_METHODS.card, now);
  const ids = { tid, orderId, authDate: niceTime(now) };
  const checked = cardOfEncData(ctx, b, caller, 0, nicepayFailure('F101', 'encData 복호화에 실패하였습니다.'));
  if (isFailure(checked)) return answerFailure(registFailure(checked), { ...ids, status: 'failed' });
  if (checked.issue.kind === 'system_error') return answerFailure(SYSTEM_FAILURE, ids);
  if (checked.issue.kind === 'decline') {
    const reason = ISSUER_REASONS[checked.issue.nn] ?? '카드사 거절';
    return answerFailure({ ...nicepayFailure('F118', `사용할 수 없는 카드입니다(${reason})`), messageSource: 'external' }, { ...ids, status: 'failed' });
  }
  return ctx.ledger.transaction(() => {
    if (!ctx.ledger.takeOrderId(caller.clientId, orderId, 'regist', now)) return answerFailure(ORDER_ID_USED, ids);
    const bid = ctx.ledger.issueBid(caller.clientId, now);
    ctx.ledger.putBillingKey({ bid, clientId: caller.clientId, orderId, card: checked.card, chargeRule: checked.charge, createdAt: now, expiredAt: null });
    return {
      body: {
        resultCode: '0000',
        resultMsg: '빌키가 정상적으로 생성되었습니다.',
        ...ids,
        bid,
        cardCode: checked.card.cardCode,
        cardName: `[${checked.card.cardName}]`,
        messageSource: 'nicepay',
        status: 'issued',
      },
      lose: checked.issue.kind === 'slow' ? 'timeout' : undefined,
    } satisfies Answer;
  });
}

/** The fields of a REST charge (billing or key-in) that every charge needs; a failure when one is missing. */
function chargeFields(b: Json): { orderId: string; amount: number; goodsName: string; quota: number; taxFreeAmt: number } | NiceFailure {
  const orderId = text(b, 'orderId');
  const goodsName = text(b, 'goodsName');
  if (!orderId) return MISSING_FIELD('orderId');
  if (b.amount === undefined) return MISSING_FIELD('amount');
  if (!goodsName) return MISSING_FIELD('goodsName');
  const tooLong = overLongField(b, { orderId: 64, goodsName: 40, buyerName: 30, buyerEmail: 60, buyerTel: 20 });
  if (tooLong) return tooLong;
  const amount = parseAmount(b.amount);
  if (amount === null) return nicepayFailure('A116', '유효하지 않은 금액입니다.');
  const quota = Number(b.cardQuota ?? 0);
  if (!Number.isInteger(quota) || quota < 0) return nicepayFailure('3022', '할부개월 오류');
  const hasTaxFree = b.taxFreeAmt !== undefined && b.taxFreeAmt !== null && b.taxFreeAmt !== '';
  const taxFreeAmt = hasTaxFree ? Number(b.taxFreeAmt) : 0;
  if (!Number.isSafeInteger(taxFreeAmt) || taxFreeAmt < 0) return nicepayFailure('A116', '유효하지 않은 금액입니다.');
  if (taxFreeAmt > amount) return nicepayFailure('U321', '면세금액이 결제금액보다 큽니다.');
  return { orderId, amount, goodsName: goodsName.replace(/["¦]/g, '-'), quota, taxFreeAmt };
}

function restDetails(b: Json, goodsName: string, card: SimPaymentDetails['card'], bid: string | null, taxFreeAmt: number): SimPaymentDetails {
  return {
    payMethod: 'card',
    goodsName,
    mallReserved: text(b, 'mallReserved'),
    currency: 'KRW',
    channel: null,
    useEscrow: false,
    buyerName: text(b, 'buyerName'),
    buyerTel: text(b, 'buyerTel'),
    buyerEmail: text(b, 'buyerEmail'),
    mallUserId: null,
    card,
    bank: null,
    vbank: null,
    bid,
    taxFreeAmt,
  };
}

function billingPay(ctx: NiceSimContext, req: FastifyRequest<{ Params: { bid: string } }>, caller: Caller, base: string): Answer {
  const b = body(req);
  const bid = req.params.bid;
  const f = chargeFields(b);
  if (isFailure(f)) return answerFailure(f);
  if (b.useShopInterest === true || b.useShopInterest === 'true') return answerFailure(nicepayFailure('U125', 'useShopInterest는 false만 허용됩니다.'));
  if (!signDataOk(b, [`${f.orderId}${bid}`], caller.secretKey)) return answerFailure(SIGN_DATA_FAILED);
  const key = ctx.ledger.billingKey(bid);
  if (!key || key.clientId !== caller.clientId) return answerFailure(BID_NOT_FOUND, { orderId: f.orderId, bid });
  if (key.expiredAt !== null) return answerFailure(BID_GONE, { orderId: f.orderId, bid });
  const now = ctx.clock.now();
  return ctx.ledger.transaction(() => {
    if (ctx.ledger.orderIdTaken(caller.clientId, f.orderId)) return answerFailure(ORDER_ID_USED, { orderId: f.orderId, bid });
    const card = { ...key.card, cardQuota: f.quota };
    const p = newPayment(
      { tid: ctx.ledger.issueTid(caller.clientId, WINDOW_METHODS.card, now), clientId: caller.clientId, orderId: f.orderId, amount: f.amount, details: restDetails(b, f.goodsName, card, bid, f.taxFreeAmt) },
      'billing',
      now,
    );
    return settleCharge(ctx, p, chargeOutcome(f.amount, f.quota, key.chargeRule, ctx.minimumAmount), caller, base);
  });
}

function expire(ctx: NiceSimContext, req: FastifyRequest<{ Params: { bid: string } }>, caller: Caller): Answer {
  const b = body(req);
  const bid = req.params.bid;
  const orderId = text(b, 'orderId');
  if (!orderId) return answerFailure(MISSING_FIELD('orderId'));
  if (!signDataOk(b, [`${orderId}${bid}`], caller.secretKey)) return answerFailure(SIGN_DATA_FAILED);
  const now = ctx.clock.now();
  const ids = { tid: ctx.ledger.issueTid(caller.clientId, WINDOW_METHODS.card, now), orderId, bid, authDate: niceTime(now) };
  return ctx.ledger.transaction(() => {
    const key = ctx.ledger.billingKey(bid);
    if (!key || key.clientId !== caller.clientId || key.expiredAt !== null) return answerFailure(BID_GONE, ids);
    if (!ctx.ledger.takeOrderId(caller.clientId, orderId, 'expire', now)) return answerFailure(ORDER_ID_USED, ids);
    ctx.ledger.putBillingKey({ ...key, expiredAt: now });
    return { body: { resultCode: '0000', resultMsg: OK_EXPIRED, ...ids } };
  });
}
const OK_EXPIRED = '빌키가 정상적으로 삭제되었습니다.';

function keyIn(ctx: NiceSimContext, req: FastifyRequest, caller: Caller, base: string): Answer {
  const b = body(req);
  if (!ctx.keyIn) return answerFailure(nicepayFailure('A128', '키인 가맹점이 아닙니다.'));
  const f = chargeFields(b);
  if (isFailure(f)) return answerFailure(f);
  if (!signDataOk(b, [f.orderId], caller.secretKey)) return answerFailure(SIGN_DATA_FAILED);
  const checked = cardOfEncData(ctx, b, caller, f.quota, nicepayFailure('U340', 'encData 복호화에 실패하였습니다.'));
  const now = ctx.clock.now();
  return ctx.ledger.transaction(() => {
    if (ctx.ledger.orderIdTaken(caller.clientId, f.orderId)) return answerFailure(ORDER_ID_USED, { orderId: f.orderId });
    const tid = ctx.ledger.issueTid(caller.clientId, WINDOW_METHODS.card, now);
    if (isFailure(checked) && checked.resultCode.startsWith('U')) return answerFailure(checked, { orderId: f.orderId });
    const card = isFailure(checked) ? null : checked.card;
    const p = newPayment({ tid, clientId: caller.clientId, orderId: f.orderId, amount: f.amount, details: restDetails(b, f.goodsName, card, null, f.taxFreeAmt) }, 'keyin', now);
    const outcome = isFailure(checked) ? checked : chargeOutcome(f.amount, f.quota, checked.charge, ctx.minimumAmount);
    return settleCharge(ctx, p, outcome, caller, base);
  });
}

export async function nicepayBillingRoutes(app: FastifyInstance, ctx: NiceSimContext): Promise<void> {
  niceRoute(app, ctx, 'POST', '/v1/subscribe/regist', 'regist', (req, caller) => regist(ctx, req, caller));
  niceRoute(app, ctx, 'POST', '/v1/subscribe/:bid/payments', 'billing_pay', (req, caller, base) =>
    billingPay(ctx, req as FastifyRequest<{ Params: { bid: string } }>, caller, base),
  );
  niceRoute(app, ctx, 'POST', '/v1/subscribe/:bid/expire', 'expire', (req, caller) => expire(ctx, req as FastifyRequest<{ Params: { bid: string } }>, caller));
  niceRoute(app, ctx, 'POST', '/v1/key-in/payments', 'keyin', (req, caller, base) => keyIn(ctx, req, caller, base));
}
