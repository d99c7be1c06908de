import type { FastifyInstance } from 'fastify';
import { dailyStats } from '../../core/console/payments.js';
import { listChannels } from '../../core/merchants/channels.js';
import { unixSeconds } from '../../lib/clock.js';
import { sessionOf, type ConsoleOptions } from '../context.js';
import { dailyChart } from '../chart.js';
import { html } from '../html.js';
import { fmtWon, sendPage } from '../layout.js';

export function registerDashboardRoutes(app: FastifyInstance, { deps }: ConsoleOptions) {
  app.get('/', async (req, reply) => {
    const t = req.console.t;
    const s = sessionOf(req);
    const days = await dailyStats(req.deps, s.merchantId, unixSeconds(req.deps.clock), 14);
    const channels = await listChannels(req.deps, s.merchantId);
    const total = days.reduce((a, d) => ({ volume: a.volume + d.volume, approved: a.approved + d.approved, attempts: a.attempts + d.attempts, refunded: a.refunded + d.refunded }), { volume: 0, approved: 0, attempts: 0, refunded: 0 });
    const rate = total.attempts ? `${((total.approved / total.attempts) * 100).toFixed(1)}%` : '-';
    const today = days[days.length - 1];
    return sendPage(req, reply, {
      title: t('nav_dashboard'),
      active: 'dashboard',
      body: html`
        ${channels.length === 0 ? html`<p class="alert warn">${t('no_channels_yet')} <a href="/console/channels">${t('nav_channels')} →</a></p>` : ''}
        <div class="stats">
          <div class="stat"><span>${t('today_volume')}</span><strong>${fmtWon(req, today.volume)}</strong></div>
          <div class="stat"><span>${t('volume_14d')}</span><strong>${fmtWon(req, total.volume)}</strong></div>
          <div class="stat"><span>${t('approval_rate_14d')}</span><strong>${rate}</strong></div>
          <div class="stat"><span>${t('refunded_14d')}</span><strong>${fmtWon(req, total.refunded)}</strong></div>
        </div>
        <section class="card">
          <h2>${t('chart_title')}</h2>
          ${dailyChart(days, { volume: t('chart_volume'), rate: t('chart_rate'), title: t('chart_title') })}
          <details><summary>${t('chart_table')}</summary>
            <table class="list" id="daily-table"><thead><tr><th>${t('day')}</th><th>${t('approved')}</th><th>${t('declined')}</th><th>${t('approval_rate')}</th><th>${t('volume')}</th></tr></thead>
            <tbody>${days.map((d) => html`<tr><td data-label="${t('day')}">${d.day}</td><td data-label="${t('approved')}" class="num">${d.approved}</td><td data-label="${t('declined')}" class="num">${d.declined}</td><td data-label="${t('approval_rate')}" class="num">${d.approvalRate === null ? '-' : `${(d.approvalRate * 100).toFixed(1)}%`}</td><td data-label="${t('volume')}" class="num">${fmtWon(req, d.volume)}</td></tr>`)}</tbody></table>
          </details>
        </section>
        <p><a class="button" href="/console/payments">${t('nav_payments')} →</a></p>`,
    });
  });
}
