import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PierError } from '../../api/errors.js';
import { deleteBillingKey, getCustomer } from '../../core/billing-keys/billing-keys.js';
import { listCustomerPayments } from '../../core/payments/queries.js';
import { searchBillingKeys } from '../../core/console/billing-keys.js';
import { COUNT_CAP } from '../../store/walk.js';
import { field, sessionOf, type ConsoleOptions } from '../context.js';
import { Problems } from '../errors.js';
import { html } from '../html.js';
import { csrfField, flash, fmtTime, fmtWon, input, pgCell, sendPage } from '../layout.js';
import { methodLabel, statusLabel } from './payments.js';

const PAGE_SIZE = 20;

/**
 * A billing key's console page: its customer_uid in the query, never in the path. V1 takes `.` and
 * `..` as a customer_uid (decision 0054) and a key stored by an earlier Pier may hold `/`; a browser
 * resolves such a path segment (`/console/billing-keys/..` is `/console/`, `%2E%2E` included, as
 * the WHATWG URL parser does) before the request leaves it, so the page could not be reached
 * (decision 0111). `/console/billing-keys/{customer_uid}` still answers for links made before.
 */
export const billingKeyHref = (customerUid: string) => `/console/billing-key?${new URLSearchParams({ customer_uid: customerUid })}`;

/** the customer_uid a query or a form names ('' when none: no key has it, a 404) */
const customerUidOf = (from: unknown) => field(from, 'customer_uid');
const customerUidParam = (req: FastifyRequest) => (req.params as { customerUid: string }).customerUid;

export function registerBillingKeyRoutes(app: FastifyInstance, opts: ConsoleOptions) {
  const { deps } = opts;

  async function list(merchantId: string, query: unknown) {
    const q = field(query, 'q').trim();
    const problems = new Problems();
    if (q.length > 100) problems.add('q', 'too_long');
    problems.throwIfAny();
    const p = field(query, 'page');
    const page = /^[1-9]\d{0,5}$/.test(p) ? Number(p) : 1;
    return { q, ...(await searchBillingKeys(deps, merchantId, q, { page, limit: PAGE_SIZE })) };
  }

  app.get('/billing-keys', async (req, reply) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const r = await list(s.merchantId, req.query);
    const link = (page: number) => `/console/billing-keys?${new URLSearchParams({ ...(r.q ? { q: r.q } : {}), page: String(page) })}`;
    return sendPage(req, reply, {
      title: t('nav_billing'),
      active: 'billing',
      body: html`
        ${flash(req, { deleted: 'billing_key_deleted' })}
        <form method="get" action="/console/billing-keys" class="filters card">
          ${input({ name: 'q', label: t('search'), value: r.q, hint: t('billing_search_hint'), attrs: html`maxlength="100"` })}
          <div class="actions"><button type="submit" class="primary">${t('apply_filters')}</button></div>
        </form>
        <p>${r.capped ? t('total_count_capped', { n: COUNT_CAP.toLocaleString('en-US') }) : t('total_count', { n: r.total })}</p>
        ${r.total === 0
          ? html`<p class="empty">${t('no_billing_keys')}</p>`
          : html`<table class="list" id="billing-table"><thead><tr><th>customer_uid</th><th>${t('card')}</th><th>${t('customer')}</th><th>PG</th><th>${t('updated_at')}</th></tr></thead><tbody>
            ${r.list.map(
              (c) => html`<tr>
                <td data-label="customer_uid"><a href="${billingKeyHref(c.customer_uid)}">${c.customer_uid}</a></td>
                <td data-label="${t('card')}">${c.card_name ?? '-'} ${c.card_number ?? ''}</td>
                <td data-label="${t('customer')}">${c.customer_name ?? '-'}</td>
                <td data-label="PG">${pgCell(req.deps.connectors.label(c.pg_provider), c.pg_provider, c.pg_id)}</td>
                <td data-label="${t('updated_at')}">${fmtTime(req, c.updated)}</td>
              </tr>`,
            )}</tbody></table>
            <nav class="pager">${r.page > 1 ? html`<a href="${link(r.page - 1)}">← ${t('prev')}</a>` : html`<span></span>`}<span>${t('page_of', { page: r.page, pages: r.pages })}</span>${r.page < r.pages ? html`<a href="${link(r.page + 1)}">${t('next')} →</a>` : html`<span></span>`}</nav>`}`,
    });
  });

  const detail = async (req: FastifyRequest, reply: FastifyReply, customerUid: string, message?: string, status?: number) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const c = await getCustomer(req.deps, s.merchantId, customerUid);
    const payments = await listCustomerPayments(req.deps, s.merchantId, customerUid, { page: 1, limit: 20 });
    return sendPage(req, reply, {
      title: `${t('billing_key')} ${customerUid}`,
      active: 'billing',
      status,
      body: html`<p><a href="/console/billing-keys">← ${t('nav_billing')}</a></p>
        ${message ? html`<p class="alert error" role="alert">${message}</p>` : ''}
        <div class="grid2">
          <section class="card"><h2>${t('summary')}</h2><dl class="kv">
            <dt>customer_uid</dt><dd><code>${c.customer_uid}</code></dd>
            <dt>${t('card')}</dt><dd>${c.card_name ?? '-'} ${c.card_number ?? ''}</dd>
            <dt>${t('customer')}</dt><dd>${[c.customer_name, c.customer_email, c.customer_tel].filter(Boolean).join(' · ') || '-'}</dd>
            <dt>PG</dt><dd>${req.deps.connectors.label(c.pg_provider)} <code>${c.pg_provider}.${c.pg_id}</code></dd>
            <dt>${t('created_at')}</dt><dd>${fmtTime(req, c.inserted)}</dd>
            <dt>${t('updated_at')}</dt><dd>${fmtTime(req, c.updated)}</dd>
          </dl></section>
          <section class="card"><h2>${t('delete_billing_key')}</h2>
            <p class="hint">${t('delete_billing_key_hint')}</p>
            <form method="post" action="/console/billing-key/delete" id="delete-billing-key" data-confirm="${t('delete_billing_key_confirm', { uid: customerUid })}">
              ${csrfField(req)}<input type="hidden" name="customer_uid" value="${customerUid}">
              <button type="submit" class="danger">${t('delete')}</button>
            </form>
          </section>
        </div>
        <section><h2>${t('customer_payments')}</h2>
          ${payments.list.length
            ? html`<table class="list"><thead><tr><th>imp_uid</th><th>merchant_uid</th><th>${t('pay_method')}</th><th>${t('amount')}</th><th>${t('status')}</th><th>${t('started_at')}</th></tr></thead><tbody>
              ${payments.list.map((p) => html`<tr><td data-label="imp_uid"><a href="/console/payments/${p.imp_uid}">${p.imp_uid}</a></td><td data-label="merchant_uid" class="mono">${p.merchant_uid}</td><td data-label="${t('pay_method')}">${methodLabel(req, p.pay_method)}</td><td data-label="${t('amount')}" class="num">${fmtWon(req, p.amount)}</td><td data-label="${t('status')}">${statusLabel(req, p)}</td><td data-label="${t('started_at')}">${fmtTime(req, p.started_at)}</td></tr>`)}
              </tbody></table>`
            : html`<p class="empty">${t('no_payments')}</p>`}
        </section>
        <section><h2>${t('v1_object')}</h2><details><summary>GET /subscribe/customers/${customerUid}</summary><pre class="json">${JSON.stringify(c, null, 2)}</pre></details></section>`,
    });
  };

  app.get('/billing-key', async (req, reply) => detail(req, reply, customerUidOf(req.query)));
  app.get('/billing-keys/:customerUid', async (req, reply) => detail(req, reply, customerUidParam(req)));

  const remove = async (req: FastifyRequest, reply: FastifyReply, customerUid: string) => {
    const s = sessionOf(req);
    try {
      await deleteBillingKey(req.deps, s.merchantId, customerUid);
    } catch (err) {
      if (err instanceof PierError && err.kind === 'pg_unavailable') return detail(req, reply, customerUid, err.message, 502);
      // its channel was removed: the key is still at the PG, and the page says how to reach it
      if (err instanceof PierError && err.kind === 'refused') return detail(req, reply, customerUid, err.message, 409);
      throw err;
    }
    return reply.redirect('/console/billing-keys?ok=deleted', 303);
  };

  app.post('/billing-key/delete', async (req, reply) => remove(req, reply, customerUidOf(req.body)));
  app.post('/billing-keys/:customerUid/delete', async (req, reply) => remove(req, reply, customerUidParam(req)));

  // ---- JSON API ----
  app.get('/api/billing-keys', async (req) => {
    const s = sessionOf(req);
    return { ok: true, ...(await list(s.merchantId, req.query)) };
  });

  app.get('/api/billing-key', async (req) => {
    const s = sessionOf(req);
    return { ok: true, customer: await getCustomer(req.deps, s.merchantId, customerUidOf(req.query)) };
  });

  app.delete('/api/billing-key', async (req) => {
    const s = sessionOf(req);
    return { ok: true, customer: await deleteBillingKey(req.deps, s.merchantId, customerUidOf(req.query)) };
  });

  // the forms before decision 0111, kept for scripts; an id that is a dot segment needs the above
  app.get('/api/billing-keys/:customerUid', async (req) => {
    const s = sessionOf(req);
    return { ok: true, customer: await getCustomer(req.deps, s.merchantId, customerUidParam(req)) };
  });

  app.delete('/api/billing-keys/:customerUid', async (req) => {
    const s = sessionOf(req);
    return { ok: true, customer: await deleteBillingKey(req.deps, s.merchantId, customerUidParam(req)) };
  });
}
