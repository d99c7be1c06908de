import cookie from '@fastify/cookie';
import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PierError, httpStatusOf } from '../api/errors.js';
import { loadSession } from '../core/console/sessions.js';
import { registerAssets } from './assets.js';
import { registerAccountRoutes } from './areas/account.js';
import { registerAuthRoutes } from './areas/auth.js';
import { registerBillingKeyRoutes } from './areas/billing-keys.js';
import { registerChannelRoutes } from './areas/channels.js';
import { registerDashboardRoutes } from './areas/dashboard.js';
import { registerKeyRoutes } from './areas/keys.js';
import { registerPaymentRoutes } from './areas/payments.js';
import { registerSandboxRoutes } from './areas/sandbox.js';
import { registerScheduleRoutes } from './areas/schedules.js';
import { registerWebhookRoutes } from './areas/webhooks.js';
import { cookieSchemeOf, guardCookieOptions, isApi, sameToken, type ConsoleOptions } from './context.js';
import { FormError } from './errors.js';
import { pathOf } from '../lib/logger.js';
import { translate, type Lang } from './i18n.js';
import { errorPage } from './layout.js';

const SECURITY_HEADERS = {
  'content-security-policy':
    "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; frame-ancestors 'none'; form-action 'self'; base-uri 'none'",
  'x-frame-options': 'DENY',
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'same-origin',
  // a page of another site that opened the console (window.open, a link with target) keeps no
  // handle on it: it could otherwise watch it and send the tab to a look-alike sign-in page
  // (decision 0105). Only the console: the checkout's popup hands its result to window.opener.
  'cross-origin-opener-policy': 'same-origin',
  // no other site may embed a console answer (an <img>/<script> of a CSV or JSON sent with a
  // same-site cookie) into its own process
  'cross-origin-resource-policy': 'same-origin',
};

/**
 * The merchant console, registered under `/console`: HTML pages (forms, no client framework) and
 * a JSON API under `/console/api`. Not V1 routes: each is `config.public` for the V1 token hook,
 * and this plugin enforces its own session cookie and CSRF token instead.
 */
export async function consolePlugin(app: FastifyInstance, opts: ConsoleOptions): Promise<void> {
  const { deps } = opts;
  const cookies = cookieSchemeOf(opts.publicUrl);
  // registered in the console's scope only: no route outside /console parses or sets a cookie
  await app.register(cookie);

  app.addHook('onRoute', (route) => {
    route.config = { ...(route.config as object), public: true };
    route.schema = { ...(route.schema ?? {}), hide: true };
  });

  app.decorateRequest('console', null as never);

  app.addHook('onRequest', async (req, reply) => {
    const lang = langOf(req, cookies.lang);
    req.console = { lang, cookies, session: null, t: (key, vars) => translate(lang, key, vars) };
    reply.headers(SECURITY_HEADERS);
    reply.header('cache-control', 'no-store');
    // a retired cookie is never read (it may have been planted by a sibling subdomain or over
    // http); the one Pier set before the switch is cleared, and its holder signs in again
    for (const r of cookies.retired) {
      if (req.cookies[r.name] !== undefined) reply.clearCookie(r.name, { path: r.path, httpOnly: true, sameSite: 'lax', secure: true });
    }
    req.console.session = await loadSession(req.deps, req.cookies[cookies.session]);
    if (req.routeOptions.config?.consoleAnon || !req.routeOptions.url) return;
    if (!req.console.session) {
      if (isApi(req)) return reply.code(401).send({ ok: false, error: { code: 'unauthorized', message: req.console.t('api_no_session') } });
      if (req.console.session === null && req.cookies[cookies.session]) reply.clearCookie(cookies.session, guardCookieOptions(req));
      const next = req.method === 'GET' ? `?next=${encodeURIComponent(req.url)}` : '';
      return reply.redirect(`/console/login${next}`, 303);
    }
  });

  // CSRF: every state-changing request echoes the session's token (form `_csrf` or `x-csrf-token`);
  // the sign-in form, which has no session yet, echoes a per-browser cookie token instead.
  app.addHook('preHandler', async (req, reply) => {
    if (req.method === 'GET' || req.method === 'HEAD' || !req.routeOptions.url) return;
    const sent = (req.headers['x-csrf-token'] as string | undefined) || bodyToken(req.body);
    const expected = req.routeOptions.config?.consoleAnon ? req.cookies[cookies.preCsrf] : req.console.session?.csrfToken;
    if (sameToken(sent, expected)) return;
    req.log.warn({ url: pathOf(req.url) }, 'console request refused: missing or wrong CSRF token');
    if (isApi(req)) return reply.code(403).send({ ok: false, error: { code: 'csrf', message: req.console.t('csrf_failed') } });
    return reply.code(403).type('text/html; charset=utf-8').send(errorPage(req, 403, req.console.t('csrf_failed')).toString());
  });

  app.setErrorHandler((err, req, reply) => {
    const t = req.console?.t ?? ((k: never) => k);
    let status = 500;
    let code = 'internal';
    let message = req.console ? req.console.t('internal_error', { id: req.id }) : 'internal error';
    let fields: Record<string, string> | undefined;
    if (err instanceof FormError) {
      status = 400;
      code = 'invalid';
      message = t(err.messageKey);
      fields = Object.fromEntries(Object.entries(err.fields).map(([k, v]) => [k, t(v!)]));
    } else if (err instanceof PierError) {
      status = { not_found: 404, invalid_parameter: 400, unauthorized: 401, refused: 409, card_refused: 409, pg_unavailable: 502, not_supported: 501 }[err.kind as string] ?? httpStatusOf(err);
      code = err.kind;
      message = err.message;
    } else if ((err as { statusCode?: number }).statusCode && (err as { statusCode: number }).statusCode < 500) {
      status = (err as { statusCode: number }).statusCode;
      code = 'bad_request';
      message = t('bad_request');
    } else {
      req.log.error({ err }, 'console request failed');
    }
    if (isApi(req) || !req.console) return reply.code(status).send({ ok: false, error: { code, message, ...(fields ? { fields } : {}) } });
    return reply.code(status).type('text/html; charset=utf-8').send(errorPage(req, status, message).toString());
  });

  app.setNotFoundHandler(async (req, reply) => {
    if (!req.console) {
      const lang = langOf(req, cookies.lang);
      req.console = { lang, cookies, session: null, t: (key, vars) => translate(lang, key, vars) };
      reply.headers(SECURITY_HEADERS);
    }
    if (isApi(req)) return reply.code(404).send({ ok: false, error: { code: 'not_found', message: req.console.t('not_found') } });
    return reply.code(404).type('text/html; charset=utf-8').send(errorPage(req, 404, req.console.t('not_found')).toString());
  });

  registerAssets(app);
  registerAuthRoutes(app, opts);
  registerAccountRoutes(app, opts);
  registerDashboardRoutes(app, opts);
  registerPaymentRoutes(app, opts);
  registerChannelRoutes(app, opts);
  registerKeyRoutes(app, opts);
  registerBillingKeyRoutes(app, opts);
  registerScheduleRoutes(app);
  registerWebhookRoutes(app, opts);
  registerSandboxRoutes(app, opts);
}

function bodyToken(body: unknown): string | undefined {
  const v = (body as Record<string, unknown> | null | undefined)?._csrf;
  return typeof v === 'string' ? v : undefined;
}

function langOf(req: FastifyRequest, cookieName: string): Lang {
  const q = (req.query as Record<string, unknown> | undefined)?.lang;
  if (q === 'en' || q === 'ko') return q;
  const c = req.cookies?.[cookieName];
  return c === 'en' ? 'en' : 'ko';
}

export type { FastifyReply };
