/**
 * The Start API's payment REST calls (spec §1.6, §4, §5, §7): approve, lookups by tid and orderId,
 * cancel, net-cancel and access tokens. JSON both ways, Basic (or Bearer) auth, business failures as
 * HTTP 200 with `resultCode ≠ 0000` (spec §8.12), faults per docs/simulator-nicepay.md.
 */
import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { chargeOutcome, declineOf, isFailure, otherOutcome, SYSTEM_FAILURE, type ChargeOutcome, type NiceFailure } from './card-rules.js';
import {
  authenticate,
  body,
  parseAmount,
  publicBase,
  sendUnauthorized,
  signDataOk,
  text,
  type Caller,
  type Json,
  type NiceSimContext,
} from './context.js';
import { codeFaultBody, send5xx, sendGarbage, type NiceOperation } from './faults.js';
import type { SimAuth, SimPayment } from './ledger.js';
import { OK_MESSAGE, paymentObject } from './payment-object.js';
import { niceTime, WINDOW_METHODS } from './protocol.js';

/** What a handler produced: the JSON answer, its HTTP status, and whether the answer is then lost. */
export interface Answer {
  status?: number;
  body: Json;
  lose?: 'timeout' | '5xx' | 'garbage';
}

export const answerFailure = (f: NiceFailure, extra: Json = {}, status = 200): Answer => ({
  status,
  body: { resultCode: f.resultCode, resultMsg: f.resultMsg, messageSource: f.messageSource, ...extra },
});

export const MISSING_FIELD = (field: string): NiceFailure => ({ resultCode: 'U100', resultMsg: `필수 파라미터(${field})가 누락되었습니다.`, messageSource: 'nicepay' });
/**
 * The first of `limits` (field → bytes) that a body's text exceeds, as NICE's `U105` "필드 최대길이
 * 초과[max, realLength]" (spec §8): NICE's limits are bytes and an over-long field is refused, not
 * cut. The simulator counts UTF-8 bytes, the strictest reading (decision 0133); null when all fit.
 */
export function overLongField(b: Json, limits: Record<string, number>): NiceFailure | null {
  for (const [field, max] of Object.entries(limits)) {
    const v = b[field];
    if (typeof v !== 'string') continue;
    const realLength = Buffer.byteLength(v, 'utf8');
    if (realLength > max) return { resultCode: 'U105', resultMsg: `필드 최대길이 초과[max:${max}, realLength:${realLength}](${field})`, messageSource: 'nicepay' };
  }
  return null;
}
export const SIGN_DATA_FAILED: NiceFailure = { resultCode: 'A101', resultMsg: 'SIGN DATA 검증에 실패하였습니다.', messageSource: 'nicepay' };
export const ORDER_ID_USED: NiceFailure = { resultCode: 'U112', resultMsg: '이미 사용된 OrderId 입니다.', messageSource: 'nicepay' };
const NO_TRANSACTION: NiceFailure = { resultCode: 'U107', resultMsg: '거래 내역이 존재하지 않습니다.', messageSource: 'nicepay' };

/** The answer loss a charge outcome asks for. */
export function lossOf(outcome: ChargeOutcome): Answer['lose'] {
  if (outcome.kind === 'slow') return 'timeout';
  if (outcome.kind === 'lost_5xx') return '5xx';
  if (outcome.kind === 'lost_garbage') return 'garbage';
  return undefined;
}

/**
 * Registers a REST call: authenticates the caller, applies a queued fault before or after the
 * handler, and sends the answer (or loses it).
 */
export function niceRoute(
  app: FastifyInstance,
  ctx: NiceSimContext,
  method: 'GET' | 'POST',
  url: string,
  op: NiceOperation,
  handler: (req: FastifyRequest, caller: Caller, base: string) => Answer,
  opts: { basicOnly?: boolean } = {},
): void {
  app.route({
    method,
    url,
    handler: async (req, reply) => {
      const caller = authenticate(ctx, req, opts);
      if (!caller) return sendUnauthorized(reply);
      ctx.calls.count(op, caller.clientId);
      const fault = ctx.faults.take(op, caller.clientId);
      if (fault?.when === 'before') {
        req.log.warn({ op, fault: fault.kind }, 'nicepay simulator: injected fault before processing');
        if (fault.kind === '5xx') return send5xx(reply);
        if (fault.kind === 'garbage') return sendGarbage(reply);
        if (fault.kind === 'code') return reply.code(200).type('application/json;charset=utf-8').send(codeFaultBody(fault, body(req)));
        const stillThere = await ctx.faults.hold(reply);
        return stillThere ? send5xx(reply) : reply;
      }
      const answer = handler(req, caller, publicBase(ctx, req));
      // processed and recorded as usual; only the answer is NICE's failure code
      if (fault?.kind === 'code') return sendAnswer(ctx, reply, { body: codeFaultBody(fault, answer.body) }, undefined);
      const lose = fault ? (fault.kind as Answer['lose']) : answer.lose;
      return sendAnswer(ctx, reply, answer, lose);
    },
  });
}

async function sendAnswer(ctx: NiceSimContext, reply: FastifyReply, answer: Answer, lose: Answer['lose']): Promise<FastifyReply> {
  if (lose === '5xx') return send5xx(reply);
  if (lose === 'garbage') return sendGarbage(reply);
  if (lose === 'timeout' && !(await ctx.faults.hold(reply))) return reply;
  return reply.code(answer.status ?? 200).type('application/json;charset=utf-8').send(answer.body);
}

export function paymentAnswer(ctx: NiceSimContext, p: SimPayment, caller: Caller, base: string, lose?: Answer['lose']): Answer {
  return { body: paymentObject(p, { secretKey: caller.secretKey, now: ctx.clock.now(), base }), lose };
}

/** A payment row for an attempt, before its outcome is applied. */
export function newPayment(a: Pick<SimAuth, 'tid' | 'clientId' | 'orderId' | 'amount' | 'details'>, kind: SimPayment['kind'], now: number): SimPayment {
  return {
    ...a.details,
    tid: a.tid,
    clientId: a.clientId,
    orderId: a.orderId,
    kind,
    status: 'paid',
    resultCode: '0000',
    resultMsg: OK_MESSAGE,
    messageSource: 'nicepay',
    amount: a.amount,
    balanceAmt: a.amount,
    approveNo: null,
    paidAt: null,
    failedAt: null,
    cancelledAt: null,
    cancelledTid: null,
    cancels: [],
    createdAt: now,
  };
}

/**
 * Applies a charge outcome to a new payment and records it: a decline is a `failed` payment, a
 * system error records nothing, anything else is paid (`ready` for a virtual account) — including
 * the outcomes whose answer is then lost, so a lookup finds the approval.
 */
export function settleCharge(ctx: NiceSimContext, p: SimPayment, outcome: ChargeOutcome | NiceFailure, caller: Caller, base: string): Answer {
  const now = ctx.clock.now();
  if (!isFailure(outcome) && outcome.kind === 'system_error') return answerFailure(SYSTEM_FAILURE, { tid: p.tid, orderId: p.orderId });
  const failure = isFailure(outcome) ? outcome : outcome.kind === 'decline' ? declineOf(outcome) : null;
  if (failure) {
    Object.assign(p, { status: 'failed', resultCode: failure.resultCode, resultMsg: failure.resultMsg, messageSource: failure.messageSource, failedAt: now, balanceAmt: 0 });
    ctx.ledger.putPayment(p);
    return paymentAnswer(ctx, p, caller, base);
  }
  p.status = p.payMethod === 'vbank' ? 'ready' : 'paid';
  p.paidAt = now;
  p.approveNo = p.payMethod === 'vbank' ? null : String(now % 100_000_000).padStart(8, '0');
  ctx.ledger.putPayment(p);
  ctx.webhooks.notify(p, caller.secretKey, base);
  return paymentAnswer(ctx, p, caller, base, lossOf(outcome as ChargeOutcome));
}

function approve(ctx: NiceSimContext, req: FastifyRequest<{ Params: { tid: string } }>, caller: Caller, base: string): Answer {
  const b = body(req);
  const tid = req.params.tid;
  if (b.amount === undefined || b.amount === null || b.amount === '') return answerFailure(MISSING_FIELD('amount'));
  const amount = parseAmount(b.amount);
  if (amount === null) return answerFailure({ resultCode: 'A116', resultMsg: '유효하지 않은 금액입니다.', messageSource: 'nicepay' });
  if (!signDataOk(b, [`${tid}${amount}`], caller.secretKey)) return answerFailure(SIGN_DATA_FAILED);
  const auth = ctx.ledger.auth(tid);
  if (!auth || auth.clientId !== caller.clientId) {
    const paid = ctx.ledger.payment(tid);
    if (paid && paid.clientId === caller.clientId) return answerFailure({ resultCode: 'U114', resultMsg: '이미 사용된 TID 입니다.', messageSource: 'nicepay' }, { tid, orderId: paid.orderId });
    return answerFailure({ resultCode: 'U121', resultMsg: '인증 요청 내역이 존재하지 않습니다.', messageSource: 'nicepay' }, { tid }, 404);
  }
  const ids = { tid, orderId: auth.orderId };
  const now = ctx.clock.now();
  if (auth.state === 'approved') return answerFailure({ resultCode: 'U114', resultMsg: '이미 사용된 TID 입니다.', messageSource: 'nicepay' }, ids);
  if (auth.state === 'void') return answerFailure({ resultCode: 'U504', resultMsg: '결제 실패(망취소)', messageSource: 'nicepay' }, ids);
  if (now - auth.createdAt > ctx.authTtlMs) return answerFailure({ resultCode: 'A245', resultMsg: '인증 시간이 초과되었습니다.', messageSource: 'nicepay' }, ids);
  if (amount !== auth.amount) {
    return answerFailure({ resultCode: 'A123', resultMsg: '거래금액 불일치(인증된 금액과 승인요청 금액 불일치)', messageSource: 'nicepay' }, ids);
  }
  if (ctx.ledger.orderIdTaken(caller.clientId, auth.orderId)) return answerFailure(ORDER_ID_USED, ids);
  const outcome =
    auth.details.payMethod === 'card' ? chargeOutcome(amount, auth.details.card?.cardQuota ?? 0, auth.rule, ctx.minimumAmount) : otherOutcome(amount);
  // a system error records nothing and leaves the tid approvable; any other outcome spends it
  const spent = isFailure(outcome) || outcome.kind !== 'system_error';
  return ctx.ledger.transaction(() => {
    if (spent) ctx.ledger.putAuth({ ...auth, state: 'approved' });
    return settleCharge(ctx, newPayment(auth, 'window', now), outcome, caller, base);
  });
}

function lookupByTid(ctx: NiceSimContext, req: FastifyRequest<{ Params: { tid: string } }>, caller: Caller, base: string): Answer {
  const q = (req.query ?? {}) as Json;
  const tid = req.params.tid;
  if (!signDataOk(q, [tid], caller.secretKey)) return answerFailure({ ...SIGN_DATA_FAILED, resultCode: 'U312' });
  const p = ctx.ledger.payment(tid);
  if (!p || p.clientId !== caller.clientId) return answerFailure(NO_TRANSACTION, { tid }, 404);
  return paymentAnswer(ctx, p, caller, base);
}

/**
 * The payment of an orderId (spec §5.2): the newest attempt that is not a decline, else the newest
 * declined window/key-in attempt (a declined billing charge is found by tid only, [E2]).
 */
export function paymentOfOrder(ctx: NiceSimContext, clientId: string, orderId: string): SimPayment | null {
  const attempts = ctx.ledger.paymentsByOrder(clientId, orderId);
  return attempts.find((p) => p.status !== 'failed') ?? attempts.find((p) => p.kind !== 'billing') ?? null;
}

function lookupByOrder(ctx: NiceSimContext, req: FastifyRequest<{ Params: { orderId: string } }>, caller: Caller, base: string): Answer {
  const q = (req.query ?? {}) as Json;
  const orderId = req.params.orderId;
  const p = paymentOfOrder(ctx, caller.clientId, orderId);
  // both published formulas: orderId-based ([E2]) and tid-based (official manual)
  if (!signDataOk(q, p ? [orderId, p.tid] : [orderId], caller.secretKey)) return answerFailure({ ...SIGN_DATA_FAILED, resultCode: 'U312' });
  if (!p) return answerFailure(NO_TRANSACTION, { orderId }, 404);
  return paymentAnswer(ctx, p, caller, base);
}

const CANCEL_FAILURE = {
  notFound: { resultCode: 'U122', resultMsg: '취소할 거래가 존재하지 않습니다.' },
  failed: { resultCode: '2014', resultMsg: '취소 불가 거래입니다.' },
  already: { resultCode: '2013', resultMsg: '이미 취소된 거래입니다.' },
  amount: { resultCode: '2010', resultMsg: '취소금액이 0원 이하입니다.' },
  over: { resultCode: 'U123', resultMsg: '취소 요청 금액이 취소 가능 금액보다 큽니다.' },
  sandbox: { resultCode: 'U128', resultMsg: '부분취소는 운영 환경에서 이용 가능합니다.' },
  vbankPartial: { resultCode: '2031', resultMsg: '입금 전 가상계좌는 전체 취소만 가능합니다.' },
  phonePartial: { resultCode: '2029', resultMsg: '부분취소가 불가능한 결제수단입니다.' },
  taxFreeOver: { resultCode: 'U319', resultMsg: '면세 취소 요청 금액이 취소 가능 면세금액보다 큽니다.' },
  taxFreeOverAmount: { resultCode: 'U321', resultMsg: '면세금액이 취소 요청 금액보다 큽니다.' },
  refundAccount: { resultCode: 'U100', resultMsg: '필수 파라미터(refundAccount, refundBankCode, refundHolder)가 누락되었습니다.' },
} as const;
const cancelFailure = (k: keyof typeof CANCEL_FAILURE, extra: Json): Answer => answerFailure({ ...CANCEL_FAILURE[k], messageSource: 'nicepay' }, extra);

/** Cancels `amount` of a payment (the whole balance when null) and records it; the answer is the payment after it. */
export function applyCancel(
  ctx: NiceSimContext,
  p: SimPayment,
  c: { orderId: string; amount: number | null; reason: string; netCancel: boolean; taxFreeAmt?: number },
  caller: Caller,
  base: string,
): Answer {
  const now = ctx.clock.now();
  const amount = c.amount ?? p.balanceAmt;
  // a cancel of everything left takes the tax-free part left with it; otherwise what was sent (spec §4.1)
  const taxFreeAmt = c.amount === null ? taxFreeLeft(p) : (c.taxFreeAmt ?? 0);
  const cancelTid = ctx.ledger.issueTid(p.clientId, WINDOW_METHODS[p.payMethod], now);
  p.cancels.push({ tid: cancelTid, orderId: c.orderId, amount, cancelledAt: now, reason: c.reason, netCancel: c.netCancel, taxFreeAmt });
  p.balanceAmt -= amount;
  p.status = p.balanceAmt === 0 ? 'cancelled' : 'partialCancelled';
  p.cancelledAt = now;
  p.cancelledTid = cancelTid;
  p.resultCode = '0000';
  p.resultMsg = OK_MESSAGE;
  ctx.ledger.putPayment(p);
  ctx.webhooks.notify(p, caller.secretKey, base);
  return paymentAnswer(ctx, p, caller, base);
}

/** The tax-free part of a payment not cancelled yet. */
function taxFreeLeft(p: SimPayment): number {
  return (p.taxFreeAmt ?? 0) - p.cancels.reduce((sum, c) => sum + (c.taxFreeAmt ?? 0), 0);
}

function cancel(ctx: NiceSimContext, req: FastifyRequest<{ Params: { tid: string } }>, caller: Caller, base: string): Answer {
  const b = body(req);
  const tid = req.params.tid;
  const reason = text(b, 'reason');
  const orderId = text(b, 'orderId');
  if (!reason) return answerFailure(MISSING_FIELD('reason'));
  if (!orderId) return answerFailure(MISSING_FIELD('orderId'));
  const tooLong = overLongField(b, { reason: 100, orderId: 64 });
  if (tooLong) return answerFailure(tooLong);
  if (!signDataOk(b, [tid], caller.secretKey)) return answerFailure(SIGN_DATA_FAILED);
  return ctx.ledger.transaction(() => {
    const p = ctx.ledger.payment(tid);
    const ids = { tid, orderId };
    if (!p || p.clientId !== caller.clientId) return cancelFailure('notFound', ids);
    // the cancel's orderId is spent even when the cancel then fails ([E2], spec §0.6)
    if (!ctx.ledger.takeOrderId(caller.clientId, orderId, 'cancel', ctx.clock.now())) return answerFailure(ORDER_ID_USED, ids);
    const hasAmount = b.cancelAmt !== undefined && b.cancelAmt !== null && b.cancelAmt !== '';
    if (hasAmount && ctx.strictSandbox) return cancelFailure('sandbox', ids);
    if (p.status === 'failed') return cancelFailure('failed', ids);
    if (p.status === 'cancelled') return cancelFailure('already', ids);
    const amount = hasAmount ? parseAmount(b.cancelAmt) : null;
    if (hasAmount && amount === null) return cancelFailure('amount', ids);
    if (amount !== null && amount > p.balanceAmt) return cancelFailure('over', ids);
    const partial = amount !== null && amount < p.balanceAmt;
    if (partial && p.status === 'ready') return cancelFailure('vbankPartial', ids);
    if (partial && p.payMethod === 'cellphone') return cancelFailure('phonePartial', ids);
    const hasTaxFree = b.taxFreeAmt !== undefined && b.taxFreeAmt !== null && b.taxFreeAmt !== '';
    const taxFreeAmt = hasTaxFree ? Number(b.taxFreeAmt) : 0;
    if (!Number.isSafeInteger(taxFreeAmt) || taxFreeAmt < 0) return cancelFailure('amount', ids);
    if (taxFreeAmt > (amount ?? p.balanceAmt)) return cancelFailure('taxFreeOverAmount', ids);
    if (taxFreeAmt > taxFreeLeft(p)) return cancelFailure('taxFreeOver', ids);
    if (p.payMethod === 'vbank' && p.status !== 'ready' && !(text(b, 'refundAccount') && text(b, 'refundBankCode') && text(b, 'refundHolder'))) {
      return cancelFailure('refundAccount', ids);
    }
    return applyCancel(ctx, p, { orderId, amount, reason, netCancel: false, taxFreeAmt }, caller, base);
  });
}

/**
 * Net-cancel by orderId (spec §5.3): cancels what is left of the order's approval made within the
 * window; an already cancelled order answers `0000` with the cancelled payment (safe to re-run, OUR
 * DESIGN). Pending window authentications of the orderId are voided so a late approve cannot charge.
 */
function netCancel(ctx: NiceSimContext, req: FastifyRequest, caller: Caller, base: string): Answer {
  const b = body(req);
  const orderId = text(b, 'orderId') ?? text(b, 'orderID');
  if (!orderId) return answerFailure(MISSING_FIELD('orderId'));
  if (!signDataOk(b, [orderId], caller.secretKey)) return answerFailure(SIGN_DATA_FAILED);
  return ctx.ledger.transaction(() => {
    for (const a of ctx.ledger.pendingAuthsOf(caller.clientId, orderId)) ctx.ledger.putAuth({ ...a, state: 'void' });
    const p = ctx.ledger.paymentsByOrder(caller.clientId, orderId).find((x) => x.status !== 'failed');
    if (!p) return answerFailure(NO_TRANSACTION, { orderId }, 404);
    if (p.status === 'cancelled') return paymentAnswer(ctx, p, caller, base);
    if (ctx.clock.now() - p.createdAt > ctx.netCancelWindowMs) {
      return answerFailure({ resultCode: '2020', resultMsg: '망취소 허용시간을 초과하였습니다.', messageSource: 'nicepay' }, { tid: p.tid, orderId });
    }
    return applyCancel(ctx, p, { orderId, amount: null, reason: '망취소', netCancel: true }, caller, base);
  });
}

const TOKEN_TTL_MS = 30 * 60_000;

/** `POST /v1/access-token` (spec §7): Basic only; the same token while it is valid, 30 minutes. */
function accessToken(ctx: NiceSimContext, caller: Caller): Answer {
  const now = ctx.clock.now();
  const existing = ctx.ledger.tokenFor(caller.clientId, now);
  const token = existing ?? { token: randomBytes(20).toString('hex'), expiresAt: now + TOKEN_TTL_MS };
  if (!existing) ctx.ledger.putToken(token.token, caller.clientId, token.expiresAt);
  return {
    body: {
      resultCode: '0000',
      resultMsg: OK_MESSAGE,
      accessToken: token.token,
      tokenType: 'Bearer',
      expireAt: niceTime(token.expiresAt),
      now: niceTime(now),
    },
  };
}

export async function nicepayPaymentRoutes(app: FastifyInstance, ctx: NiceSimContext): Promise<void> {
  niceRoute(app, ctx, 'POST', '/v1/access-token', 'access_token', (_req, caller) => accessToken(ctx, caller), { basicOnly: true });
  niceRoute(app, ctx, 'POST', '/v1/payments/netcancel', 'netcancel', (req, caller, base) => netCancel(ctx, req, caller, base));
  niceRoute(app, ctx, 'GET', '/v1/payments/find/:orderId', 'find', (req, caller, base) =>
    lookupByOrder(ctx, req as FastifyRequest<{ Params: { orderId: string } }>, caller, base),
  );
  niceRoute(app, ctx, 'POST', '/v1/payments/:tid/cancel', 'cancel', (req, caller, base) =>
    cancel(ctx, req as FastifyRequest<{ Params: { tid: string } }>, caller, base),
  );
  niceRoute(app, ctx, 'GET', '/v1/payments/:tid', 'payment', (req, caller, base) =>
    lookupByTid(ctx, req as FastifyRequest<{ Params: { tid: string } }>, caller, base),
  );
  niceRoute(app, ctx, 'POST', '/v1/payments/:tid', 'approve', (req, caller, base) =>
    approve(ctx, req as FastifyRequest<{ Params: { tid: string } }>, caller, base),
  );
}
