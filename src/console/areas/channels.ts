import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { PierError } from '../../api/errors.js';
import type { ChannelProblem, ChannelRules, ChannelSettings } from '../../connectors/types.js';
import { addChannel, channelBaseUrl, channelNotifyUrl, ChannelSettingsError, listChannels, removeChannel, type ChannelKind } from '../../core/merchants/channels.js';
import { channelUsage, LeftOutDefaultError, updateChannel } from '../../core/console/channels.js';
import type { Deps } from '../../core/deps.js';
import { registerSandboxNotifyUrls } from '../../core/sandbox/notify-urls.js';
import type { PgChannelsTable } from '../../store/types.js';
import { field, flag, sessionOf, type ConsoleOptions } from '../context.js';
import { FormError, Problems } from '../errors.js';
import { html, type Html } from '../html.js';
import type { MessageKey } from '../i18n.js';
import { checkbox, csrfField, flash, fmtTime, input, select, sendPage } from '../layout.js';

const MASK = '••••••••';

export interface ChannelForm {
  provider: string;
  kind: string;
  mid: string;
  merchant_key: string;
  cancel_password: string;
  base_url: string;
  name: string;
  test_mode: boolean;
  is_default: boolean;
}

/** The form's provider when none is chosen: the first PG of the registry (JTNET). */
const defaultProvider = (deps: Deps) => deps.connectors.providers()[0];

function readForm(deps: Deps, body: unknown): ChannelForm {
  return {
    provider: field(body, 'provider').trim() || defaultProvider(deps),
    kind: field(body, 'kind').trim(),
    mid: field(body, 'mid').trim(),
    merchant_key: field(body, 'merchant_key').trim(),
    cancel_password: field(body, 'cancel_password'),
    base_url: field(body, 'base_url').trim(),
    name: field(body, 'name').trim(),
    test_mode: flag(body, 'test_mode'),
    is_default: flag(body, 'is_default'),
  };
}

/** The form field each channel setting is entered in. */
const FORM_FIELD: Record<keyof ChannelSettings, keyof ChannelForm> = {
  mid: 'mid',
  merchantKey: 'merchant_key',
  cancelPassword: 'cancel_password',
  sandbox: 'test_mode',
  baseUrl: 'base_url',
};

function problemMessage(p: ChannelProblem): MessageKey {
  switch (p.code) {
    case 'required':
      return 'required';
    case 'too_long':
      return 'too_long';
    case 'mode_mismatch':
      return 'key_mode_mismatch';
    case 'not_allowed':
      return 'field_not_allowed';
    case 'invalid':
      return p.field === 'baseUrl' ? 'base_url_invalid' : p.field === 'merchantKey' ? 'secret_invalid' : 'mid_invalid';
  }
}

/**
 * Checks a channel form by its PG's rules (connectors/<pg>/channel-rules.ts), field by field. With
 * test mode on and the account id left empty, the PG's published test account of the kind is filled
 * in (as PortOne's console does for JTNET's window MID): tpaytest0m / tpaytest1m, NICE's S2_ sandbox key.
 */
function validate(opts: ConsoleOptions, f: ChannelForm, editing: boolean) {
  const p = new Problems();
  // a new channel only of a PG this Pier configures; an existing one by its own PG's rules, also
  // when this Pier leaves that PG out: editing calls no PG (decision 0080)
  const rules = editing || opts.deps.connectors.get(f.provider) ? opts.deps.connectors.channelRules(f.provider) : undefined;
  if (!rules) p.add('provider', 'invalid_choice');
  if (f.kind !== 'window' && f.kind !== 'api') p.add('kind', 'invalid_choice');
  const test = rules?.testAccounts.find((a) => a.kind === f.kind);
  if (!editing && f.test_mode && !f.mid && test) {
    f.mid = test.mid;
    if (!f.merchant_key) f.merchant_key = test.merchantKey;
    if (!f.cancel_password) f.cancel_password = test.cancelPassword;
    if (!f.name) f.name = test.name;
  }
  // an unknown PG's form is still checked field by field, by the default PG's rules
  const checking = rules ?? opts.deps.connectors.channelRules(defaultProvider(opts.deps))!;
  const settings = { mid: f.mid, merchantKey: f.merchant_key, cancelPassword: f.cancel_password, sandbox: f.test_mode, baseUrl: f.base_url || null };
  for (const problem of checking.check(settings, { editing })) p.add(FORM_FIELD[problem.field], problemMessage(problem));
  if (f.name.length > 100) p.add('name', 'too_long');
  p.throwIfAny();
}

/**
 * A channel's own API address receives every call of the channel with its secret. In production
 * only the operator points it somewhere (CLI); a console user, who is a merchant, could point
 * Pier at its own network (decision 0046). The address already stored may stay, or be cleared
 * (back to the PG's configured host). Sandbox allows any (simulators on localhost).
 */
function refuseBaseUrlChange(opts: ConsoleOptions, f: ChannelForm, stored: string | null) {
  const wanted = channelBaseUrl(f.base_url);
  if (opts.deps.mode === 'production' && wanted !== null && wanted !== stored) throw new FormError({ base_url: 'base_url_operator_only' });
}

/** Where a PG that is told once in its admin sends this channel's notices (NICE's webhook, tPay's deposit notice); null for others. */
function webhookUrl(opts: ConsoleOptions, c: PgChannelsTable): string | null {
  return opts.deps.connectors.channelRules(c.provider)?.registeredNotifyUrl ? channelNotifyUrl(opts.publicUrl ?? 'http://localhost:8080', c.id) : null;
}

export function channelJson(opts: ConsoleOptions, c: PgChannelsTable) {
  return {
    id: c.id,
    provider: c.provider,
    pg_label: opts.deps.connectors.label(c.provider),
    kind: c.kind,
    mid: c.mid,
    pg: `${c.provider}.${c.mid}`,
    name: c.name,
    test_mode: c.sandbox === 1,
    is_default: c.is_default === 1,
    merchant_key: '********',
    cancel_password: '********',
    base_url: c.base_url,
    webhook_url: webhookUrl(opts, c),
    created_at: c.created_at,
  };
}

/**
 * Sandbox: a channel of this account added, moved or removed, the simulator its PG's connector calls
 * is told again where the account's notices go (core/sandbox/notify-urls.ts, decision 0086). Best
 * effort: the sandbox server tells it at its next start anyway.
 */
async function tellSimulator(opts: ConsoleOptions, accounts: Array<{ provider: string; mid: string }>) {
  if (opts.deps.mode !== 'sandbox' || !opts.simulatorTools) return;
  for (const a of accounts) await registerSandboxNotifyUrls(opts.deps, opts.simulatorTools, opts.publicUrl ?? 'http://localhost:8080', a);
}

async function create(opts: ConsoleOptions, merchantId: string, f: ChannelForm) {
  const row = await insertChannel(opts, merchantId, f);
  await tellSimulator(opts, [row]);
  return row;
}

async function insertChannel(opts: ConsoleOptions, merchantId: string, f: ChannelForm) {
  validate(opts, f, false);
  refuseBaseUrlChange(opts, f, null);
  try {
    return await addChannel(opts.deps, merchantId, {
      provider: f.provider,
      mid: f.mid,
      merchantKey: f.merchant_key,
      cancelPassword: f.cancel_password,
      kind: f.kind as ChannelKind,
      sandbox: f.test_mode,
      isDefault: f.is_default,
      name: f.name || undefined,
      baseUrl: f.base_url || null,
    });
  } catch (err) {
    if (err instanceof ChannelSettingsError) throw formErrorOf(err);
    if (err instanceof PierError && err.kind === 'refused') throw new FormError({ mid: 'channel_exists' });
    throw err;
  }
}

async function edit(opts: ConsoleOptions, merchantId: string, id: string, f: ChannelForm) {
  const current = (await listChannels(opts.deps, merchantId)).find((c) => c.id === id);
  // a channel keeps its PG: the form's provider is only what the page showed
  if (current) f.provider = current.provider;
  validate(opts, f, true);
  if (current) refuseBaseUrlChange(opts, f, current.base_url);
  let updated;
  try {
    updated = await updateChannel(opts.deps, merchantId, id, {
      mid: f.mid,
      kind: f.kind as ChannelKind,
      name: f.name,
      sandbox: f.test_mode,
      isDefault: f.is_default,
      merchantKey: f.merchant_key || undefined,
      cancelPassword: f.cancel_password || undefined,
      baseUrl: f.base_url || null,
    });
  } catch (err) {
    if (err instanceof ChannelSettingsError) throw formErrorOf(err);
    if (err instanceof PierError && err.message === 'channel_in_use') throw new FormError({ mid: 'channel_in_use' });
    if (err instanceof PierError && err.message === 'channel_exists') throw new FormError({ mid: 'channel_exists' });
    if (err instanceof LeftOutDefaultError) throw new FormError({ is_default: 'left_out_default' });
    throw err;
  }
  await tellSimulator(opts, current && current.mid !== f.mid ? [current, { provider: current.provider, mid: f.mid }] : current ? [current] : []);
  return updated;
}

/** The core's verdict on settings the form let through (e.g. a mode the key contradicts), per field. */
function formErrorOf(err: ChannelSettingsError): FormError {
  const p = new Problems();
  for (const problem of err.problems) p.add(FORM_FIELD[problem.field], problemMessage(problem));
  return new FormError(p.fields);
}

/** Removes a channel; refuses while payments or billing keys still use it unless forced. */
async function remove(opts: ConsoleOptions, merchantId: string, id: string, force: boolean) {
  const channels = await listChannels(opts.deps, merchantId);
  const row = channels.find((c) => c.id === id);
  if (!row) throw new PierError('not_found', 'PG 설정을 찾을 수 없습니다. (no such channel)');
  const usage = await channelUsage(opts.deps, merchantId, id);
  if ((usage.billingKeys > 0 || usage.openPayments > 0) && !force) {
    throw new PierError('refused', `channel_used:${usage.billingKeys}:${usage.openPayments}`);
  }
  // removing the default makes another channel of its kind the default (in the same transaction),
  // never one of a PG this Pier leaves out (decision 0087)
  const removal = await removeChannel(opts.deps, merchantId, id);
  await tellSimulator(opts, [row]);
  return { row, removal };
}

function usedMessage(req: FastifyRequest, err: PierError): string | null {
  const m = /^channel_used:(\d+):(\d+)$/.exec(err.message);
  return m ? req.console.t('channel_used', { keys: m[1], payments: m[2] }) : null;
}

export function registerChannelRoutes(app: FastifyInstance, opts: ConsoleOptions) {
  const { deps } = opts;

  const kindOptions = (req: FastifyRequest): Array<[string, string]> => [
    ['', req.console.t('choose')],
    ['window', req.console.t('kind_window')],
    ['api', req.console.t('kind_api')],
  ];

  // an existing channel's form is its own PG's, also of a PG this Pier leaves out (decision 0080)
  const rulesOf = (provider: string | undefined, editing: boolean): { provider: string; rules: ChannelRules } => {
    const known = provider && (editing ? deps.connectors.channelRules(provider) : deps.connectors.get(provider)) ? provider : defaultProvider(deps);
    return { provider: known, rules: deps.connectors.channelRules(known)! };
  };

  /** The channel form of one PG: its own names for the credentials, and only the settings it has. */
  const channelForm = (req: FastifyRequest, o: { action: string; values: Partial<ChannelForm>; errors?: Record<string, string>; editing: boolean; submit: MessageKey }): Html => {
    const t = req.console.t;
    const v = o.values;
    const e = (k: string) => o.errors?.[k];
    const { provider, rules } = rulesOf(v.provider, o.editing);
    const pg = req.deps.connectors.label(provider);
    const optionalUnlessTest = o.editing ? '' : html`data-required-unless="test_mode"`;
    return html`<form method="post" action="${o.action}" class="card" id="channel-form" data-provider="${provider}" data-validate novalidate>
      ${csrfField(req)}
      <input type="hidden" name="provider" value="${provider}">
      <p class="field"><strong>${t('provider')}</strong> ${pg} <code>${provider}</code>${e('provider') ? html` <small class="err">${e('provider')}</small>` : ''}</p>
      ${select({ name: 'kind', label: t('channel_kind'), value: v.kind ?? '', error: e('kind'), options: kindOptions(req), hint: t('channel_kind_hint'), attrs: html`required` })}
      ${input({ name: 'mid', label: t('mid', { name: rules.accountIdLabel }), value: v.mid, error: e('mid'), hint: o.editing ? t('mid_hint_edit') : t('mid_hint', { pg, name: rules.accountIdLabel, example: rules.accountIdExample }), attrs: html`maxlength="80" pattern="[A-Za-z0-9_\-]{1,80}" autocomplete="off" ${optionalUnlessTest}` })}
      ${input({ name: 'merchant_key', label: t('merchant_key', { name: rules.secretLabel }), type: 'password', error: e('merchant_key'), hint: o.editing ? t('secret_keep_hint') : t('merchant_key_hint', { pg, name: rules.secretLabel }), attrs: html`maxlength="200" autocomplete="new-password" ${optionalUnlessTest}` })}
      ${rules.cancelPassword
        ? input({ name: 'cancel_password', label: t('cancel_password'), type: 'password', error: e('cancel_password'), hint: o.editing ? t('secret_keep_hint') : t('cancel_password_hint'), attrs: html`maxlength="40" autocomplete="new-password" ${optionalUnlessTest}` })
        : ''}
      ${rules.baseUrl ? input({ name: 'base_url', label: t('base_url'), value: v.base_url, error: e('base_url'), hint: t('base_url_hint'), attrs: html`maxlength="300" type="url" autocomplete="off" placeholder="https://sandbox-api.nicepay.co.kr"` }) : ''}
      ${input({ name: 'name', label: t('channel_name'), value: v.name, error: e('name'), hint: t('channel_name_hint', { pg: provider, name: rules.accountIdLabel }), attrs: html`maxlength="100"` })}
      ${checkbox({ name: 'test_mode', label: t('test_mode'), checked: v.test_mode ?? false, hint: o.editing ? undefined : t('test_mode_hint') })}
      ${e('test_mode') ? html`<p class="alert error" id="f-test_mode-err">${e('test_mode')}</p>` : ''}
      ${checkbox({ name: 'is_default', label: t('is_default'), checked: v.is_default ?? false, hint: t('is_default_hint') })}
      <button type="submit" class="primary">${t(o.submit)}</button>
    </form>`;
  };

  /** Links that switch the add form to another PG (works without JavaScript). */
  const providerChoice = (req: FastifyRequest, current: string): Html =>
    html`<nav class="tabs" aria-label="${req.console.t('pg_choose')}">${req.console.t('pg_choose')}: ${req.deps.connectors.providers().map(
      (p) => html`<a href="/console/channels?provider=${p}#channel-form" class="button small${p === current ? ' primary' : ''}" ${p === current ? html`aria-current="true"` : ''}>${req.deps.connectors.label(p)}</a> `,
    )}</nav>`;

  const listPage = async (req: FastifyRequest, reply: FastifyReply, o: { values?: Partial<ChannelForm>; errors?: Record<string, string>; message?: string; status?: number; forceId?: string } = {}) => {
    const t = req.console.t;
    const adding = o.values ?? { provider: rulesOf(field(req.query, 'provider'), false).provider };
    const s = sessionOf(req);
    const channels = await listChannels(req.deps, s.merchantId);
    const rows = channels.map(
      (c) => html`<tr data-channel="${c.provider}.${c.mid}" data-kind="${c.kind}">
        <td data-label="${t('channel_name')}">${c.name}</td>
        <td data-label="pg"><span class="pg-cell"><span class="pg-label" data-pg="${c.provider}">${req.deps.connectors.label(c.provider)}</span><br><code>${c.provider}.${c.mid}</code>${c.base_url ? html`<br><small class="mono" title="${t('base_url')}">${c.base_url}</small>` : ''}</span></td>
        <td data-label="${t('channel_kind')}">${c.kind === 'window' ? t('kind_window') : t('kind_api')}</td>
        <td data-label="${t('secret_header')}"><span class="masked" title="${t('write_only')}">${MASK}</span></td>
        <td data-label="${t('cancel_password')}">${req.deps.connectors.channelRules(c.provider)?.cancelPassword === false ? '-' : html`<span class="masked" title="${t('write_only')}">${MASK}</span>`}</td>
        <td data-label="${t('test_mode')}">${c.sandbox ? html`<span class="badge sandbox">ON</span>` : 'OFF'}</td>
        <td data-label="${t('is_default')}">${c.is_default ? html`<span class="badge paid">${t('default')}</span>` : ''}</td>
        <td data-label="${t('created_at')}">${fmtTime(req, c.created_at)}</td>
        <td class="row-actions">
          <a href="/console/channels/${c.id}" class="button small">${t('edit')}</a>
          <form method="post" action="/console/channels/${c.id}/delete" class="inline" data-confirm="${t('channel_delete_confirm', { pg: `${c.provider}.${c.mid}` })}">
            ${csrfField(req)}
            ${o.forceId === c.id ? html`<label class="force"><input type="checkbox" name="force"> ${t('force_remove')}</label>` : ''}
            <button type="submit" class="danger small">${t('remove')}</button>
          </form>
        </td>
      </tr>`,
    );
    return sendPage(req, reply, {
      title: t('nav_channels'),
      active: 'channels',
      status: o.status,
      body: html`
        ${flash(req, { added: 'channel_added', updated: 'channel_updated', removed: 'channel_removed', removed_no_default: 'channel_removed_no_default' })}
        ${o.message ? html`<p class="alert error" role="alert">${o.message}</p>` : ''}
        <section class="card explain">
          <h2>${t('pg_select_title')}</h2>
          <p>${t('pg_select_1')}</p>
          <pre class="code">IMP.request_pay({ pg: 'jtnet.tpaytest0m', pay_method: 'card', … })
IMP.request_pay({ pg: 'nice_v2.S2_af4543a0…', pay_method: 'card', … })
POST /subscribe/payments/onetime  { "pg": "jtnet.tpaytest1m", … }</pre>
          <p>${t('pg_select_2')}</p>
        </section>
        <section>
          <h2>${t('channels_configured', { n: channels.length })}</h2>
          ${channels.length
            ? html`<table class="list" id="channels-table"><thead><tr><th>${t('channel_name')}</th><th>pg</th><th>${t('channel_kind')}</th><th>${t('secret_header')}</th><th>${t('cancel_password')}</th><th>${t('test_mode')}</th><th>${t('is_default')}</th><th>${t('created_at')}</th><th></th></tr></thead><tbody>${rows}</tbody></table>`
            : html`<p class="empty">${t('no_channels_yet')}</p>`}
        </section>
        <section>
          <h2>${t('channel_add')}</h2>
          ${providerChoice(req, rulesOf(adding.provider, false).provider)}
          ${channelForm(req, { action: '/console/channels', values: adding, errors: o.errors, editing: false, submit: 'channel_add' })}
        </section>`,
    });
  };

  app.get('/channels', async (req, reply) => listPage(req, reply));

  app.post('/channels', async (req, reply) => {
    const s = sessionOf(req);
    const f = readForm(req.deps, req.body);
    try {
      await create(opts, s.merchantId, f);
    } catch (err) {
      if (err instanceof FormError) {
        const t = req.console.t;
        return listPage(req, reply, { values: { ...f, merchant_key: '', cancel_password: '' }, errors: Object.fromEntries(Object.entries(err.fields).map(([k, v]) => [k, t(v!)])), message: t('form_has_errors'), status: 400 });
      }
      throw err;
    }
    return reply.redirect('/console/channels?ok=added', 303);
  });

  const editPage = async (req: FastifyRequest, reply: FastifyReply, id: string, o: { values?: Partial<ChannelForm>; errors?: Record<string, string>; status?: number } = {}) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const c = (await listChannels(req.deps, s.merchantId)).find((x) => x.id === id);
    if (!c) throw new PierError('not_found', t('not_found'));
    const usage = await channelUsage(req.deps, s.merchantId, id);
    const values = o.values ?? { provider: c.provider, kind: c.kind, mid: c.mid, name: c.name, base_url: c.base_url ?? '', test_mode: c.sandbox === 1, is_default: c.is_default === 1 };
    const hook = webhookUrl(opts, c);
    const pg = req.deps.connectors.label(c.provider);
    return sendPage(req, reply, {
      title: `${t('channel_edit')} · ${c.provider}.${c.mid}`,
      active: 'channels',
      status: o.status,
      body: html`<p><a href="/console/channels">← ${t('nav_channels')}</a></p>
        ${o.errors ? html`<p class="alert error" role="alert">${t('form_has_errors')}</p>` : ''}
        <p class="hint">${t('channel_usage', { payments: usage.payments, keys: usage.billingKeys })}</p>
        ${hook
          ? html`<section class="card explain" id="webhook-url">
              <h2>${t('pg_webhook_url_title', { pg })}</h2>
              <p><code id="channel-webhook-url">${hook}</code> <button type="button" class="small" data-copy="#channel-webhook-url">${t('copy')}</button></p>
              <p class="hint">${t('pg_webhook_url_hint', { pg, where: req.deps.connectors.channelRules(c.provider)?.notifyUrlSetting?.[req.console.lang === 'en' ? 'en' : 'ko'] ?? '' })}</p>
            </section>`
          : ''}
        ${channelForm(req, { action: `/console/channels/${c.id}`, values, errors: o.errors, editing: true, submit: 'save' })}`,
    });
  };

  app.get('/channels/:id', async (req, reply) => editPage(req, reply, (req.params as { id: string }).id));

  app.post('/channels/:id', async (req, reply) => {
    const s = sessionOf(req);
    const { id } = req.params as { id: string };
    const f = readForm(req.deps, req.body);
    try {
      await edit(opts, s.merchantId, id, f);
    } catch (err) {
      if (err instanceof FormError) {
        const t = req.console.t;
        return editPage(req, reply, id, { values: { ...f, merchant_key: '', cancel_password: '' }, errors: Object.fromEntries(Object.entries(err.fields).map(([k, v]) => [k, t(v!)])), status: 400 });
      }
      throw err;
    }
    return reply.redirect('/console/channels?ok=updated', 303);
  });

  app.post('/channels/:id/delete', async (req, reply) => {
    const s = sessionOf(req);
    const { id } = req.params as { id: string };
    let removed;
    try {
      removed = await remove(opts, s.merchantId, id, flag(req.body, 'force'));
    } catch (err) {
      const msg = err instanceof PierError ? usedMessage(req, err) : null;
      if (msg) return listPage(req, reply, { message: msg, status: 409, forceId: id });
      throw err;
    }
    return reply.redirect(`/console/channels?ok=${removed.removal?.leftWithoutDefault ? 'removed_no_default' : 'removed'}`, 303);
  });

  // ---- JSON API ----
  app.get('/api/channels', async (req) => {
    const s = sessionOf(req);
    return { ok: true, channels: (await listChannels(req.deps, s.merchantId)).map((c) => channelJson(opts, c)) };
  });

  app.post('/api/channels', async (req, reply) => {
    const s = sessionOf(req);
    const row = await create(opts, s.merchantId, readForm(req.deps, req.body));
    return reply.code(201).send({ ok: true, channel: channelJson(opts, row) });
  });

  app.patch('/api/channels/:id', async (req) => {
    const s = sessionOf(req);
    const { id } = req.params as { id: string };
    const current = (await listChannels(req.deps, s.merchantId)).find((c) => c.id === id);
    if (!current) throw new PierError('not_found', req.console.t('not_found'));
    // absent fields keep their value
    const b = (req.body ?? {}) as Record<string, unknown>;
    const f = readForm(req.deps, {
      provider: current.provider,
      base_url: current.base_url ?? '',
      kind: current.kind,
      mid: current.mid,
      name: current.name,
      test_mode: current.sandbox === 1,
      is_default: current.is_default === 1,
      ...b,
    });
    return { ok: true, channel: channelJson(opts, await edit(opts, s.merchantId, id, f)) };
  });

  app.delete('/api/channels/:id', async (req) => {
    const s = sessionOf(req);
    const { id } = req.params as { id: string };
    let removed;
    try {
      removed = await remove(opts, s.merchantId, id, field(req.query, 'force') === '1' || field(req.query, 'force') === 'true');
    } catch (err) {
      const msg = err instanceof PierError ? usedMessage(req, err) : null;
      if (msg) throw new PierError('refused', msg);
      throw err;
    }
    // the kind's default in its place (`provider.mid`), or none: its remaining channels' PGs are left out of this Pier (decision 0087)
    const r = removed.removal;
    return { ok: true, new_default: r?.newDefault ? `${r.newDefault.provider}.${r.newDefault.mid}` : null, without_default: r?.leftWithoutDefault ?? false };
  });
}
