/**
 * The simulator's own endpoints (not NICE's): health, `/__ledger`, key enrolment, webhook URL
 * registration and retries, virtual-account deposits, fault injection and answer holds, and the
 * sales slip at NICE's receipt path. No authentication: the simulator is a test double.
 */
import type { FastifyInstance } from 'fastify';
import { esc } from '../shared/html.js';
import { body, publicBase, text, type NiceSimContext } from './context.js';
import { FAULT_KINDS, NICE_OPERATIONS, type FaultKind, type FaultWhen, type NiceOperation } from './faults.js';
import { paymentObject } from './payment-object.js';
import { paymentOfOrder } from './payment-routes.js';
import { niceTime } from './protocol.js';

const bad = (message: string) => ({ error: message });

export async function nicepayControlRoutes(app: FastifyInstance, ctx: NiceSimContext): Promise<void> {
  const { ledger, clock } = ctx;

  app.get('/__health', async () => ({ ok: true, pg: 'nicepay' }));

  app.get('/__ledger', async (req) => {
    const q = (req.query ?? {}) as Record<string, string | undefined>;
    return ledger.dump({ clientId: q.clientId || undefined, orderId: q.orderId || undefined });
  });

  app.post('/__control/keys', async (req, reply) => {
    const b = body(req);
    const clientId = text(b, 'clientId');
    const secretKey = text(b, 'secretKey');
    if (!clientId || !secretKey) return reply.code(400).send(bad('clientId and secretKey are required'));
    ledger.putKey(clientId, secretKey, clock.now(), true);
    return { clientId };
  });

  app.post('/__control/webhook', async (req, reply) => {
    const b = body(req);
    const clientId = text(b, 'clientId');
    const url = text(b, 'url');
    if (!clientId) return reply.code(400).send(bad('clientId is required'));
    if (url !== null && !/^https?:\/\//i.test(url)) return reply.code(400).send(bad('url must be http(s)'));
    ledger.setWebhookUrl(clientId, url);
    return { clientId, url };
  });

  app.post('/__control/webhooks/retry', async () => ctx.webhooks.retryDue());

  app.post('/__control/vbank/deposit', async (req, reply) => {
    const b = body(req);
    const tid = text(b, 'tid');
    const orderId = text(b, 'orderId');
    const clientId = text(b, 'clientId');
    const p = tid ? ledger.payment(tid) : orderId && clientId ? paymentOfOrder(ctx, clientId, orderId) : null;
    if (!p) return reply.code(404).send(bad('no such payment (give tid, or clientId + orderId)'));
    if (b.closedAccount === true) {
      // A fault of the PG's, on request only: the bank takes a transfer into an account NICE had
      // closed (cancelled, never paid into: no approveNo), the close not having reached it; NICE's books then hold
      // the deposit (the payment paid, its close undone) and its webhook says so (decision 0124).
      if (p.payMethod !== 'vbank' || p.status !== 'cancelled' || p.approveNo !== null) return reply.code(409).send(bad(`payment is ${p.payMethod}/${p.status}, not a vbank closed unpaid`));
      Object.assign(p, { status: 'paid', balanceAmt: p.amount, cancels: [], cancelledAt: null, cancelledTid: null, paidAt: clock.now() });
      p.approveNo = String(p.paidAt! % 100_000_000).padStart(8, '0');
      ledger.putPayment(p);
      const secretKey = ledger.secretOf(p.clientId)!;
      const base = publicBase(ctx, req);
      ctx.webhooks.notify(p, secretKey, base);
      return paymentObject(p, { secretKey, now: clock.now(), base });
    }
    if (p.payMethod !== 'vbank' || p.status !== 'ready') return reply.code(409).send(bad(`payment is ${p.payMethod}/${p.status}, not a vbank awaiting deposit`));
    const amount = b.amount === undefined ? p.amount : Number(b.amount);
    if (amount !== p.amount) return reply.code(409).send({ resultCode: '4122', resultMsg: '입금금액 불일치' });
    p.status = 'paid';
    p.paidAt = clock.now();
    p.approveNo = String(p.paidAt % 100_000_000).padStart(8, '0');
    ledger.putPayment(p);
    const secretKey = ledger.secretOf(p.clientId)!;
    const base = publicBase(ctx, req);
    ctx.webhooks.notify(p, secretKey, base);
    return paymentObject(p, { secretKey, now: clock.now(), base });
  });

  // virtual accounts issued from now on for clientId (absent = every clientId) carry no deadline
  // (`vbankExpDate: null` in every answer about them), or a deadline again with `on: false`
  app.post('/__control/vbank/no-deadline', async (req, reply) => {
    const b = body(req);
    if (typeof b.on !== 'boolean') return reply.code(400).send(bad('on must be true or false'));
    const key = text(b, 'clientId') ?? '*';
    if (b.on) ctx.vbankWithoutDeadline.add(key);
    else ctx.vbankWithoutDeadline.delete(key);
    return { noDeadline: [...ctx.vbankWithoutDeadline] };
  });

  app.get('/__control/faults', async () => ({ faults: ctx.faults.list(), held: ctx.faults.heldCount }));
  app.delete('/__control/faults', async () => {
    ctx.faults.clear();
    return { faults: [] };
  });
  app.post('/__control/faults', async (req, reply) => {
    const b = body(req);
    const op = b.op as NiceOperation;
    const kind = b.kind as FaultKind;
    const when = (b.when ?? 'after') as FaultWhen;
    const count = b.count === undefined ? 1 : Number(b.count);
    if (!NICE_OPERATIONS.includes(op)) return reply.code(400).send(bad(`op must be one of ${NICE_OPERATIONS.join(', ')}`));
    if (!FAULT_KINDS.includes(kind)) return reply.code(400).send(bad(`kind must be one of ${FAULT_KINDS.join(', ')}`));
    if (when !== 'before' && when !== 'after') return reply.code(400).send(bad('when must be before or after'));
    if (!Number.isInteger(count) || count < 1) return reply.code(400).send(bad('count must be a positive integer'));
    const resultCode = text(b, 'resultCode');
    const resultMsg = text(b, 'resultMsg');
    if (kind === 'code' && (!resultCode || !/^[0-9A-Z]{4}$/.test(resultCode) || resultCode === '0000')) {
      return reply.code(400).send(bad('kind code needs resultCode: a NICE failure code (4 characters, not 0000)'));
    }
    if (kind !== 'code' && (resultCode || resultMsg)) return reply.code(400).send(bad('resultCode and resultMsg go with kind code only'));
    ctx.faults.add({ op, kind, when, remaining: count, clientId: text(b, 'clientId') ?? undefined, ...(kind === 'code' ? { resultCode: resultCode!, ...(resultMsg ? { resultMsg } : {}) } : {}) });
    return { faults: ctx.faults.list() };
  });
  app.get('/__control/calls', async (req) => ({ calls: ctx.calls.of(((req.query ?? {}) as Record<string, string | undefined>).clientId || undefined) }));
  app.delete('/__control/calls', async () => {
    ctx.calls.clear();
    return { calls: {} };
  });
  app.post('/__control/holds/release', async () => ({ released: ctx.faults.releaseAll() }));

  // The sales slip (spec §0.2 shape). Public like NICE's: whoever has the tid may see it.
  app.get('/issue/IssueLoader.do', async (req, reply) => {
    const tid = ((req.query ?? {}) as Record<string, string | undefined>).TID ?? '';
    const p = ledger.payment(tid) ?? null;
    const cancel = p ? null : findCancel(tid);
    const payment = p ?? cancel?.payment ?? null;
    if (!payment || payment.status === 'failed') return reply.code(404).type('text/html').send('<!doctype html><meta charset="utf-8"><p>거래 내역이 없습니다.</p>');
    const rows: Array<[string, string]> = [
      ['거래번호 (TID)', tid],
      ['주문번호', payment.orderId],
      ['상품명', payment.goodsName],
      ['결제수단', payment.payMethod],
      [cancel ? '취소금액' : '결제금액', `${(cancel ? cancel.amount : payment.amount).toLocaleString('ko-KR')}원`],
      ['상태', cancel ? '취소' : payment.status],
      ['거래일시', niceTime(cancel ? cancel.cancelledAt : (payment.paidAt ?? payment.createdAt))],
    ];
    if (payment.card) rows.push(['카드', `${payment.card.cardName} ${payment.card.cardNum}`], ['승인번호', payment.approveNo ?? '']);
    return reply
      .type('text/html')
      .send(
        `<!doctype html><html lang="ko"><head><meta charset="utf-8"><title>매출전표</title></head><body><h1>NICEPAY 매출전표 (시뮬레이터)</h1><table>${rows
          .map(([k, v]) => `<tr><th>${esc(k)}</th><td>${esc(v)}</td></tr>`)
          .join('')}</table></body></html>`,
      );
  });

  function findCancel(cancelTid: string) {
    const payment = ledger.paymentOfCancel(cancelTid);
    const c = payment?.cancels.find((x) => x.tid === cancelTid);
    return payment && c ? { payment, amount: c.amount, cancelledAt: c.cancelledAt } : null;
  }
}
