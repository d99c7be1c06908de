import { randomBytes } from 'node:crypto';
import type { FastifyInstance, FastifyRequest } from 'fastify';
import { LOCKOUT_SECONDS, LOCKOUT_THRESHOLD, normalizeEmail, signIn } from '../../core/console/users.js';
import { attemptBuckets, RateLimitedError, takeAttempt, type Attempt } from '../../core/merchants/rate-limit.js';
import { createSession, deleteSession } from '../../core/console/sessions.js';
import { field, guardCookieOptions, langCookieOptions, locationSafe, type ConsoleOptions } from '../context.js';
import { html } from '../html.js';
import { input, sendPage } from '../layout.js';
import { SESSION_MAX_SECONDS } from '../../core/console/sessions.js';

/** Only console paths on this origin: no open redirects. */
export function safeNext(next: unknown): string {
  if (typeof next !== 'string' || !next.startsWith('/console') || next.startsWith('//') || next.includes('\\')) return '/console';
  if (next.startsWith('/console/login') || next.startsWith('/console/api')) return '/console';
  return locationSafe(next) ?? '/console';
}

export function registerAuthRoutes(app: FastifyInstance, { deps }: ConsoleOptions) {
  const loginPage = (req: FastifyRequest, reply: import('fastify').FastifyReply, o: { email?: string; error?: string; fields?: Record<string, string>; status?: number; next?: string }) => {
    const t = req.console.t;
    let pre = req.cookies[req.console.cookies.preCsrf];
    if (!pre || pre.length < 20) {
      pre = randomBytes(24).toString('base64url');
      reply.setCookie(req.console.cookies.preCsrf, pre, guardCookieOptions(req));
    }
    const ok = (req.query as Record<string, unknown>).ok;
    return sendPage(req, reply, {
      title: t('sign_in_title'),
      status: o.status,
      body: html`
        ${ok === 'signed_out' ? html`<p class="alert ok" role="status">${t('signed_out')}</p>` : ''}
        ${o.error ? html`<p class="alert error" role="alert" id="login-error">${o.error}</p>` : ''}
        <form method="post" action="/console/login" class="card narrow" novalidate data-validate>
          <input type="hidden" name="_csrf" value="${pre}">
          <input type="hidden" name="next" value="${o.next ?? safeNext((req.query as Record<string, unknown>).next)}">
          ${input({ name: 'email', label: t('email'), type: 'email', value: o.email, error: o.fields?.email, attrs: html`autocomplete="username" required maxlength="200"` })}
          ${input({ name: 'password', label: t('password'), type: 'password', error: o.fields?.password, attrs: html`autocomplete="current-password" required maxlength="200"` })}
          <button type="submit" class="primary">${t('sign_in')}</button>
        </form>
        <p class="hint">${req.deps.mode === 'sandbox' ? t('sign_in_hint_sandbox') : t('sign_in_hint')}</p>`,
    });
  };

  app.get('/login', { config: { consoleAnon: true } }, async (req, reply) => {
    if (req.console.session) return reply.redirect(safeNext((req.query as Record<string, unknown>).next), 303);
    return loginPage(req, reply, {});
  });

  app.post('/login', { config: { consoleAnon: true } }, async (req, reply) => {
    const t = req.console.t;
    const email = field(req.body, 'email').trim();
    const password = field(req.body, 'password');
    const next = safeNext(field(req.body, 'next'));
    const fields: Record<string, string> = {};
    if (!email) fields.email = t('required');
    if (!password) fields.password = t('required');
    if (Object.keys(fields).length) return loginPage(req, reply, { email, fields, error: t('form_has_errors'), status: 400, next });
    let attempt: Attempt;
    try {
      attempt = await takeAttempt(req.deps.store, req.deps.clock, attemptBuckets('console', req.ip, normalizeEmail(email), req.deps.rateLimits));
    } catch (err) {
      if (!(err instanceof RateLimitedError)) throw err;
      reply.header('retry-after', String(err.retryAfterSeconds));
      return loginPage(req, reply, { email, error: t('too_many_attempts', { seconds: String(err.retryAfterSeconds) }), status: 429, next });
    }
    const result = await signIn(req.deps, email, password);
    if (result.outcome === 'ok') await attempt.succeeded();
    // a locked account answers as a wrong password does, word for word (decision 0052): an e-mail
    // without an account is never locked, so a distinct answer would tell which e-mails have one
    if (result.outcome !== 'ok') return loginPage(req, reply, { email, error: t('bad_credentials', { n: LOCKOUT_THRESHOLD, minutes: LOCKOUT_SECONDS / 60 }), status: 401, next });
    await deleteSession(req.deps, req.cookies[req.console.cookies.session]);
    const s = await createSession(req.deps, result.user.id, result.user.merchant_id);
    reply.setCookie(req.console.cookies.session, s.token, guardCookieOptions(req, SESSION_MAX_SECONDS));
    return reply.redirect(next, 303);
  });

  app.post('/logout', async (req, reply) => {
    await deleteSession(req.deps, req.cookies[req.console.cookies.session]);
    reply.clearCookie(req.console.cookies.session, guardCookieOptions(req));
    return reply.redirect('/console/login?ok=signed_out', 303);
  });

  app.get('/lang/:lang', { config: { consoleAnon: true } }, async (req, reply) => {
    const { lang } = req.params as { lang: string };
    reply.setCookie(req.console.cookies.lang, lang === 'en' ? 'en' : 'ko', langCookieOptions(req, 365 * 86400));
    return reply.redirect(safeNext((req.query as Record<string, unknown>).next), 303);
  });

  // ---- JSON API ----
  app.get('/api/session', async (req) => {
    const s = req.console.session!;
    return { ok: true, user: { email: s.email }, merchant: { code: s.merchantCode, name: s.merchantName }, csrfToken: s.csrfToken, expiresAt: s.expiresAt };
  });

  app.post('/api/logout', async (req, reply) => {
    await deleteSession(req.deps, req.cookies[req.console.cookies.session]);
    reply.clearCookie(req.console.cookies.session, guardCookieOptions(req));
    return { ok: true };
  });
}
