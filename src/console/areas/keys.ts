import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { DEMO_IMP_KEY, rotateApiKey } from '../../core/merchants/merchants.js';
import { sessionOf, type ConsoleOptions } from '../context.js';
import { html, type Html } from '../html.js';
import { csrfField, fmtTime, sendPage } from '../layout.js';
import { webhookSettingsSection } from './webhooks.js';


export function registerKeyRoutes(app: FastifyInstance, opts: ConsoleOptions) {
  const { deps } = opts;
  const webhookSection = webhookSettingsSection(deps);

  async function activeKeys(merchantId: string) {
    return deps.store.db.selectFrom('api_keys').select(['imp_key', 'created_at']).where('merchant_id', '=', merchantId).where('revoked_at', 'is', null).orderBy('created_at').execute();
  }

  const page = async (req: FastifyRequest, reply: FastifyReply, issued?: { impKey: string; impSecret: string }) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const keys = await activeKeys(s.merchantId);
    return sendPage(req, reply, {
      title: t('nav_keys'),
      active: 'keys',
      body: html`
        ${issued
          ? html`<section class="card highlight" id="new-secret" role="status">
              <h2>${t('new_key_issued')}</h2>
              <dl class="kv"><dt>REST API Key (imp_key)</dt><dd><code id="new-imp-key">${issued.impKey}</code></dd>
              <dt>REST API Secret (imp_secret)</dt><dd><code id="new-imp-secret" class="secret">${issued.impSecret}</code> <button type="button" class="small" data-copy="#new-imp-secret">${t('copy')}</button></dd></dl>
              <p class="alert warn">${t('secret_once')}</p>
            </section>`
          : ''}
        <section class="card">
          <h2>${t('merchant_code')}</h2>
          <p><code id="merchant-code">${s.merchantCode}</code> — <code>IMP.init('${s.merchantCode}')</code></p>
          <p class="hint">${t('merchant_code_hint')}</p>
        </section>
        <section class="card">
          <h2>${t('rest_keys')}</h2>
          <table class="list" id="keys-table"><thead><tr><th>REST API Key</th><th>REST API Secret</th><th>${t('created_at')}</th></tr></thead>
          <tbody>${keys.map((k) => html`<tr><td data-label="REST API Key"><code>${k.imp_key}</code>${k.imp_key === DEMO_IMP_KEY ? html` <span class="badge failed">${t('demo_key')}</span>` : ''}</td><td data-label="REST API Secret"><span class="masked">••••••••</span></td><td data-label="${t('created_at')}">${fmtTime(req, k.created_at)}</td></tr>`)}</tbody></table>
          <p class="hint">${t('secret_hashed')}</p>
          <form method="post" action="/console/keys/rotate" data-confirm="${t('rotate_confirm')}">
            ${csrfField(req)}
            <button type="submit" class="danger">${t('rotate')}</button>
          </form>
          <p class="hint">${t('rotate_hint')}</p>
        </section>
        ${await webhookSection(req)}`,
    });
  };

  app.get('/keys', async (req, reply) => page(req, reply));

  app.post('/keys/rotate', async (req, reply) => {
    const s = sessionOf(req);
    const issued = await rotateApiKey(req.deps, s.merchantId);
    req.log.info({ merchant: s.merchantCode, by: s.email }, 'REST API key rotated from the console');
    return page(req, reply, issued);
  });

  // ---- JSON API ----
  app.get('/api/keys', async (req) => {
    const s = sessionOf(req);
    return { ok: true, merchant_code: s.merchantCode, keys: (await activeKeys(s.merchantId)).map((k) => ({ imp_key: k.imp_key, created_at: k.created_at })) };
  });

  app.post('/api/keys/rotate', async (req) => {
    const s = sessionOf(req);
    const issued = await rotateApiKey(req.deps, s.merchantId);
    req.log.info({ merchant: s.merchantCode, by: s.email }, 'REST API key rotated from the console');
    return { ok: true, imp_key: issued.impKey, imp_secret: issued.impSecret };
  });
}
