/**
 * The payment object of spec §2, as approve, lookups, cancel, net-cancel, billing and key-in answer it
 * and as webhooks carry it: a fresh `ediDate` and `signature` on every rendering (spec §2.1).
 */
import type { SimPayment } from './ledger.js';
import { niceTime, niceTimeOrZero, paymentSignature } from './protocol.js';

export const OK_MESSAGE = '정상 처리되었습니다.';

/** The sales-slip URL NICE gives (spec §0.2), served by the simulator itself at its public base. */
export function receiptUrlOf(base: string, tid: string): string {
  return `${base}/issue/IssueLoader.do?type=0&innerWin=Y&TID=${encodeURIComponent(tid)}`;
}

export function paymentObject(p: SimPayment, o: { secretKey: string; now: number; base: string }): Record<string, unknown> {
  const ediDate = niceTime(o.now);
  const valid = p.status !== 'failed';
  const body: Record<string, unknown> = {
    resultCode: p.resultCode,
    resultMsg: p.resultMsg,
    messageSource: p.messageSource,
    tid: p.tid,
    cancelledTid: p.cancelledTid,
    orderId: p.orderId,
    ediDate,
    ...(valid ? { signature: paymentSignature(p.tid, p.amount, ediDate, o.secretKey) } : {}),
    status: p.status,
    paidAt: niceTimeOrZero(p.paidAt),
    failedAt: niceTimeOrZero(p.failedAt),
    cancelledAt: niceTimeOrZero(p.cancelledAt),
    payMethod: p.payMethod,
    amount: p.amount,
    balanceAmt: p.balanceAmt,
    goodsName: p.goodsName,
    mallReserved: p.mallReserved,
    useEscrow: p.useEscrow,
    currency: p.currency,
    channel: p.channel,
    approveNo: p.approveNo,
    buyerName: p.buyerName,
    buyerTel: p.buyerTel,
    buyerEmail: p.buyerEmail,
    receiptUrl: valid ? receiptUrlOf(o.base, p.tid) : null,
    mallUserId: p.mallUserId,
    issuedCashReceipt: false,
    coupon: null,
    card: p.card,
    vbank: p.vbank ? { ...p.vbank, vbankExpAt: undefined, vbankExpDate: p.vbank.vbankExpAt === null ? null : niceTime(p.vbank.vbankExpAt) } : null,
    bank: p.bank,
    cellphone: null,
    cancels: p.cancels.length
      ? p.cancels.map((c) => ({
          tid: c.tid,
          amount: c.amount,
          cancelledAt: niceTime(c.cancelledAt),
          reason: c.reason,
          receiptUrl: receiptUrlOf(o.base, c.tid),
          couponAmt: 0,
        }))
      : null,
    cashReceipts: null,
  };
  if (p.bid) body.bid = p.bid;
  return body;
}
