/**
 * The payment window's routes (not V1 REST paths, all public): the SDK bundle, the checkout session
 * endpoint the SDK calls, the hosted checkout pages, the PG's return / cancel / notify endpoints,
 * and the demo shop. Registered by api/app.ts.
 *
 *   GET  /v1/iamport.js, /js/iamport.payment-1.2.0.js   the SDK (window.IMP)
 *   POST /checkout/sessions                              request_pay validation → session (CORS)
 *   POST /checkout/sessions/:id/close                    the SDK's overlay close button / closed popup (CORS)
 *   GET  /checkout/:id                                   Pier's checkout page (in the iframe, popup or page)
 *   POST /checkout/:id/start                             buyer confirmed → lock taken → form into the PG window
 *   POST /checkout/:id/close                             the checkout's own close button
 *   POST /checkout/:id/return, /checkout/:id/cancel      the PG posts the buyer back here
 *   POST /checkout/pg/:channelId/notify                  the PG's server-to-server deposit notice
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import {
  cancelCheckout,
  checkoutResult,
  completeCheckout,
  createCheckoutSession,
  expiredRsp,
  isExpired,
  loadCheckout,
  redirectUrl,
  releaseAbandonedWindows,
  reopenStartedWindow,
  startCheckout,
  type Checkout,
  type Rsp,
} from '../../core/checkout/sessions.js';
import { allowedQuotas, enabledCards } from '../../core/checkout/params.js';
import type { Deps } from '../../core/deps.js';
import type { PgSimulatorTools } from '../../lib/simulator-tools.js';
import { recordPgNotice } from '../../core/virtual-accounts/pg-notices.js';
import type { RateLimitRule } from '../../core/merchants/rate-limit.js';
import { PierError } from '../errors.js';
import { registerDemo } from './demo.js';
import { pgNoticeLimit } from './notice-limits.js';
import { autoPostPage, checkoutPage, inProgressPage, localized, missingPage, pgScriptOrigin, resultPage, toPgPage } from './pages.js';
import { ROOT, sdkBundle } from './sdk-bundle.js';

export interface CheckoutPluginOptions {
  deps: Deps;
  /** Pier's public base URL (the PG posts the buyer back to it) */
  publicUrl: string;
  /** the PGs' simulator tools, for the demo shop's "deposit" button (sandbox) */
  simulatorTools?: readonly PgSimulatorTools[];
  /** how often abandoned PG windows are handed to reconciliation; 0 = never (default 60 s) */
  sweepIntervalMs?: number;
  /** posts one client address may send the PG notify route per window (notice-limits.ts; default DEFAULT_PG_NOTICE_RATE_LIMIT) */
  pgNoticeRateLimit?: RateLimitRule;
}

const ASSETS: Record<string, { file: string; type: string }> = {
  'checkout.css': { file: 'web/checkout/checkout.css', type: 'text/css; charset=utf-8' },
  'checkout.js': { file: 'web/checkout/checkout.js', type: 'text/javascript; charset=utf-8' },
};

/** The most a POST /checkout/sessions body may hold: every REQUEST_PAY_LIMITS field at its limit in 3-byte UTF-8, with room to spare. */
const SESSION_BODY_LIMIT = 128 * 1024;

const cors = (reply: FastifyReply) =>
  reply
    .header('access-control-allow-origin', '*')
    .header('access-control-allow-methods', 'POST, GET, OPTIONS')
    .header('access-control-allow-headers', 'content-type')
    .header('access-control-max-age', '600');

function html(reply: FastifyReply, body: string, opts: { status?: number; frameOrigin?: string | null; scriptOrigin?: string | null } = {}) {
  reply
    .status(opts.status ?? 200)
    .type('text/html; charset=utf-8')
    .header('cache-control', 'no-store')
    .header('x-content-type-options', 'nosniff')
    .header('referrer-policy', 'no-referrer');
  // Only the merchant page that opened the checkout may frame it.
  const csp = opts.frameOrigin ? [`frame-ancestors ${opts.frameOrigin}`] : opts.frameOrigin === null ? ["frame-ancestors 'none'"] : [];
  // a page that loads a PG's JS SDK runs scripts from Pier and from that one origin only
  if (opts.scriptOrigin) csp.push(`script-src 'self' ${opts.scriptOrigin}`);
  if (csp.length > 0) reply.header('content-security-policy', csp.join('; '));
  return reply.send(body);
}

function flat(body: unknown): Record<string, string> {
  const out: Record<string, string> = {};
  if (body && typeof body === 'object') for (const [k, v] of Object.entries(body)) if (typeof v === 'string') out[k] = v;
  return out;
}

export async function checkoutPlugin(app: FastifyInstance, opts: CheckoutPluginOptions) {
  const { deps } = opts;
  const publicUrl = opts.publicUrl.replace(/\/+$/, '');

  // Every route here is public (no V1 access token) and stays out of the V1 OpenAPI document.
  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), public: true } as typeof route.config;
    route.schema = { ...(route.schema ?? {}), hide: true };
  });

  const assets = new Map(Object.entries(ASSETS).map(([name, a]) => [name, { body: readFileSync(join(ROOT, a.file), 'utf8'), type: a.type }]));

  // ---- the SDK ----
  const serveSdk = async (_req: FastifyRequest, reply: FastifyReply) =>
    reply
      .type('text/javascript; charset=utf-8')
      .header('cache-control', 'public, max-age=300')
      .header('access-control-allow-origin', '*')
      .send(await sdkBundle());
  app.get('/v1/iamport.js', serveSdk);
  app.get('/js/iamport.payment-1.2.0.js', serveSdk);

  app.get('/checkout/assets/:name', async (req, reply) => {
    const a = assets.get((req.params as { name: string }).name);
    if (!a) return reply.status(404).type('text/plain').send('not found');
    return reply.type(a.type).header('cache-control', 'public, max-age=300').send(a.body);
  });

  // ---- sessions (called cross-origin by the SDK) ----
  for (const url of ['/checkout/sessions', '/checkout/sessions/:id/close', '/checkout/sessions/:id/result']) {
    app.options(url, async (_req, reply) => cors(reply).status(204).send());
  }

  // A valid request_pay is a few KiB (REQUEST_PAY_LIMITS); the sender is anonymous, so a larger body
  // is refused before it is parsed. CORS headers go on first so the SDK can read that refusal too.
  app.post('/checkout/sessions', { bodyLimit: SESSION_BODY_LIMIT, onRequest: async (_req, reply) => void cors(reply) }, async (req, reply) => {
    const b = (req.body && typeof req.body === 'object' ? req.body : {}) as Record<string, unknown>;
    const ua = typeof req.headers['user-agent'] === 'string' ? req.headers['user-agent'] : null;
    const r = await createCheckoutSession(req.deps, { impCode: b.imp_code, params: b.params, mode: b.mode, origin: b.origin, userAgent: ua, clientIp: req.ip });
    if (!r.ok) {
      // the SDK reads the body whatever the status, and hands the rsp to the callback (or m_redirect_url)
      if (r.retryAfterSeconds) reply.status(429).header('retry-after', String(r.retryAfterSeconds));
      return { ok: false, rsp: r.rsp };
    }
    return { ok: true, session_id: r.sessionId, checkout_url: `${publicUrl}/checkout/${r.sessionId}`, mode: r.mode, merchant_uid: r.merchantUid };
  });

  app.post('/checkout/sessions/:id/close', async (req, reply) => {
    cors(reply);
    const { rsp } = await cancelCheckout(req.deps, (req.params as { id: string }).id);
    return { rsp };
  });

  app.get('/checkout/sessions/:id/result', async (req, reply) => {
    cors(reply);
    return { rsp: await checkoutResult(req.deps, (req.params as { id: string }).id) };
  });

  // ---- pages ----
  const windowUrls = (s: { id: string; channel_id: string }) => ({
    returnUrl: `${publicUrl}/checkout/${s.id}/return`,
    cancelUrl: `${publicUrl}/checkout/${s.id}/cancel`,
  });

  async function view(c: Checkout) {
    const merchant = await deps.store.db.selectFrom('merchants').select('name').where('id', '=', c.session.merchant_id).executeTakeFirst();
    const channel = await deps.store.db.selectFrom('pg_channels').select(['sandbox', 'provider']).where('id', '=', c.session.channel_id).executeTakeFirst();
    return {
      sessionId: c.session.id,
      params: c.params,
      merchantName: merchant?.name ?? '',
      pgLabel: channel ? deps.connectors.label(channel.provider) : '',
      sandbox: channel?.sandbox === 1,
      embedded: c.session.mode === 'overlay',
      cards: enabledCards(c.params),
      quotas: allowedQuotas(c.params),
    };
  }

  /**
   * The end of a checkout: a redirect to m_redirect_url, or a page that posts the rsp to the merchant page.
   * `viaGet`: m_redirect_url comes from an anonymous request_pay (anyone holding the merchant code), so a
   * GET, the request a link makes, redirects there only once a PG window was opened for the session;
   * otherwise Pier's own checkout URL would be an open redirect (make a session, close it, send the link).
   * The buyer's own POSTs (close, the PG's return) still redirect. Hardening only: see decision 0043.
   */
  function finish(reply: FastifyReply, c: Checkout, rsp: Rsp, viaGet = false) {
    const windowOpened = c.session.imp_uid !== null;
    if (c.session.mode === 'redirect' && c.params.m_redirect_url && (!viaGet || windowOpened)) {
      return reply.header('cache-control', 'no-store').redirect(redirectUrl(c.params.m_redirect_url, rsp), 303);
    }
    return html(reply, resultPage({ lang: c.params.language, sessionId: c.session.id, rsp, origin: c.session.origin, mode: c.session.mode, amount: c.params.amount }), {
      frameOrigin: c.session.origin,
    });
  }

  app.get('/checkout/:id', async (req, reply) => {
    const c = await loadCheckout(req.deps, (req.params as { id: string }).id);
    if (!c) return html(reply, missingPage(), { status: 404 });
    // A GET never changes a session or a payment (Back, reload and link prefetchers send them):
    // closing is a POST, which asks the PG first.
    if (c.session.state === 'done') return finish(reply, c, JSON.parse(c.session.result!), true);
    if (c.session.state === 'started') return html(reply, inProgressPage(c.params.language, c.session.id), { frameOrigin: c.session.origin });
    if (isExpired(req.deps, c.session)) return finish(reply, c, expiredRsp(c.params.merchant_uid), true);
    return html(reply, checkoutPage(await view(c)), { frameOrigin: c.session.origin });
  });

  app.post('/checkout/:id/start', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const c = await loadCheckout(req.deps, id);
    if (!c) return html(reply, missingPage(), { status: 404 });
    const b = flat(req.body);
    const chosen = { cardCode: b.card_code, agreed: b.agree === '1' };
    const en = c.params.language === 'en';
    const again = async (error: string) => html(reply, checkoutPage({ ...(await view(c)), error, chosen }), { status: 400, frameOrigin: c.session.origin });
    // Same checks, in the same order, as checkout.js, so the answer does not depend on whether the
    // script had loaded when the buyer submitted.
    if (c.session.state === 'open' && c.params.pay_method === 'card' && !b.card_code && enabledCards(c.params).length > 1) {
      return again(en ? 'Choose a card company.' : '카드사를 선택해 주세요.');
    }
    if (c.session.state === 'open' && b.agree !== '1') return again(en ? 'Please agree to the terms to continue.' : '결제를 진행하려면 약관에 동의해 주세요.');
    try {
      const r = await startCheckout(req.deps, id, { cardCode: b.card_code, clientIp: req.ip }, windowUrls);
      if (!r.ok) return finish(reply, c, r.rsp);
      return html(reply, toPgPage(c.params.language, r.form), { frameOrigin: c.session.origin, scriptOrigin: pgScriptOrigin(r.form) });
    } catch (err) {
      if (err instanceof PierError && err.kind === 'invalid_parameter') return again(localized(err.message, en));
      if (err instanceof PierError && err.kind === 'refused') {
        const done = await checkoutResult(req.deps, id);
        if (done) return finish(reply, c, done);
        // pay pressed again once the PG window was opened (a double click, a resubmitted form): the
        // same window again, or the page a GET shows; never a close (decision 0086)
        const again = await reopenStartedWindow(req.deps, id, windowUrls);
        if (again.kind === 'form') return html(reply, toPgPage(c.params.language, again.form), { frameOrigin: c.session.origin, scriptOrigin: pgScriptOrigin(again.form) });
        if (again.kind === 'in_progress') return html(reply, inProgressPage(c.params.language, c.session.id), { frameOrigin: c.session.origin });
        const { rsp } = await cancelCheckout(req.deps, id);
        return finish(reply, c, rsp);
      }
      throw err;
    }
  });

  app.post('/checkout/:id/close', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const c = await loadCheckout(req.deps, id);
    if (!c) return html(reply, missingPage(), { status: 404 });
    const { rsp } = await cancelCheckout(req.deps, id);
    return finish(reply, c, rsp);
  });

  const onReturn = async (req: FastifyRequest, reply: FastifyReply) => {
    const id = (req.params as { id: string }).id;
    const c = await loadCheckout(req.deps, id);
    if (!c) return html(reply, missingPage(), { status: 404 });
    const posted = { ...flat(req.query), ...flat(req.body) };
    const { rsp } = await completeCheckout(req.deps, id, posted);
    return finish(reply, c, rsp);
  };
  app.post('/checkout/:id/return', onReturn);

  app.post('/checkout/:id/cancel', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const c = await loadCheckout(req.deps, id);
    if (!c) return html(reply, missingPage(), { status: 404 });
    const posted = { ...flat(req.query), ...flat(req.body) };
    // a cancel post carrying a result (tPay posts U001 here) is verified like a return
    const { rsp } = posted.resultCd && c.session.state === 'started' ? await completeCheckout(req.deps, id, posted) : await cancelCheckout(req.deps, id);
    return finish(reply, c, rsp);
  });
  // A PG may send the buyer to the cancel URL with a GET. Like any GET of a checkout it changes
  // nothing (link prefetchers, scanners and Back send them): the page posts what came in the query
  // to the same URL, from the buyer's browser.
  app.get('/checkout/:id/cancel', async (req, reply) => {
    const id = (req.params as { id: string }).id;
    const c = await loadCheckout(req.deps, id);
    if (!c) return html(reply, missingPage(), { status: 404 });
    if (c.session.state === 'done') return finish(reply, c, JSON.parse(c.session.result!), true);
    return html(reply, autoPostPage(c.params.language, 'closing', `${publicUrl}/checkout/${id}/cancel`, flat(req.query)), { frameOrigin: c.session.origin });
  });

  // ---- server to server: virtual-account deposits and other PG notices (tPay form posts, NICE JSON webhooks) ----
  // anonymous: each client address within its allowance, refused before its body is read (decision 0087)
  const limitPgNotices = await pgNoticeLimit(app, deps.clock, opts.pgNoticeRateLimit);
  app.post('/checkout/pg/:channelId/notify', { onRequest: limitPgNotices }, async (req, reply) => {
    const channelId = (req.params as { channelId: string }).channelId;
    const body = req.body && typeof req.body === 'object' && !Array.isArray(req.body) ? (req.body as Record<string, unknown>) : {};
    const r = await recordPgNotice(req.deps, channelId, body);
    if (!r.ok && !r.noted) req.log.warn({ reason: r.reason, message: r.message }, 'PG notice refused');
    const answer = r.noticeAnswer;
    if (answer) {
      // A PG that expects a fixed answer (NICE: `OK`) resends until it gets it: withhold it only when
      // Pier could not read the payment back from the PG (or the channel's notices are over their
      // bound, decision 0082), where a later try can succeed. A notice that failed verification
      // changed nothing and would fail again.
      if (!r.ok && r.reason === 'pg_unavailable') return reply.status(503).type('text/plain; charset=utf-8').send('RETRY');
      return reply.type(answer.contentType).send(answer.body);
    }
    if (r.ok) return reply.type('application/json').send({ result_cd: '0000', result_msg: 'OK', imp_uid: r.impUid });
    // written on the payment for an operator (a deposit of another amount, decision 0123): received,
    // so the PG need not send it again; the payment is not paid, and the answer says why
    if (r.noted) return reply.type('application/json').send({ result_cd: '0000', result_msg: 'OK', reason: r.reason, message: r.message });
    return reply.status(r.reason === 'unverified' ? 403 : 400).type('application/json').send({ result_cd: 'FAIL', result_msg: r.message, reason: r.reason });
  });

  await registerDemo(app, { deps, publicUrl, simulatorTools: opts.simulatorTools });

  const sweepMs = opts.sweepIntervalMs ?? 60_000;
  if (sweepMs > 0) {
    const timer = setInterval(() => {
      releaseAbandonedWindows(deps).catch((err) => deps.logger.warn({ err: (err as Error).message }, 'abandoned window sweep failed'));
    }, sweepMs);
    timer.unref();
    app.addHook('onClose', async () => clearInterval(timer));
  }
}
