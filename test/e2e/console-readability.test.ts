import { createServer } from 'node:http';
import { join } from 'node:path';
import type { AddressInfo } from 'node:net';
import type { Page } from 'playwright-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { testCardNumber } from '../harness.js';
import { HAS_CHROMIUM, SHOTS, startConsoleE2E, warnIfNoChromium, type ConsoleE2E } from './console-harness.js';

warnIfNoChromium('console readability');

const good = testCardNumber({ kftcCode: '366', lastFour: '4321' });
const DAY = 86_400_000;

/** The chart's text as a person sees it: rendered size in CSS px and position. */
async function chartText(page: Page, selector: string) {
  return page.$$eval(selector, (els) =>
    els
      .filter((el) => (el as SVGGraphicsElement).getBoundingClientRect().width > 0)
      .map((el) => {
        const r = el.getBoundingClientRect();
        return { text: el.textContent ?? '', left: r.left, right: r.right, top: r.top, bottom: r.bottom, height: r.height };
      }),
  );
}

/** Every word (split at spaces and at the middle dot of 키인·정기결제, where Korean may wrap) of the matched elements' text, with the number of lines it is drawn on (a word broken mid-way: 2). */
async function wordLines(page: Page, selector: string): Promise<{ word: string; lines: number }[]> {
  return page.$$eval(selector, (els) =>
    els.flatMap((el) => {
      const out: { word: string; lines: number }[] = [];
      const walker = document.createTreeWalker(el, NodeFilter.SHOW_TEXT);
      for (let node = walker.nextNode(); node; node = walker.nextNode()) {
        for (const m of (node.textContent ?? '').matchAll(/[^\s·]+/g)) {
          const range = document.createRange();
          range.setStart(node, m.index!);
          range.setEnd(node, m.index! + m[0].length);
          const rects = [...range.getClientRects()].filter((r) => r.width > 0);
          if (rects.length) out.push({ word: m[0], lines: new Set(rects.map((r) => Math.round(r.top))).size });
        }
      }
      return out;
    }),
  );
}

describe.skipIf(!HAS_CHROMIUM)('console readability at 375 px and 1280 px', () => {
  let e: ConsoleE2E;
  let empty: Awaited<ReturnType<ConsoleE2E['newUser']>>;
  let shop: Awaited<ReturnType<ConsoleE2E['newUser']>>;
  let impUid = '';
  let deliveryId = '';

  async function pay(merchant_uid: string, amount: number) {
    const r = await e.pier.call('POST', '/subscribe/payments/onetime', {
      token: await e.token(shop.merchant),
      body: { merchant_uid, amount, card_number: good, expiry: '2030-12', name: '가독성 테스트 상품', buyer_name: '김민지' },
    });
    expect(r.body.code, JSON.stringify(r.body)).toBe(0);
    return r.body.response as { imp_uid: string };
  }

  beforeAll(async () => {
    e = await startConsoleE2E();
    empty = await e.newUser();
    shop = await e.newUser();
    // two weeks of sales whose amounts made the y axis mix formats (2.5만 / 1.9만 / 6250)
    const amounts = [6250, 19000, 25000, 12000, 0, 8000, 21000, 3000, 0, 16000, 9000, 25000, 14000, 7000];
    e.pier.clock.advance(-13 * DAY);
    for (const [i, amount] of amounts.entries()) {
      if (amount > 0) impUid = (await pay(`read_${i}`, amount)).imp_uid;
      if (i < amounts.length - 1) e.pier.clock.advance(DAY);
    }
    const cancel = await e.pier.call('POST', '/payments/cancel', { token: await e.token(shop.merchant), body: { imp_uid: impUid, amount: 2000, reason: '부분 환불' } });
    expect(cancel.body.code).toBe(0);

    // a webhook receiver that is down: a failed delivery to redeliver
    const receiver = createServer((_req, res) => {
      res.statusCode = 503;
      res.end('maintenance');
    });
    await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
    const set = await e.pier.call('PUT', '/pier/webhooks/settings', { token: await e.token(shop.merchant), body: { url: `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook` } });
    expect(set.body.code).toBe(0);
    await pay('read_hook', 5000);
    const queue = webhookQueue(e.pier.deps, { clock: e.pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 500 } });
    try {
      expect(await new JobRunner({ queues: [queue], logger: e.pier.deps.logger }).drain()).toBe(1);
    } finally {
      await queue.close();
      await new Promise<void>((r) => receiver.close(() => r()));
    }
    const d = await e.pier.store.db.selectFrom('webhook_deliveries').select('id').where('merchant_id', '=', shop.merchant.merchantId).executeTakeFirstOrThrow();
    deliveryId = d.id;
  });
  afterAll(async () => {
    await e?.close();
  });

  it('labels an empty chart\'s y axis with distinct amounts and keeps its text readable on a phone', async () => {
    for (const width of [375, 1280]) {
      const { page } = await e.context({ width, height: 900 });
      await e.signIn(page, empty.email, empty.password);
      const y = (await chartText(page, 'svg.chart:not([hidden]) text.y-volume')).map((t) => t.text);
      expect(y.length, `${width}px`).toBeGreaterThanOrEqual(3);
      expect(new Set(y).size, `y labels ${y.join(' / ')}`).toBe(y.length);
      for (const t of await chartText(page, 'svg.chart text')) expect(t.height, `"${t.text}" at ${width}px`).toBeGreaterThanOrEqual(11);
      await e.shot(page, `readability-dashboard-empty-${width}`);
    }
  });

  it('draws the dashboard chart with one number format on the y axis and no overlapping x labels', async () => {
    for (const width of [375, 1280]) {
      const { page } = await e.context({ width, height: 900 });
      await e.signIn(page, shop.email, shop.password);
      const y = await chartText(page, 'svg.chart text.y-volume');
      const labels = y.map((t) => t.text);
      expect(new Set(labels).size).toBe(labels.length);
      // one unit for the whole axis: all 만, or all plain numbers
      const units = new Set(labels.filter((l) => l !== '0').map((l) => (l.endsWith('만') ? '만' : l.endsWith('억') ? '억' : 'plain')));
      expect(units.size, labels.join(' / ')).toBe(1);
      const x = (await chartText(page, 'svg.chart text.x-day')).sort((a, b) => a.left - b.left);
      expect(x.length).toBeGreaterThanOrEqual(4);
      for (let i = 1; i < x.length; i++) expect(x[i].left - x[i - 1].right, `${x[i - 1].text} / ${x[i].text} at ${width}px`).toBeGreaterThanOrEqual(4);
      for (const t of await chartText(page, 'svg.chart text')) expect(t.height, `"${t.text}" at ${width}px`).toBeGreaterThanOrEqual(11);
      await e.shot(page, `readability-dashboard-${width}`);
    }
  });

  it('keeps PG ids and Korean headers whole in the PG settings table', async () => {
    for (const width of [375, 1280]) {
      const { page } = await e.context({ width, height: 900 });
      await e.signIn(page, shop.email, shop.password);
      await page.goto(`${e.url}/console/channels`);
      // (at 375 px the header row is hidden: the cards label each value instead)
      const words = await wordLines(page, '#channels-table th, #channels-table td');
      expect(words.map((w) => w.word)).toEqual(expect.arrayContaining(['jtnet.tpaytest1m', ...(width === 1280 ? ['테스트모드', '비밀번호'] : [])]));
      for (const w of words) expect(w.lines, `"${w.word}" at ${width}px`).toBe(1);
      expect(await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth)).toBeLessThanOrEqual(0);
      await e.shot(page, `readability-pg-settings-${width}`);
    }
  });

  it('gives the redeliver button room below the last line of the webhook delivery', async () => {
    for (const width of [375, 1280]) {
      const { page } = await e.context({ width, height: 900 });
      await e.signIn(page, shop.email, shop.password);
      await page.goto(`${e.url}/console/webhooks/${deliveryId}`);
      const list = await page.locator('section.card dl.kv').boundingBox();
      const button = await page.locator('#redeliver-form button').boundingBox();
      expect(button!.y - (list!.y + list!.height), `${width}px`).toBeGreaterThanOrEqual(12);
      await e.shot(page, `readability-webhook-delivery-${width}`);
    }
  });

  it('puts the cancelled amount on its own line in the mobile payment cards', async () => {
    const { page } = await e.context({ width: 375, height: 900 });
    await e.signIn(page, shop.email, shop.password);
    await page.goto(`${e.url}/console/payments`);
    const row = page.locator('#payments-table tbody tr', { hasText: impUid });
    const amount = await row.locator('.amount-value').boundingBox();
    const cancelled = await row.locator('.cancelled-amount').boundingBox();
    expect(cancelled!.y).toBeGreaterThanOrEqual(amount!.y + amount!.height - 1);
    expect(await row.locator('.cancelled-amount').textContent()).toContain('2,000');
    await e.shot(page, 'readability-payments-375');
    await row.screenshot({ path: join(SHOTS, 'readability-payment-card-375.png') });
  });

  it('shows every console page without sideways scrolling at both widths (screenshots for a person to read)', async () => {
    const pages = [
      ['/console', 'dashboard'],
      ['/console/payments', 'payments'],
      [`/console/payments/${impUid}`, 'payment-detail'],
      ['/console/channels', 'pg-settings'],
      ['/console/keys', 'api-keys'],
      ['/console/sandbox', 'sandbox'],
      ['/console/webhooks', 'webhooks'],
      [`/console/webhooks/${deliveryId}`, 'webhook-delivery'],
      ['/console/schedules', 'schedules'],
      ['/console/billing-keys', 'billing-keys'],
      ['/console/account', 'account'],
    ] as const;
    for (const width of [375, 1280]) {
      const { page } = await e.context({ width, height: 900 });
      await e.signIn(page, shop.email, shop.password);
      for (const [path, name] of pages) {
        await page.goto(`${e.url}${path}`);
        const overflow = await page.evaluate(() => document.documentElement.scrollWidth - document.documentElement.clientWidth);
        expect(overflow, `${path} at ${width}px`).toBeLessThanOrEqual(0);
        await e.shot(page, `page-${name}-${width}`);
      }
    }
    const { page } = await e.context({ width: 375, height: 900 });
    await page.goto(`${e.url}/console/login`);
    await e.shot(page, 'page-login-375');
  });
});
