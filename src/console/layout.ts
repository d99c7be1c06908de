import type { FastifyReply, FastifyRequest } from 'fastify';
import { html, type Html } from './html.js';
import type { MessageKey } from './i18n.js';

export type NavKey = 'dashboard' | 'payments' | 'channels' | 'keys' | 'billing' | 'schedules' | 'webhooks' | 'sandbox';

interface NavItem {
  key: NavKey;
  href: string;
  label: MessageKey;
}

const NAV: NavItem[] = [
  { key: 'dashboard', href: '/console', label: 'nav_dashboard' },
  { key: 'payments', href: '/console/payments', label: 'nav_payments' },
  { key: 'billing', href: '/console/billing-keys', label: 'nav_billing' },
  { key: 'schedules', href: '/console/schedules', label: 'nav_schedules' },
  { key: 'webhooks', href: '/console/webhooks', label: 'nav_webhooks' },
  { key: 'channels', href: '/console/channels', label: 'nav_channels' },
  { key: 'keys', href: '/console/keys', label: 'nav_keys' },
  { key: 'sandbox', href: '/console/sandbox', label: 'nav_sandbox' },
];

export interface PageOptions {
  title: string;
  active?: NavKey;
  body: Html;
  status?: number;
}

function langLink(req: FastifyRequest): Html {
  const other = req.console.lang === 'ko' ? 'en' : 'ko';
  const label = other === 'en' ? 'English' : '한국어';
  return html`<a class="lang" href="/console/lang/${other}?next=${encodeURIComponent(req.url)}" hreflang="${other}" lang="${other}">${label}</a>`;
}

export function shell(req: FastifyRequest, opts: PageOptions): Html {
  const { t, session } = req.console;
  const nav = session
    ? html`<nav class="nav" aria-label="${t('nav_label')}"><ul>${NAV.map(
        (n) => html`<li><a href="${n.href}" ${n.key === opts.active ? html`aria-current="page" class="active"` : ''}>${t(n.label)}</a></li>`,
      )}</ul></nav>`
    : '';
  const user = session
    ? html`<div class="user">
        <span class="merchant" title="${session.merchantCode}">${session.merchantName} <code>${session.merchantCode}</code></span>
        <a class="email" href="/console/account" title="${t('account_title')}">${session.email}</a>
        <form method="post" action="/console/logout" class="inline">
          <input type="hidden" name="_csrf" value="${session.csrfToken}">
          <button type="submit" class="link">${t('sign_out')}</button>
        </form>
      </div>`
    : '';
  return html`<!doctype html>
<html lang="${req.console.lang}">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>${opts.title} · Pier Console</title>
<link rel="stylesheet" href="/console/assets/console.css">
<script src="/console/assets/console.js" defer></script>
${session ? html`<meta name="csrf-token" content="${session.csrfToken}">` : ''}
</head>
<body>
<header class="top">
  <a class="brand" href="/console">Pier <span>Console</span></a>
  ${user}
  ${langLink(req)}
</header>
${nav}
<main id="main">
<h1>${opts.title}</h1>
${opts.body}
</main>
</body>
</html>`;
}

export function sendPage(req: FastifyRequest, reply: FastifyReply, opts: PageOptions) {
  return reply
    .code(opts.status ?? 200)
    .type('text/html; charset=utf-8')
    .send(shell(req, opts).toString());
}

export function errorPage(req: FastifyRequest, status: number, message: string): Html {
  const t = req.console.t;
  return shell(req, {
    title: status === 404 ? t('not_found_title') : status === 403 ? t('forbidden_title') : t('error_title'),
    body: html`<p class="alert error" role="alert">${message}</p><p><a href="/console">${t('back_home')}</a></p>`,
    status,
  });
}

/** A notice from the `?ok=` query after a redirect (post / redirect / get). */
export function flash(req: FastifyRequest, keys: Partial<Record<string, MessageKey>>): Html {
  const ok = (req.query as Record<string, unknown>)?.ok;
  const key = typeof ok === 'string' ? keys[ok] : undefined;
  return key ? html`<p class="alert ok" role="status">${req.console.t(key)}</p>` : html``;
}

/** Form helpers: a labelled input with its error beside it. */
export interface FieldOptions {
  name: string;
  label: string;
  value?: string;
  type?: string;
  error?: string;
  hint?: string | Html;
  attrs?: Html;
}

export function input(f: FieldOptions): Html {
  const id = `f-${f.name}`;
  return html`<div class="field${f.error ? ' has-error' : ''}">
    <label for="${id}">${f.label}</label>
    <input id="${id}" name="${f.name}" type="${f.type ?? 'text'}" value="${f.value ?? ''}" ${f.error ? html`aria-invalid="true" aria-describedby="${id}-err"` : ''} ${f.attrs ?? ''}>
    ${f.hint ? html`<small class="hint">${f.hint}</small>` : ''}
    ${f.error ? html`<small class="err" id="${id}-err">${f.error}</small>` : ''}
  </div>`;
}

export function select(f: FieldOptions & { options: Array<[string, string]> }): Html {
  const id = `f-${f.name}`;
  return html`<div class="field${f.error ? ' has-error' : ''}">
    <label for="${id}">${f.label}</label>
    <select id="${id}" name="${f.name}" ${f.error ? html`aria-invalid="true" aria-describedby="${id}-err"` : ''} ${f.attrs ?? ''}>
      ${f.options.map(([v, l]) => html`<option value="${v}" ${v === (f.value ?? '') ? 'selected' : ''}>${l}</option>`)}
    </select>
    ${f.hint ? html`<small class="hint">${f.hint}</small>` : ''}
    ${f.error ? html`<small class="err" id="${id}-err">${f.error}</small>` : ''}
  </div>`;
}

export function checkbox(f: { name: string; label: string; checked: boolean; hint?: string }): Html {
  const id = `f-${f.name}`;
  return html`<div class="field check">
    <input id="${id}" name="${f.name}" type="checkbox" ${f.checked ? 'checked' : ''}>
    <label for="${id}">${f.label}</label>
    ${f.hint ? html`<small class="hint">${f.hint}</small>` : ''}
  </div>`;
}

export function csrfField(req: FastifyRequest): Html {
  return html`<input type="hidden" name="_csrf" value="${req.console.session?.csrfToken ?? ''}">`;
}

export function formErrorBanner(req: FastifyRequest, errors: Record<string, string> | null, message?: string): Html {
  if (!errors && !message) return html``;
  return html`<div class="alert error" role="alert">${message ?? req.console.t('form_has_errors')}</div>`;
}

export function fmtTime(req: FastifyRequest, seconds: number | null | undefined): string {
  if (!seconds) return '-';
  const d = new Date(seconds * 1000 + 9 * 3600 * 1000);
  return `${d.toISOString().slice(0, 10)} ${d.toISOString().slice(11, 19)}`;
}

export function fmtWon(req: FastifyRequest, amount: number): string {
  return req.console.lang === 'ko' ? `${amount.toLocaleString('ko-KR')}원` : `₩${amount.toLocaleString('en-US')}`;
}

/**
 * Which PG (and which of its accounts) a payment or billing key belongs to: the PG's name, then its
 * V1 `pg` value, e.g. `NICE페이먼츠` over `nice_v2.S2_af45…`.
 */
export function pgCell(label: string, provider: string, pgId: string): Html {
  // one element: a phone card's cell is a flex row, where loose children would sit side by side
  return html`<span class="pg-cell"><span class="pg-label" data-pg="${provider}">${label}</span><br><small class="mono">${provider}.${pgId}</small></span>`;
}
