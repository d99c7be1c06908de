import { Readable } from 'node:stream';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PierError } from '../../api/errors.js';
import { cancelPayment } from '../../core/payments/cancel.js';
import { dailyStats, exportPayments, kstDayBound, PAY_METHODS, searchPayments, type PaymentFilter } from '../../core/console/payments.js';
import { getPayment } from '../../core/payments/queries.js';
import { COUNT_CAP } from '../../store/walk.js';
import { BANK_CODES } from '../../domain/codes.js';
import { cancellableBalance, PAYMENT_STATUSES, type PaymentStatus } from '../../domain/payment.js';
import { unixSeconds } from '../../lib/clock.js';
import { field, sessionOf, type ConsoleOptions } from '../context.js';
import { FormError, Problems } from '../errors.js';
import { html, type Html } from '../html.js';
import type { MessageKey } from '../i18n.js';
import { csrfField, flash, fmtTime, fmtWon, input, pgCell, select, sendPage } from '../layout.js';
import { CSV_BOM, csvLine } from '../csv.js';

const PAGE_SIZE = 20;

export interface FilterValues {
  status: string;
  method: string;
  from: string;
  to: string;
  q: string;
}

/** Reads the list filters from a query string; bad values become field errors, not 500s. */
export function parseFilter(query: unknown): { filter: PaymentFilter; values: FilterValues; page: number; problems: Problems } {
  const values: FilterValues = { status: field(query, 'status'), method: field(query, 'method'), from: field(query, 'from'), to: field(query, 'to'), q: field(query, 'q').trim() };
  const problems = new Problems();
  const filter: PaymentFilter = {};
  if (values.status && values.status !== 'all') {
    if ((PAYMENT_STATUSES as readonly string[]).includes(values.status)) filter.status = values.status as PaymentStatus;
    else problems.add('status', 'invalid_choice');
  }
  if (values.method && values.method !== 'all') {
    if ((PAY_METHODS as readonly string[]).includes(values.method)) filter.payMethod = values.method;
    else problems.add('method', 'invalid_choice');
  }
  if (values.from) {
    const b = kstDayBound(values.from);
    if (b === null) problems.add('from', 'date_invalid');
    else filter.from = b;
  }
  if (values.to) {
    const b = kstDayBound(values.to, true);
    if (b === null) problems.add('to', 'date_invalid');
    else filter.to = b;
  }
  if (filter.from !== undefined && filter.to !== undefined && filter.from > filter.to) problems.add('to', 'date_order');
  if (values.q.length > 100) problems.add('q', 'too_long');
  else if (values.q) filter.q = values.q;
  const p = field(query, 'page');
  const page = /^[1-9]\d{0,5}$/.test(p) ? Number(p) : 1;
  return { filter, values, page, problems };
}

export function statusLabel(req: FastifyRequest, p: { status: string; cancel_amount: number }): Html {
  const t = req.console.t;
  if (p.status === 'paid' && p.cancel_amount > 0) return html`<span class="badge partial">${t('status_partial')}</span>`;
  const key = `status_${p.status}` as MessageKey;
  return html`<span class="badge ${p.status}">${t(key)}</span>`;
}

export function methodLabel(req: FastifyRequest, m: string): string {
  return (PAY_METHODS as readonly string[]).includes(m) ? req.console.t(`method_${m}` as MessageKey) : m;
}

interface CancelInput {
  amount: number | null;
  reason: string;
  refundHolder: string | null;
  refundBank: string | null;
  refundAccount: string | null;
}

/** Validates a cancel request against the payment: amount within the balance, vbank refund account. */
export function parseCancel(body: unknown, payment: { pay_method: string; amount: number; cancel_amount: number }, balance: number): CancelInput {
  const problems = new Problems();
  const rawAmount = field(body, 'amount').replace(/[,\s원₩]/g, '');
  let amount: number | null = null;
  if (rawAmount !== '') {
    if (!/^\d{1,12}$/.test(rawAmount) || Number(rawAmount) <= 0) problems.add('amount', 'amount_invalid');
    else if (Number(rawAmount) > balance) problems.add('amount', 'amount_over_balance');
    else amount = Number(rawAmount);
  }
  const reason = field(body, 'reason').trim();
  if (!reason) problems.add('reason', 'required');
  else if (reason.length > 200) problems.add('reason', 'too_long');
  let refundHolder: string | null = null;
  let refundBank: string | null = null;
  let refundAccount: string | null = null;
  if (payment.pay_method === 'vbank') {
    refundHolder = field(body, 'refund_holder').trim();
    refundBank = field(body, 'refund_bank').trim();
    refundAccount = field(body, 'refund_account').replace(/[\s-]/g, '');
    if (!refundHolder) problems.add('refund_holder', 'required');
    else if (refundHolder.length > 50) problems.add('refund_holder', 'too_long');
    if (!refundBank) problems.add('refund_bank', 'required');
    else if (!BANK_CODES.some((b) => b.code === refundBank)) problems.add('refund_bank', 'invalid_choice');
    if (!refundAccount) problems.add('refund_account', 'required');
    else if (!/^\d{6,20}$/.test(refundAccount)) problems.add('refund_account', 'account_invalid');
  }
  problems.throwIfAny();
  return { amount, reason, refundHolder, refundBank, refundAccount };
}

async function paymentRow(opts: ConsoleOptions, merchantId: string, impUid: string) {
  const row = await opts.deps.store.db.selectFrom('payments').selectAll().where('merchant_id', '=', merchantId).where('imp_uid', '=', impUid).executeTakeFirst();
  if (!row) throw new PierError('not_found', '존재하지 않는 결제정보입니다. (payment not found)');
  return row;
}

async function cancelHistory(opts: ConsoleOptions, impUid: string) {
  return opts.deps.store.db.selectFrom('payment_cancels').selectAll().where('imp_uid', '=', impUid).orderBy('id').execute();
}

export function registerPaymentRoutes(app: FastifyInstance, opts: ConsoleOptions) {
  const { deps } = opts;

  const listPage = async (req: FastifyRequest, reply: FastifyReply) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const { filter, values, page, problems } = parseFilter(req.query);
    const result = problems.any ? null : await searchPayments(req.deps, s.merchantId, filter, { page, limit: PAGE_SIZE });
    const qs = (extra: Record<string, string | number>) => {
      const p = new URLSearchParams();
      for (const [k, v] of Object.entries({ ...values, ...extra })) if (v !== '' && v !== undefined) p.set(k, String(v));
      return p.toString();
    };
    const err = (k: string) => (problems.fields[k] ? t(problems.fields[k]!) : undefined);
    const filters = html`<form method="get" action="/console/payments" class="filters card" data-validate novalidate>
      ${select({ name: 'status', label: t('status'), value: values.status || 'all', error: err('status'), options: [['all', t('all')], ...PAYMENT_STATUSES.map((st) => [st, t(`status_${st}` as MessageKey)] as [string, string])] })}
      ${select({ name: 'method', label: t('pay_method'), value: values.method || 'all', error: err('method'), options: [['all', t('all')], ...PAY_METHODS.map((m) => [m, t(`method_${m}` as MessageKey)] as [string, string])] })}
      ${input({ name: 'from', label: t('date_from'), type: 'date', value: values.from, error: err('from') })}
      ${input({ name: 'to', label: t('date_to'), type: 'date', value: values.to, error: err('to') })}
      ${input({ name: 'q', label: t('search'), value: values.q, error: err('q'), hint: t('search_hint'), attrs: html`maxlength="100"` })}
      <div class="actions"><button type="submit" class="primary">${t('apply_filters')}</button> <a href="/console/payments">${t('reset')}</a></div>
    </form>`;
    let body: Html;
    if (!result) {
      body = html`${filters}<p class="alert error" role="alert">${t('form_has_errors')}</p>`;
    } else {
      const rows = result.list.map(
        (p) => html`<tr>
          <td data-label="${t('started_at')}">${fmtTime(req, p.started_at)}</td>
          <td data-label="imp_uid"><a href="/console/payments/${p.imp_uid}">${p.imp_uid}</a></td>
          <td data-label="merchant_uid" class="mono">${p.merchant_uid}</td>
          <td data-label="${t('order_name')}">${p.name ?? '-'}</td>
          <td data-label="${t('buyer')}">${p.buyer_name ?? '-'}</td>
          <td data-label="${t('pay_method')}">${methodLabel(req, p.pay_method)}</td>
          <td data-label="${t('amount')}" class="num"><span class="amount-stack"><span class="amount-value">${fmtWon(req, p.amount)}</span>${p.cancel_amount > 0 ? html`<small class="cancelled-amount" title="${t('cancelled_amount')}">-${fmtWon(req, p.cancel_amount)}</small>` : ''}</span></td>
          <td data-label="${t('status')}">${statusLabel(req, p)}</td>
          <td data-label="PG">${pgCell(req.deps.connectors.label(p.pg_provider), p.pg_provider, p.pg_id)}</td>
        </tr>`,
      );
      body = html`${filters}
        <div class="toolbar">
          <span>${result.capped ? t('total_count_capped', { n: COUNT_CAP.toLocaleString('en-US') }) : t('total_count', { n: result.total })}</span>
          <a class="button" href="/console/payments.csv?${qs({ page: '' })}" download>${t('export_csv')}</a>
        </div>
        ${result.total === 0
          ? html`<p class="empty">${t('no_payments')}</p>`
          : html`<table class="list" id="payments-table">
          <thead><tr><th>${t('started_at')}</th><th>imp_uid</th><th>merchant_uid</th><th>${t('order_name')}</th><th>${t('buyer')}</th><th>${t('pay_method')}</th><th>${t('amount')}</th><th>${t('status')}</th><th>PG</th></tr></thead>
          <tbody>${rows}</tbody></table>
          <nav class="pager" aria-label="${t('pages')}">
            ${result.page > 1 ? html`<a rel="prev" href="/console/payments?${qs({ page: result.page - 1 })}">← ${t('prev')}</a>` : html`<span></span>`}
            <span>${t('page_of', { page: result.page, pages: result.pages })}</span>
            ${result.page < result.pages ? html`<a rel="next" href="/console/payments?${qs({ page: result.page + 1 })}">${t('next')} →</a>` : html`<span></span>`}
          </nav>`}`;
    }
    return sendPage(req, reply, { title: t('nav_payments'), active: 'payments', body, status: problems.any ? 400 : 200 });
  };

  app.get('/payments', listPage);

  app.get('/payments.csv', async (req, reply) => {
    const s = sessionOf(req);
    const { filter, problems } = parseFilter(req.query);
    problems.throwIfAny();
    const header = ['imp_uid', 'merchant_uid', 'status', 'pay_method', 'pg_provider', 'pg_id', 'pg_tid', 'name', 'amount', 'cancel_amount', 'currency', 'buyer_name', 'buyer_email', 'buyer_tel', 'card_name', 'card_number', 'apply_num', 'started_at', 'paid_at', 'failed_at', 'cancelled_at', 'fail_reason', 'cancel_reason', 'sandbox'];
    const kst = (sec: number) => (sec ? fmtTime(req, sec) : '');
    // written as it is read, a window of payments at a time: every payment, in bounded memory
    async function* file() {
      yield CSV_BOM + csvLine(header);
      for await (const rows of exportPayments(req.deps, s.merchantId, filter)) {
        yield rows.map((r) => csvLine([r.imp_uid, r.merchant_uid, r.status, r.pay_method, r.pg_provider, r.pg_id, r.pg_tid, r.name, r.amount, r.cancel_amount, r.currency, r.buyer_name, r.buyer_email, r.buyer_tel, r.card_name, r.card_number, r.apply_num, kst(r.started_at), kst(r.paid_at), kst(r.failed_at), kst(r.cancelled_at), r.fail_reason, r.cancel_reason, r.sandbox ? 'Y' : 'N'])).join('');
      }
    }
    const name = `payments-${s.merchantCode}-${new Date(req.deps.clock.now() + 9 * 3600_000).toISOString().slice(0, 10)}.csv`;
    return reply.type('text/csv; charset=utf-8').header('content-disposition', `attachment; filename="${name}"`).send(Readable.from(file(), { objectMode: false }));
  });

  const detailPage = async (req: FastifyRequest, reply: FastifyReply, impUid: string, o: { errors?: Record<string, string>; message?: string; values?: Record<string, string>; status?: number } = {}) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const row = await paymentRow(opts, s.merchantId, impUid);
    const v1 = await getPayment(req.deps, s.merchantId, impUid);
    const cancels = await cancelHistory(opts, impUid);
    const balance = cancellableBalance(row);
    const val = (k: string) => o.values?.[k] ?? '';
    const summary: Array<[string, Html | string]> = [
      [t('status'), statusLabel(req, v1)],
      [t('amount'), fmtWon(req, v1.amount)],
      [t('cancelled_amount'), fmtWon(req, v1.cancel_amount)],
      [t('cancellable_balance'), html`<strong id="balance">${fmtWon(req, balance)}</strong>`],
      [t('pay_method'), methodLabel(req, v1.pay_method)],
      ['merchant_uid', html`<code>${v1.merchant_uid}</code>`],
      [t('order_name'), v1.name ?? '-'],
      [t('buyer'), [v1.buyer_name, v1.buyer_email, v1.buyer_tel].filter(Boolean).join(' · ') || '-'],
      ['PG', html`${req.deps.connectors.label(v1.pg_provider)} <code>${v1.pg_provider}.${v1.pg_id}</code> ${v1.sandbox ? html`<span class="badge sandbox">${t('test_mode')}</span>` : ''}`],
      ['pg_tid', html`<code>${v1.pg_tid ?? '-'}</code>`],
      [t('card'), v1.card_name ? `${v1.card_name} ${v1.card_number ?? ''}` : '-'],
      ...(v1.pay_method === 'vbank' ? ([[t('vbank'), `${v1.vbank_name ?? ''} ${v1.vbank_num ?? ''} (${v1.vbank_holder ?? ''}) ${t('due')} ${fmtTime(req, v1.vbank_date)}`]] as Array<[string, string]>) : []),
      [t('started_at'), fmtTime(req, v1.started_at)],
      [t('paid_at'), fmtTime(req, v1.paid_at)],
      // a note on an open payment (a deposit of another amount the PG reported, decision 0123) shows too
      [t('failed_at'), v1.failed_at ? `${fmtTime(req, v1.failed_at)} ${v1.fail_reason ?? ''}` : (v1.fail_reason ?? '-')],
      [t('cancelled_at'), fmtTime(req, v1.cancelled_at)],
    ];
    const stateKey = (st: string) => `cancel_state_${st}` as MessageKey;
    const history = cancels.length
      ? html`<table class="list" id="cancel-history"><thead><tr><th>${t('requested_at')}</th><th>${t('amount')}</th><th>${t('reason')}</th><th>${t('state')}</th><th>cancellation_id</th><th>pg_tid</th></tr></thead><tbody>
        ${cancels.map(
          (c) => html`<tr>
            <td data-label="${t('requested_at')}">${fmtTime(req, c.requested_at)}</td>
            <td data-label="${t('amount')}" class="num">${fmtWon(req, c.amount)}</td>
            <td data-label="${t('reason')}">${c.reason ?? '-'}${c.refund_account ? html`<br><small>${t('refund_account')}: ${c.refund_bank} ${c.refund_account} ${c.refund_holder}</small>` : ''}</td>
            <td data-label="${t('state')}"><span class="badge cancel-${c.state}">${t(stateKey(c.state))}</span>${c.fail_reason ? html`<br><small>${c.fail_reason}</small>` : ''}</td>
            <td data-label="cancellation_id" class="mono">${c.cancellation_id}</td>
            <td data-label="pg_tid" class="mono">${c.pg_tid ?? '-'}</td>
          </tr>`,
        )}</tbody></table>`
      : html`<p class="empty">${t('no_cancels')}</p>`;
    const err = (k: string) => o.errors?.[k];
    const cancelForm =
      row.status === 'paid' && balance > 0
        ? html`<form method="post" action="/console/payments/${impUid}/cancel" class="card" id="cancel-form" data-validate novalidate data-confirm="${t('cancel_confirm')}">
          ${csrfField(req)}
          ${input({ name: 'amount', label: t('cancel_amount'), type: 'text', value: val('amount'), error: err('amount'), hint: t('cancel_amount_hint', { balance: fmtWon(req, balance) }), attrs: html`inputmode="numeric" pattern="[0-9,]*" data-max="${balance}"` })}
          ${input({ name: 'reason', label: t('reason'), value: val('reason'), error: err('reason'), attrs: html`required maxlength="200"` })}
          ${row.pay_method === 'vbank'
            ? html`<fieldset><legend>${t('refund_account')}</legend>
              ${input({ name: 'refund_holder', label: t('refund_holder'), value: val('refund_holder'), error: err('refund_holder'), attrs: html`required maxlength="50"` })}
              ${select({ name: 'refund_bank', label: t('refund_bank'), value: val('refund_bank'), error: err('refund_bank'), options: [['', t('choose')], ...BANK_CODES.map((b) => [b.code, `${b.name} (${b.code})`] as [string, string])], attrs: html`required` })}
              ${input({ name: 'refund_account', label: t('refund_account_number'), value: val('refund_account'), error: err('refund_account'), attrs: html`required inputmode="numeric" maxlength="30"` })}
            </fieldset>`
            : ''}
          <button type="submit" class="danger">${t('do_cancel')}</button>
        </form>`
        : html`<p class="hint">${t('not_cancellable')}</p>`;
    return sendPage(req, reply, {
      title: `${t('payment')} ${impUid}`,
      active: 'payments',
      status: o.status,
      body: html`<p><a href="/console/payments">← ${t('nav_payments')}</a></p>
        ${flash(req, { cancelled: 'cancel_done' })}
        ${o.message ? html`<p class="alert error" role="alert" id="cancel-error">${o.message}</p>` : ''}
        <div class="grid2">
          <section class="card"><h2>${t('summary')}</h2><dl class="kv">${summary.map(([k, v]) => html`<dt>${k}</dt><dd>${v}</dd>`)}</dl></section>
          <section class="card"><h2>${t('cancel')}</h2>${cancelForm}</section>
        </div>
        <section><h2>${t('cancel_history')}</h2>${history}</section>
        <section><h2>${t('v1_object')}</h2><details open><summary>GET /payments/${impUid}</summary><pre class="json" id="v1-json">${JSON.stringify(v1, null, 2)}</pre></details></section>`,
    });
  };

  app.get('/payments/:impUid', async (req, reply) => detailPage(req, reply, (req.params as { impUid: string }).impUid));

  const doCancel = async (req: FastifyRequest, impUid: string) => {
    const s = sessionOf(req);
    const row = await paymentRow(opts, s.merchantId, impUid);
    const input = parseCancel(req.body, row, cancellableBalance(row));
    return cancelPayment(req.deps, {
      merchantId: s.merchantId,
      impUid,
      amount: input.amount,
      reason: input.reason,
      refundHolder: input.refundHolder,
      refundBank: input.refundBank,
      refundAccount: input.refundAccount,
      // V1 always sends the `cancelled` webhook for a refund made in the console (spec §13)
      enableWebhook: true,
      by: 'console',
    });
  };

  app.post('/payments/:impUid/cancel', async (req, reply) => {
    const { impUid } = req.params as { impUid: string };
    const values = Object.fromEntries(['amount', 'reason', 'refund_holder', 'refund_bank', 'refund_account'].map((k) => [k, field(req.body, k)]));
    try {
      await doCancel(req, impUid);
    } catch (err) {
      const t = req.console.t;
      if (err instanceof FormError) {
        const errors = Object.fromEntries(Object.entries(err.fields).map(([k, v]) => [k, t(v!)]));
        return detailPage(req, reply, impUid, { errors, values, message: t('form_has_errors'), status: 400 });
      }
      if (err instanceof PierError && err.kind !== 'not_found') {
        return detailPage(req, reply, impUid, { values, message: err.message, status: err.kind === 'pg_unavailable' ? 502 : 409 });
      }
      throw err;
    }
    return reply.redirect(`/console/payments/${encodeURIComponent(impUid)}?ok=cancelled`, 303);
  });

  // ---- JSON API ----
  app.get('/api/payments', async (req) => {
    const s = sessionOf(req);
    const { filter, page, problems } = parseFilter(req.query);
    problems.throwIfAny();
    const limitRaw = field(req.query, 'limit');
    const limit = /^\d{1,3}$/.test(limitRaw) && Number(limitRaw) >= 1 && Number(limitRaw) <= 100 ? Number(limitRaw) : PAGE_SIZE;
    return { ok: true, ...(await searchPayments(req.deps, s.merchantId, filter, { page, limit })) };
  });

  app.get('/api/payments/:impUid', async (req) => {
    const s = sessionOf(req);
    const { impUid } = req.params as { impUid: string };
    const row = await paymentRow(opts, s.merchantId, impUid);
    const payment = await getPayment(req.deps, s.merchantId, impUid);
    const cancels = await cancelHistory(opts, impUid);
    return { ok: true, payment, cancellableBalance: cancellableBalance(row), cancels };
  });

  app.post('/api/payments/:impUid/cancel', async (req) => {
    const { impUid } = req.params as { impUid: string };
    const r = await doCancel(req, impUid);
    return { ok: true, cancellationId: r.cancellationId, payment: r.payment };
  });

  app.get('/api/stats/daily', async (req) => {
    const s = sessionOf(req);
    const d = field(req.query, 'days');
    if (d && !(/^\d{1,2}$/.test(d) && Number(d) >= 1 && Number(d) <= 90)) throw new FormError({ days: 'days_invalid' });
    return { ok: true, days: await dailyStats(req.deps, s.merchantId, unixSeconds(req.deps.clock), d ? Number(d) : 14) };
  });
}
