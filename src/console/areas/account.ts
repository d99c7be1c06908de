import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { changeOwnPassword, MIN_PASSWORD_LENGTH } from '../../core/console/users.js';
import { createSession, SESSION_MAX_SECONDS } from '../../core/console/sessions.js';
import { field, guardCookieOptions, sessionOf, type ConsoleOptions } from '../context.js';
import { FormError, Problems } from '../errors.js';
import { html } from '../html.js';
import type { MessageKey } from '../i18n.js';
import { csrfField, flash, input, sendPage } from '../layout.js';

type Outcome = { outcome: 'ok' } | { outcome: 'locked' };

/**
 * The signed-in user's own account: the password change (decision 0108). The current password is
 * required and counts toward the lockout when wrong; a change ends every session of the user and
 * gives this browser a new one.
 */
export function registerAccountRoutes(app: FastifyInstance, _opts: ConsoleOptions) {
  const page = (req: FastifyRequest, reply: FastifyReply, o: { errors?: Partial<Record<string, MessageKey>>; status?: number } = {}) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const err = (name: string) => (o.errors?.[name] ? t(o.errors[name]!) : undefined);
    const newPasswordAttrs = html`autocomplete="new-password" required minlength="${MIN_PASSWORD_LENGTH}" maxlength="200"`;
    return sendPage(req, reply, {
      title: t('account_title'),
      status: o.status,
      body: html`
        ${flash(req, { password_changed: 'password_changed' })}
        <section class="card">
          <dl class="kv"><dt>${t('email')}</dt><dd id="account-email">${s.email}</dd>
          <dt>${t('merchant_code')}</dt><dd><code>${s.merchantCode}</code> ${s.merchantName}</dd></dl>
        </section>
        <section class="card narrow" id="change-password">
          <h2>${t('change_password')}</h2>
          ${o.errors ? html`<p class="alert error" role="alert">${t('form_has_errors')}</p>` : ''}
          <form method="post" action="/console/account/password" novalidate data-validate>
            ${csrfField(req)}
            <input type="text" name="username" value="${s.email}" autocomplete="username" hidden>
            ${input({ name: 'current_password', label: t('current_password'), type: 'password', error: err('current_password'), attrs: html`autocomplete="current-password" required maxlength="200"` })}
            ${input({ name: 'new_password', label: t('new_password'), type: 'password', error: err('new_password'), hint: t('password_short'), attrs: newPasswordAttrs })}
            ${input({ name: 'new_password_confirm', label: t('new_password_confirm'), type: 'password', error: err('new_password_confirm'), attrs: newPasswordAttrs })}
            <button type="submit" class="primary">${t('change_password')}</button>
          </form>
          <p class="hint">${t('change_password_hint')}</p>
        </section>`,
    });
  };

  /** Checks the fields and changes the password; FormError for a field the user must fix. */
  const change = async (req: FastifyRequest, confirm: boolean): Promise<Outcome> => {
    const s = sessionOf(req);
    const current = field(req.body, 'current_password');
    const next = field(req.body, 'new_password');
    const problems = new Problems();
    if (!current) problems.add('current_password', 'required');
    if (!next) problems.add('new_password', 'required');
    if (confirm && next !== field(req.body, 'new_password_confirm')) problems.add('new_password_confirm', 'password_mismatch');
    problems.throwIfAny();
    const result = await changeOwnPassword(req.deps, s.userId, current, next);
    if (result.outcome === 'invalid') throw new FormError(result.fields);
    if (result.outcome === 'locked') {
      req.log.warn({ merchant: s.merchantCode, by: s.email }, 'console password change: wrong current password locked the user');
      return result;
    }
    req.log.info({ merchant: s.merchantCode, by: s.email }, 'console password changed; every session of the user ended');
    return result;
  };

  /** The browser that made the change keeps working, on a new session (the old one ended with the rest). */
  const newSession = async (req: FastifyRequest, reply: FastifyReply) => {
    const s = sessionOf(req);
    const created = await createSession(req.deps, s.userId, s.merchantId);
    reply.setCookie(req.console.cookies.session, created.token, guardCookieOptions(req, SESSION_MAX_SECONDS));
    return created;
  };

  app.get('/account', async (req, reply) => page(req, reply));

  app.post('/account/password', async (req, reply) => {
    let result: Outcome;
    try {
      result = await change(req, true);
    } catch (err) {
      if (err instanceof FormError) return page(req, reply, { errors: err.fields, status: 400 });
      throw err;
    }
    if (result.outcome === 'locked') {
      // the lock ended every session of the user, this one included
      reply.clearCookie(req.console.cookies.session, guardCookieOptions(req));
      return reply.redirect('/console/login', 303);
    }
    await newSession(req, reply);
    return reply.redirect('/console/account?ok=password_changed', 303);
  });

  // ---- JSON API ----
  app.post('/api/account/password', async (req, reply) => {
    const result = await change(req, false);
    if (result.outcome === 'locked') {
      reply.clearCookie(req.console.cookies.session, guardCookieOptions(req));
      return reply.code(401).send({ ok: false, error: { code: 'unauthorized', message: req.console.t('api_no_session') } });
    }
    const created = await newSession(req, reply);
    return { ok: true, csrfToken: created.csrfToken };
  });
}
