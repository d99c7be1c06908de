import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PierError } from '../../api/errors.js';
import { DELIVERY_NOT_FOUND, getDelivery, listDeliveries, redeliver } from '../../webhooks/deliveries.js';
import { COUNT_CAP } from '../../store/walk.js';
import { rotateWebhookSecret, setWebhookSettings, webhookSettings } from '../../webhooks/settings.js';
import { field, sessionOf, type ConsoleOptions } from '../context.js';
import { FormError } from '../errors.js';
import { html, type Html } from '../html.js';
import type { MessageKey } from '../i18n.js';
import { csrfField, flash, fmtTime, input, select, sendPage } from '../layout.js';

const PAGE_SIZE = 20;
const STATES = ['pending', 'sending', 'delivered', 'failed'] as const;

const maskSecret = (s: string) => `${s.slice(0, 6)}••••••••${s.slice(-4)}`;

/** The webhook settings section of the API keys page: URL, content type, signing secret (masked). */
export function webhookSettingsSection(deps: ConsoleOptions['deps']) {
  return async (req: FastifyRequest, o: { secret?: string; errors?: Record<string, string>; values?: { url: string; content_type: string } } = {}): Promise<Html> => {
    const t = req.console.t;
    const s = sessionOf(req);
    const ws = await webhookSettings(req.deps, s.merchantId);
    const v = o.values ?? { url: ws.url ?? '', content_type: ws.contentType };
    return html`<section class="card" id="webhook-settings">
      <h2>${t('webhook_settings')}</h2>
      ${flash(req, { webhook_saved: 'webhook_saved' })}
      ${o.errors ? html`<p class="alert error" role="alert">${t('form_has_errors')}</p>` : ''}
      <form method="post" action="/console/keys/webhook" data-validate novalidate>
        ${csrfField(req)}
        ${input({ name: 'url', label: t('webhook_url'), type: 'text', value: v.url, error: o.errors?.url, hint: t('webhook_url_hint'), attrs: html`maxlength="2000" inputmode="url" pattern="https?://.+"` })}
        ${select({ name: 'content_type', label: 'Content-Type', value: v.content_type, options: [['json', 'application/json'], ['form', 'application/x-www-form-urlencoded']] })}
        <button type="submit" class="primary">${t('save')}</button>
      </form>
      <h3>${t('webhook_secret')}</h3>
      ${o.secret
        ? html`<p><code id="webhook-secret" class="secret">${o.secret}</code> <button type="button" class="small" data-copy="#webhook-secret">${t('copy')}</button></p>`
        : html`<p><code class="masked">${maskSecret(ws.secret)}</code></p>`}
      <p class="hint">${t('webhook_secret_hint')}</p>
      <form method="post" action="/console/keys/webhook/secret" class="inline">${csrfField(req)}<button type="submit" class="small">${t('webhook_secret_show')}</button></form>
      <form method="post" action="/console/keys/webhook/rotate" class="inline" data-confirm="${t('webhook_rotate_confirm')}">${csrfField(req)}<button type="submit" class="danger small">${t('webhook_rotate')}</button></form>
    </section>`;
  };
}

export function registerWebhookRoutes(app: FastifyInstance, { deps }: ConsoleOptions) {
  const settingsSection = webhookSettingsSection(deps);

  const keysWith = async (req: FastifyRequest, reply: FastifyReply, section: Html, status = 200) => {
    // the keys page with this section in place of the default one
    const t = req.console.t;
    return sendPage(req, reply, { title: t('nav_keys'), active: 'keys', status, body: html`<p><a href="/console/keys">← ${t('nav_keys')}</a></p>${section}` });
  };

  const saveSettings = async (merchantId: string, body: unknown) => {
    const url = field(body, 'url').trim();
    const contentType = field(body, 'content_type') === 'form' ? 'form' : 'json';
    try {
      return await setWebhookSettings(deps, merchantId, { url: url || null, contentType });
    } catch (err) {
      if (err instanceof PierError && err.kind === 'invalid_parameter') throw new FormError({ url: 'webhook_url_invalid' });
      throw err;
    }
  };

  app.post('/keys/webhook', async (req, reply) => {
    const s = sessionOf(req);
    try {
      await saveSettings(s.merchantId, req.body);
    } catch (err) {
      if (err instanceof FormError) {
        const t = req.console.t;
        return keysWith(req, reply, await settingsSection(req, { errors: { url: t(err.fields.url!) }, values: { url: field(req.body, 'url'), content_type: field(req.body, 'content_type') } }), 400);
      }
      throw err;
    }
    return reply.redirect('/console/keys?ok=webhook_saved#webhook-settings', 303);
  });

  app.post('/keys/webhook/secret', async (req, reply) => {
    const s = sessionOf(req);
    const ws = await webhookSettings(req.deps, s.merchantId);
    return keysWith(req, reply, await settingsSection(req, { secret: ws.secret }));
  });

  app.post('/keys/webhook/rotate', async (req, reply) => {
    const s = sessionOf(req);
    const ws = await rotateWebhookSecret(req.deps, s.merchantId);
    return keysWith(req, reply, await settingsSection(req, { secret: ws.secret }));
  });

  // ---- delivery log ----
  const parse = (query: unknown) => {
    const state = field(query, 'state');
    const q = field(query, 'q').trim();
    const p = field(query, 'page');
    const page = /^[1-9]\d{0,5}$/.test(p) ? Number(p) : 1;
    const validState = (STATES as readonly string[]).includes(state) ? state : undefined;
    return { state: validState, q, page, bad: state !== '' && state !== 'all' && !validState };
  };

  const list = async (merchantId: string, f: ReturnType<typeof parse>) => {
    const byImp = f.q.startsWith('imp_');
    return listDeliveries(deps.store, { merchantId, state: f.state, impUid: byImp ? f.q : undefined, merchantUid: f.q && !byImp ? f.q : undefined, limit: PAGE_SIZE, offset: (f.page - 1) * PAGE_SIZE });
  };

  const stateBadge = (req: FastifyRequest, st: string) => html`<span class="badge ${st === 'delivered' ? 'paid' : st === 'failed' ? 'failed' : 'partial'}">${req.console.t(`delivery_${st}` as MessageKey)}</span>`;

  app.get('/webhooks', async (req, reply) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const f = parse(req.query);
    if (f.bad) throw new FormError({ state: 'invalid_choice' });
    const r = await list(s.merchantId, f);
    const pages = Math.max(1, Math.ceil(r.total / PAGE_SIZE));
    const link = (n: number) => `/console/webhooks?${new URLSearchParams({ ...(f.state ? { state: f.state } : {}), ...(f.q ? { q: f.q } : {}), page: String(n) })}`;
    return sendPage(req, reply, {
      title: t('nav_webhooks'),
      active: 'webhooks',
      body: html`
        ${flash(req, { redelivered: 'webhook_redelivered' })}
        <p class="hint">${t('webhooks_intro')} <a href="/console/keys#webhook-settings">${t('webhook_settings')} →</a></p>
        <form method="get" action="/console/webhooks" class="filters card">
          ${select({ name: 'state', label: t('state'), value: f.state ?? 'all', options: [['all', t('all')], ...STATES.map((x) => [x, t(`delivery_${x}` as MessageKey)] as [string, string])] })}
          ${input({ name: 'q', label: t('search'), value: f.q, hint: 'imp_uid / merchant_uid', attrs: html`maxlength="80"` })}
          <div class="actions"><button type="submit" class="primary">${t('apply_filters')}</button></div>
        </form>
        ${r.total === 0
          ? html`<p class="empty">${t('no_deliveries')}</p>`
          : html`<p>${r.capped ? t('total_count_capped', { n: COUNT_CAP.toLocaleString('en-US') }) : t('total_count', { n: r.total })}</p>
          <table class="list" id="deliveries-table"><thead><tr><th>${t('created_at')}</th><th>imp_uid</th><th>${t('event')}</th><th>URL</th><th>${t('state')}</th><th>${t('attempts')}</th><th>${t('response_code')}</th><th></th></tr></thead><tbody>
          ${r.list.map(
            (d) => html`<tr data-delivery="${d.id}">
              <td data-label="${t('created_at')}"><a href="/console/webhooks/${d.id}">${fmtTime(req, d.created_at)}</a></td>
              <td data-label="imp_uid">${d.imp_uid ? html`<a href="/console/payments/${d.imp_uid}">${d.imp_uid}</a>` : '-'}</td>
              <td data-label="${t('event')}"><span>${d.status}${d.cause ? html` <small>(${d.cause})</small>` : ''}</span></td>
              <td data-label="URL" class="mono">${d.url ?? (d.listener_id ? `listener ${d.listener_id}` : '-')}</td>
              <td data-label="${t('state')}">${stateBadge(req, d.state)}</td>
              <td data-label="${t('attempts')}" class="num">${d.attempts}/${d.max_attempts}</td>
              <td data-label="${t('response_code')}" class="num">${d.last_status_code ?? (d.last_error ? html`<small>${d.last_error}</small>` : '-')}</td>
              <td class="row-actions">${d.listener_id ? '' : html`<form method="post" action="/console/webhooks/${d.id}/redeliver" class="inline">${csrfField(req)}<button type="submit" class="small">${t('redeliver')}</button></form>`}</td>
            </tr>`,
          )}</tbody></table>
          <nav class="pager">${r.page > 1 ? html`<a href="${link(r.page - 1)}">← ${t('prev')}</a>` : html`<span></span>`}<span>${t('page_of', { page: r.page, pages })}</span>${r.page < pages ? html`<a href="${link(r.page + 1)}">${t('next')} →</a>` : html`<span></span>`}</nav>`}`,
    });
  });

  app.get('/webhooks/:id', async (req, reply) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const { id } = req.params as { id: string };
    const d = await getDelivery(req.deps.store, id, s.merchantId);
    if (!d) throw new PierError('not_found', DELIVERY_NOT_FOUND);
    return sendPage(req, reply, {
      title: `${t('delivery')} ${d.id}`,
      active: 'webhooks',
      body: html`<p><a href="/console/webhooks">← ${t('nav_webhooks')}</a></p>
        ${flash(req, { redelivered: 'webhook_redelivered' })}
        <section class="card"><dl class="kv">
          <dt>${t('state')}</dt><dd>${stateBadge(req, d.state)}</dd>
          <dt>imp_uid</dt><dd>${d.imp_uid ? html`<a href="/console/payments/${d.imp_uid}">${d.imp_uid}</a>` : '-'}</dd>
          <dt>merchant_uid</dt><dd><code>${d.merchant_uid ?? '-'}</code></dd>
          <dt>${t('event')}</dt><dd>${d.status} (${d.cause ?? '-'})</dd>
          <dt>URL</dt><dd><code>${d.url ?? '-'}</code></dd>
          <dt>${t('attempts')}</dt><dd>${d.attempts}/${d.max_attempts}</dd>
          <dt>${t('next_attempt')}</dt><dd>${fmtTime(req, d.next_attempt_at)}</dd>
          <dt>${t('delivered_at')}</dt><dd>${fmtTime(req, d.delivered_at)}</dd>
        </dl>
        ${d.listener_id ? '' : html`<form method="post" action="/console/webhooks/${d.id}/redeliver" id="redeliver-form">${csrfField(req)}<input type="hidden" name="back" value="detail"><button type="submit" class="primary">${t('redeliver')}</button></form>`}
        </section>
        <section><h2>${t('attempt_log')}</h2>
        ${d.attempt_log.length
          ? html`<table class="list" id="attempts-table"><thead><tr><th>#</th><th>${t('requested_at')}</th><th>${t('response_code')}</th><th>${t('duration')}</th><th>${t('error')}</th><th>${t('response_body')}</th></tr></thead><tbody>
            ${d.attempt_log.map((a) => html`<tr><td data-label="#">${a.attempt}</td><td data-label="${t('requested_at')}">${fmtTime(req, a.started_at)}</td><td data-label="${t('response_code')}" class="num">${a.status_code ?? '-'}</td><td data-label="${t('duration')}" class="num">${a.duration_ms} ms</td><td data-label="${t('error')}">${a.error ?? '-'}</td><td data-label="${t('response_body')}" class="mono">${a.response_excerpt ?? ''}</td></tr>`)}
            </tbody></table>`
          : html`<p class="empty">${t('no_attempts')}</p>`}
        </section>`,
    });
  });

  app.post('/webhooks/:id/redeliver', async (req, reply) => {
    const s = sessionOf(req);
    const { id } = req.params as { id: string };
    const created = await redeliver(req.deps, id, s.merchantId);
    req.log.info({ delivery: id, created, by: s.email }, 'webhook redelivered from the console');
    const to = field(req.body, 'back') === 'detail' && created[0] ? `/console/webhooks/${created[0]}` : '/console/webhooks';
    return reply.redirect(`${to}?ok=redelivered`, 303);
  });

  // ---- JSON API ----
  app.get('/api/webhooks/settings', async (req) => {
    const s = sessionOf(req);
    const ws = await webhookSettings(req.deps, s.merchantId);
    return { ok: true, url: ws.url, content_type: ws.contentType, secret: maskSecret(ws.secret) };
  });

  app.put('/api/webhooks/settings', async (req) => {
    const s = sessionOf(req);
    const ws = await saveSettings(s.merchantId, req.body);
    return { ok: true, url: ws.url, content_type: ws.contentType, secret: maskSecret(ws.secret) };
  });

  app.post('/api/webhooks/settings/secret', async (req) => {
    const s = sessionOf(req);
    return { ok: true, secret: (await webhookSettings(req.deps, s.merchantId)).secret };
  });

  app.post('/api/webhooks/settings/rotate-secret', async (req) => {
    const s = sessionOf(req);
    return { ok: true, secret: (await rotateWebhookSecret(req.deps, s.merchantId)).secret };
  });

  app.get('/api/webhooks/deliveries', async (req) => {
    const s = sessionOf(req);
    const f = parse(req.query);
    if (f.bad) throw new FormError({ state: 'invalid_choice' });
    return { ok: true, ...(await list(s.merchantId, f)) };
  });

  app.get('/api/webhooks/deliveries/:id', async (req) => {
    const s = sessionOf(req);
    const d = await getDelivery(req.deps.store, (req.params as { id: string }).id, s.merchantId);
    if (!d) throw new PierError('not_found', DELIVERY_NOT_FOUND);
    return { ok: true, delivery: d };
  });

  app.post('/api/webhooks/deliveries/:id/redeliver', async (req) => {
    const s = sessionOf(req);
    return { ok: true, created: await redeliver(req.deps, (req.params as { id: string }).id, s.merchantId) };
  });
}
