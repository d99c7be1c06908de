import type { FastifyInstance, FastifyReply, FastifyRequest } from 'fastify';
import { merchantLedger } from '../../core/console/ledger.js';
import { sandboxVbankDeposit } from '../../core/virtual-accounts/deposit.js';
import { advanceSandboxClock, formatDuration, parseDuration, readSandboxOffset, resetSandboxClock, SandboxClock } from '../../core/sandbox/clock.js';
import { unixSeconds } from '../../lib/clock.js';
import { field, sessionOf, type ConsoleOptions } from '../context.js';
import { FormError, Problems } from '../errors.js';
import { html, type Html } from '../html.js';
import { csrfField, fmtTime, fmtWon, input, sendPage } from '../layout.js';

export function registerSandboxRoutes(app: FastifyInstance, opts: ConsoleOptions) {
  const { deps } = opts;
  const tools = opts.simulatorTools ?? [];
  const available = deps.mode === 'sandbox' && tools.length > 0;

  /** Deposits into one of this merchant's virtual accounts through the simulator's control endpoint (core/virtual-accounts/deposit.ts). */
  async function deposit(req: FastifyRequest, body: unknown) {
    const merchantId = sessionOf(req).merchantId;
    const impUid = field(body, 'imp_uid').trim();
    const amountRaw = field(body, 'amount').replace(/[,\s]/g, '');
    const depositor = field(body, 'depositor_name').trim();
    const p = new Problems();
    if (!/^\d{1,12}$/.test(amountRaw) || Number(amountRaw) <= 0) p.add('amount', 'amount_invalid');
    if (depositor.length > 40) p.add('depositor_name', 'too_long');
    p.throwIfAny();
    return sandboxVbankDeposit(req.deps, tools, { merchantId, impUid, amount: Number(amountRaw), depositorName: depositor || null });
  }

  async function vbankSection(req: FastifyRequest, o: { message?: Html; errors?: Record<string, string> } = {}): Promise<Html> {
    const t = req.console.t;
    const s = sessionOf(req);
    const waiting = await req.deps.store.db
      .selectFrom('payments')
      .selectAll()
      .where('merchant_id', '=', s.merchantId)
      .where('pay_method', '=', 'vbank')
      .where('status', '=', 'ready')
      .orderBy('started_at', 'desc')
      .limit(20)
      .execute();
    return html`<section class="card" id="vbank-tool"><h2>${t('vbank_tool')}</h2>
      <p class="hint">${t('vbank_tool_hint')}</p>
      ${o.message ?? ''}
      ${waiting.length === 0
        ? html`<p class="empty">${t('vbank_none')}</p>`
        : html`<table class="list" id="vbank-table"><thead><tr><th>imp_uid</th><th>${t('vbank')}</th><th>${t('amount')}</th><th>${t('due')}</th><th>${t('vbank_deposit')}</th></tr></thead><tbody>
          ${waiting.map(
            (p) => html`<tr><td data-label="imp_uid"><a href="/console/payments/${p.imp_uid}">${p.imp_uid}</a><br><small class="mono">${p.merchant_uid}</small></td>
              <td data-label="${t('vbank')}">${p.vbank_name ?? ''} <span class="mono">${p.vbank_num ?? '-'}</span></td>
              <td data-label="${t('amount')}" class="num">${fmtWon(req, p.amount)}</td>
              <td data-label="${t('due')}">${fmtTime(req, p.vbank_date ?? 0)}</td>
              <td data-label="${t('vbank_deposit')}"><form method="post" action="/console/sandbox/vbank-deposit" data-validate novalidate>
                ${csrfField(req)}<input type="hidden" name="imp_uid" value="${p.imp_uid}">
                ${input({ name: 'amount', label: t('vbank_amount'), value: String(p.amount), error: o.errors?.amount, attrs: html`inputmode="numeric" required` })}
                ${input({ name: 'depositor_name', label: t('vbank_depositor'), error: o.errors?.depositor_name, attrs: html`maxlength="40"` })}
                <button type="submit" class="primary small">${t('vbank_deposit')}</button></form></td></tr>`,
          )}</tbody></table>`}
    </section>`;
  }

  async function clockSection(req: FastifyRequest, o: { message?: Html; error?: string } = {}): Promise<Html> {
    const t = req.console.t;
    const offset = await readSandboxOffset(req.deps.store).catch(() => null);
    if (offset === null) return html``;
    const live = req.deps.clock instanceof SandboxClock;
    return html`<section class="card" id="clock-tool"><h2>${t('clock_tool')}</h2>
      ${o.message ?? ''}
      <dl class="kv"><dt>${t('clock_now')}</dt><dd id="clock-now">${fmtTime(req, unixSeconds(req.deps.clock))} KST</dd>
      <dt>${t('clock_offset')}</dt><dd id="clock-offset">${offset > 0 ? `+${formatDuration(offset)}` : '0'}</dd></dl>
      ${live ? '' : html`<p class="alert warn">${t('clock_not_live')}</p>`}
      <p class="hint">${t('clock_hint')}</p>
      <form method="post" action="/console/sandbox/clock/advance" data-validate novalidate class="inline-form">
        ${csrfField(req)}
        ${input({ name: 'by', label: t('clock_advance_by'), error: o.error, hint: t('clock_by_hint'), attrs: html`required maxlength="20" pattern="[0-9]+|([0-9]+[wdhmsWDHMS])+"` })}
        <button type="submit" class="primary">${t('clock_advance')}</button>
      </form>
      <form method="post" action="/console/sandbox/clock/reset" class="inline" data-confirm="${t('clock_reset_confirm')}">${csrfField(req)}<button type="submit" class="small">${t('clock_reset')}</button></form>
    </section>`;
  }

  const page = async (req: FastifyRequest, reply: FastifyReply, o: { vbank?: Parameters<typeof vbankSection>[1]; clock?: Parameters<typeof clockSection>[1]; status?: number } = {}) => {
    const t = req.console.t;
    const s = sessionOf(req);
    if (!available) {
      return sendPage(req, reply, { title: t('nav_sandbox'), active: 'sandbox', status: o.status, body: html`<p class="alert warn">${t('sandbox_unavailable')}</p>` });
    }
    let ledger: Html;
    try {
      const { mids, rows, without } = await merchantLedger(req.deps, s.merchantId, tools);
      const diffs = rows.filter((r) => r.differences.length > 0).length;
      const statusText = (st: string | undefined) => (st ? st : '—');
      ledger = html`
        <p>${t('ledger_intro', { mids: mids.join(', ') || '-' })}</p>
        ${without.length > 0 ? html`<p class="alert warn" id="ledger-without">${t('ledger_without', { pgs: without.join(', ') })}</p>` : ''}
        <p class="${diffs ? 'alert error' : 'alert ok'}" id="ledger-summary">${diffs ? t('ledger_diffs', { n: diffs }) : t('ledger_same', { n: rows.length })}</p>
        <table class="list ledger" id="ledger-table"><thead><tr><th>imp_uid</th><th>MID</th><th>tid</th><th>${t('pier_record')}</th><th>${t('pg_record')}</th><th>${t('differences')}</th></tr></thead><tbody>
        ${rows.map(
          (r) => html`<tr class="${r.differences.length ? 'diff' : ''}">
            <td data-label="imp_uid">${r.impUid ? html`<a href="/console/payments/${r.impUid}">${r.impUid}</a>` : '—'}</td>
            <td data-label="MID" class="mono">${r.mid}</td>
            <td data-label="tid" class="mono">${r.tid ?? '—'}</td>
            <td data-label="${t('pier_record')}" class="${r.differences.some((d) => d !== 'missing_at_pier') ? 'cell-diff' : ''}">${r.pier ? html`${statusText(r.pier.status)} · ${fmtWon(req, r.pier.amount)}${r.pier.cancelAmount ? html` (-${fmtWon(req, r.pier.cancelAmount)})` : ''}` : t('no_record')}</td>
            <td data-label="${t('pg_record')}" class="${r.differences.length ? 'cell-diff' : ''}">${r.pg ? html`${statusText(r.pg.status)} · ${fmtWon(req, r.pg.amount)}${r.pg.cancelledAmount ? html` (-${fmtWon(req, r.pg.cancelledAmount)})` : ''}` : t('no_record')}</td>
            <td data-label="${t('differences')}">${r.differences.length ? html`<strong class="diff-text">${r.differences.map((d) => t(`diff_${d}` as never)).join(', ')}</strong>` : '✓'}</td>
          </tr>`,
        )}</tbody></table>`;
    } catch (err) {
      req.log.warn({ err }, 'simulator ledger unavailable');
      ledger = html`<p class="alert error">${t('ledger_unavailable')}</p>`;
    }
    return sendPage(req, reply, {
      title: t('nav_sandbox'),
      active: 'sandbox',
      status: o.status,
      body: html`<div class="grid2">${await vbankSection(req, o.vbank)}${await clockSection(req, o.clock)}</div><section class="card"><h2>${t('ledger_title')}</h2>${ledger}</section>`,
    });
  };

  app.get('/sandbox', async (req, reply) => page(req, reply));

  const unavailable = (req: FastifyRequest, reply: FastifyReply) =>
    reply.code(404).send({ ok: false, error: { code: 'not_found', message: req.console.t('sandbox_unavailable') } });

  app.post('/sandbox/vbank-deposit', async (req, reply) => {
    const t = req.console.t;
    if (!available) return page(req, reply, { status: 404 });
    try {
      const r = await deposit(req, req.body);
      const msg = r.ok
        ? html`<p class="alert ok" role="status" id="vbank-result">${t('vbank_done', { imp_uid: r.payment.imp_uid, status: r.payment.status })}</p>`
        : html`<p class="alert error" role="alert" id="vbank-result">${t('vbank_refused', { reason: String(r.simulator.error ?? r.simulatorStatus) })}</p>`;
      return page(req, reply, { vbank: { message: msg }, status: r.ok ? 200 : 409 });
    } catch (err) {
      if (err instanceof FormError) {
        const errors = Object.fromEntries(Object.entries(err.fields).map(([k, v]) => [k, t(v!)]));
        return page(req, reply, { vbank: { errors, message: html`<p class="alert error" role="alert" id="vbank-result">${t('form_has_errors')} ${Object.values(errors).join(' ')}</p>` }, status: 400 });
      }
      throw err;
    }
  });

  const advance = async (body: unknown) => {
    let ms: number;
    try {
      ms = parseDuration(field(body, 'by'));
    } catch {
      throw new FormError({ by: 'duration_invalid' });
    }
    if (ms <= 0) throw new FormError({ by: 'duration_invalid' });
    try {
      return await advanceSandboxClock(deps.store, ms, deps.clock);
    } catch (err) {
      // past the ten-year bound in total
      if (err instanceof RangeError) throw new FormError({ by: 'duration_invalid' });
      throw err;
    }
  };

  app.post('/sandbox/clock/advance', async (req, reply) => {
    const t = req.console.t;
    const s = sessionOf(req);
    if (!available) return page(req, reply, { status: 404 });
    try {
      const offset = await advance(req.body);
      req.log.info({ by: s.email, offset }, 'sandbox clock advanced from the console');
    } catch (err) {
      if (err instanceof FormError) return page(req, reply, { clock: { error: t(err.fields.by!) }, status: 400 });
      throw err;
    }
    return page(req, reply, { clock: { message: html`<p class="alert ok" role="status">${t('clock_moved')}</p>` } });
  });

  app.post('/sandbox/clock/reset', async (req, reply) => {
    const t = req.console.t;
    if (!available) return page(req, reply, { status: 404 });
    await resetSandboxClock(req.deps.store, req.deps.clock);
    return page(req, reply, { clock: { message: html`<p class="alert ok" role="status">${t('clock_reset_done')}</p>` } });
  });

  app.post('/api/sandbox/vbank-deposit', async (req, reply) => {
    if (!available) return unavailable(req, reply);
    const r = await deposit(req, req.body);
    return reply.code(r.ok ? 200 : 409).send({ ok: r.ok, simulator: r.simulator, payment: { imp_uid: r.payment.imp_uid, status: r.payment.status, paid_at: r.payment.paid_at } });
  });

  app.get('/api/sandbox/clock', async (req, reply) => {
    if (!available) return unavailable(req, reply);
    const offset = await readSandboxOffset(req.deps.store);
    return { ok: true, now: unixSeconds(req.deps.clock), offset_seconds: Math.floor(offset / 1000), live: req.deps.clock instanceof SandboxClock };
  });

  app.post('/api/sandbox/clock/advance', async (req, reply) => {
    if (!available) return unavailable(req, reply);
    const offset = await advance(req.body);
    return { ok: true, now: unixSeconds(req.deps.clock), offset_seconds: Math.floor(offset / 1000) };
  });

  app.post('/api/sandbox/clock/reset', async (req, reply) => {
    if (!available) return unavailable(req, reply);
    await resetSandboxClock(req.deps.store, req.deps.clock);
    return { ok: true, now: unixSeconds(req.deps.clock), offset_seconds: 0 };
  });

  app.get('/api/sandbox/ledger', async (req, reply) => {
    const s = sessionOf(req);
    if (!available) return reply.code(404).send({ ok: false, error: { code: 'not_found', message: req.console.t('sandbox_unavailable') } });
    return { ok: true, ...(await merchantLedger(req.deps, s.merchantId, tools)) };
  });
}
