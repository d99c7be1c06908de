import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PierError } from '../../api/errors.js';
import { kstDayBound } from '../../core/console/payments.js';
import { listSchedules, unschedule } from '../../core/schedules/schedules.js';
import type { Deps } from '../../core/deps.js';
import { CUSTOMER_UID_STORED_MAX_CHARS } from '../../domain/merchant-ids.js';
import { field, locationSafe, sessionOf } from '../context.js';
import { Problems } from '../errors.js';
import { html } from '../html.js';
import type { MessageKey } from '../i18n.js';
import { csrfField, flash, fmtTime, fmtWon, input, select, sendPage } from '../layout.js';
import { billingKeyHref } from './billing-keys.js';

const PAGE_SIZE = 20;
const STATUSES = ['scheduled', 'executed', 'revoked'] as const;

/** Schedule filters: customer_uid, a KST date range on schedule_at, status. */
function parse(query: unknown) {
  const values = { customer_uid: field(query, 'customer_uid').trim(), from: field(query, 'from'), to: field(query, 'to'), status: field(query, 'status') };
  const p = new Problems();
  let from = 0;
  let to = 253402300799; // 9999-12-31
  if (values.from) {
    const b = kstDayBound(values.from);
    if (b === null) p.add('from', 'date_invalid');
    else from = b;
  }
  if (values.to) {
    const b = kstDayBound(values.to, true);
    if (b === null) p.add('to', 'date_invalid');
    else to = b + 1;
  }
  if (from > to) p.add('to', 'date_order');
  // a filter finds stored keys, so it takes any name one could have been stored under (decision 0068)
  if ([...values.customer_uid].length > CUSTOMER_UID_STORED_MAX_CHARS) p.add('customer_uid', 'too_long');
  let status: (typeof STATUSES)[number] | null = null;
  if (values.status && values.status !== 'all') {
    if ((STATUSES as readonly string[]).includes(values.status)) status = values.status as (typeof STATUSES)[number];
    else p.add('status', 'invalid_choice');
  }
  const pg = field(query, 'page');
  const page = /^[1-9]\d{0,5}$/.test(pg) ? Number(pg) : 1;
  return { values, problems: p, q: { from, to, status, page, limit: PAGE_SIZE, customerUid: values.customer_uid || undefined } };
}

export function registerScheduleRoutes(app: FastifyInstance) {
  const page = async (req: FastifyRequest, reply: FastifyReply, message?: string, status?: number) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const { values, problems, q } = parse(req.query);
    const result = problems.any ? null : await listSchedules(req.deps, s.merchantId, q);
    const err = (k: string) => (problems.fields[k] ? t(problems.fields[k]!) : undefined);
    const link = (n: number) => `/console/schedules?${new URLSearchParams({ ...Object.fromEntries(Object.entries(values).filter(([, v]) => v)), page: String(n) })}`;
    // the page to come back to after a revoke, without the last revoke's `ok` (twice, it is an
    // array and no notice shows)
    const backQuery = new URLSearchParams(req.url.startsWith('/console/schedules?') ? req.url.slice('/console/schedules?'.length) : '');
    backQuery.delete('ok');
    const back = backQuery.size ? `/console/schedules?${backQuery}` : '/console/schedules';
    return sendPage(req, reply, {
      title: t('nav_schedules'),
      active: 'schedules',
      status: status ?? (problems.any ? 400 : 200),
      body: html`
        ${flash(req, { revoked: 'schedule_revoke_done' })}
        ${message ? html`<p class="alert error" role="alert">${message}</p>` : ''}
        <form method="get" action="/console/schedules" class="filters card" data-validate novalidate>
          ${input({ name: 'customer_uid', label: 'customer_uid', value: values.customer_uid, error: err('customer_uid'), attrs: html`maxlength="80"` })}
          ${select({ name: 'status', label: t('status'), value: values.status || 'all', error: err('status'), options: [['all', t('all')], ...STATUSES.map((x) => [x, t(`schedule_state_${x}` as MessageKey)] as [string, string])] })}
          ${input({ name: 'from', label: t('schedule_from'), type: 'date', value: values.from, error: err('from') })}
          ${input({ name: 'to', label: t('schedule_to'), type: 'date', value: values.to, error: err('to') })}
          <div class="actions"><button type="submit" class="primary">${t('apply_filters')}</button> <a href="/console/schedules">${t('reset')}</a></div>
        </form>
        ${!result
          ? html`<p class="alert error" role="alert">${t('form_has_errors')}</p>`
          : result.total === 0
            ? html`<p class="empty">${t('no_schedules')}</p>`
            : html`<p>${t('total_count', { n: result.total })}</p>
            <table class="list" id="schedules-table"><thead><tr><th>${t('schedule_at')}</th><th>customer_uid</th><th>merchant_uid</th><th>${t('amount')}</th><th>${t('status')}</th><th>${t('payment')}</th><th></th></tr></thead><tbody>
            ${result.list.map(
              (x) => html`<tr data-merchant-uid="${x.merchant_uid}">
                <td data-label="${t('schedule_at')}">${fmtTime(req, x.schedule_at)}</td>
                <td data-label="customer_uid"><a href="${billingKeyHref(x.customer_uid)}">${x.customer_uid}</a></td>
                <td data-label="merchant_uid" class="mono">${x.merchant_uid}</td>
                <td data-label="${t('amount')}" class="num">${fmtWon(req, x.amount)}</td>
                <td data-label="${t('status')}"><span class="badge ${x.schedule_status === 'executed' ? (x.payment_status === 'failed' ? 'failed' : 'paid') : x.schedule_status === 'revoked' ? 'cancelled' : 'partial'}">${t(`schedule_state_${x.schedule_status}` as MessageKey)}</span>${x.fail_reason ? html`<br><small>${x.fail_reason}</small>` : ''}</td>
                <td data-label="${t('payment')}">${x.imp_uid ? html`<a href="/console/payments/${x.imp_uid}">${x.imp_uid}</a>` : '-'}</td>
                <td class="row-actions">${x.schedule_status === 'scheduled'
                  ? html`<form method="post" action="/console/schedules/revoke" class="inline" data-confirm="${t('schedule_revoke_confirm', { uid: x.merchant_uid })}">${csrfField(req)}<input type="hidden" name="merchant_uid" value="${x.merchant_uid}"><input type="hidden" name="back" value="${back}"><button type="submit" class="danger small">${t('schedule_revoke')}</button></form>`
                  : ''}</td>
              </tr>`,
            )}</tbody></table>
            <nav class="pager">${q.page > 1 ? html`<a href="${link(q.page - 1)}">← ${t('prev')}</a>` : html`<span></span>`}<span>${t('page_of', { page: q.page, pages: Math.max(1, Math.ceil(result.total / PAGE_SIZE)) })}</span>${result.next ? html`<a href="${link(result.next)}">${t('next')} →</a>` : html`<span></span>`}</nav>`}`,
    });
  };

  app.get('/schedules', async (req, reply) => page(req, reply));

  const revoke = async (deps: Deps, merchantId: string, merchantUid: string) => {
    const row = await deps.store.db.selectFrom('payment_schedules').select(['customer_uid']).where('merchant_id', '=', merchantId).where('merchant_uid', '=', merchantUid).executeTakeFirst();
    if (!row) throw new PierError('not_found', '존재하지 않는 예약결제 정보입니다. (no such schedule)');
    return unschedule(deps, merchantId, { customerUid: row.customer_uid, merchantUids: [merchantUid] });
  };

  /**
   * The schedule's merchant_uid travels in the form, not the path: V1 takes `.`, `..`, `/`, `?`, `#`
   * and `%` in one, and a browser resolves a `.` or `..` segment (`%2E` too) before the request
   * leaves it, so the revoke reached another URL (decision 0111). The path form stays for old links.
   */
  const revokeForm = async (req: FastifyRequest, reply: FastifyReply, merchantUid: string) => {
    const s = sessionOf(req);
    try {
      await revoke(req.deps, s.merchantId, merchantUid);
    } catch (err) {
      if (err instanceof PierError && err.kind === 'refused') return page(req, reply, err.message, 409);
      throw err;
    }
    const back = field(req.body, 'back');
    const to = (back.startsWith('/console/schedules') && !back.includes('//') && locationSafe(back)) || '/console/schedules';
    return reply.redirect(`${to}${to.includes('?') ? '&' : '?'}ok=revoked`, 303);
  };

  app.post('/schedules/revoke', async (req, reply) => revokeForm(req, reply, field(req.body, 'merchant_uid')));
  app.post('/schedules/:merchantUid/revoke', async (req, reply) => revokeForm(req, reply, (req.params as { merchantUid: string }).merchantUid));

  // ---- JSON API ----
  app.get('/api/schedules', async (req) => {
    const s = sessionOf(req);
    const { problems, q } = parse(req.query);
    problems.throwIfAny();
    return { ok: true, ...(await listSchedules(req.deps, s.merchantId, q)) };
  });

  app.post('/api/schedules/revoke', async (req) => {
    const s = sessionOf(req);
    return { ok: true, revoked: await revoke(req.deps, s.merchantId, field(req.body, 'merchant_uid')) };
  });

  app.post('/api/schedules/:merchantUid/revoke', async (req) => {
    const s = sessionOf(req);
    const { merchantUid } = req.params as { merchantUid: string };
    return { ok: true, revoked: await revoke(req.deps, s.merchantId, merchantUid) };
  });
}
