/**
 * NICE's payment window end to end in Chromium (issue #13 item 3): a shop page calls
 * `IMP.request_pay({ pg: 'nice_v2.{clientId}', ... })`; Pier's checkout loads the NICEPAY
 * simulator's JS SDK and calls `AUTHNICE.requestPay`; the buyer pays in NICE's window; Pier
 * approves server to server and the shop's callback gets the result, which the test reads back by
 * REST. Each method: card, bank transfer, virtual account (with the deposit webhook), phone, and a
 * cancel in NICE's window.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import { addChannel } from '../../src/core/merchants/channels.js';
import { systemClock } from '../../src/lib/clock.js';
import { createNicepaySimulator, testCardNumber, type NicepaySimulator } from '../../src/simulators/nicepay/index.js';
import { waitFor } from '../hardening/slow-receiver.js';
import { HAS_CHROMIUM, startE2E, warnIfNoChromium, type E2E } from './e2e-harness.js';
import { callbackRsp, checkoutFrame, confirmCheckout, requestPay, uid } from './helpers.js';

warnIfNoChromium('NICE payment window: card, trans, vbank, phone, cancel');

describe.skipIf(!HAS_CHROMIUM)('NICE payment window in Chromium (pg: nice_v2)', () => {
  let e: E2E;
  let sim: NicepaySimulator;
  let simUrl = '';
  let pg = '';
  let channelId = '';
  const clientId = `S2_${randomBytes(16).toString('hex')}`;
  const secretKey = randomBytes(16).toString('hex');

  const simPost = async (path: string, body: unknown) => {
    const res = await fetch(`${simUrl}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
    return { status: res.status, body: (await res.json()) as any };
  };

  beforeAll(async () => {
    sim = createNicepaySimulator({ clock: systemClock });
    simUrl = await sim.listen({ host: '127.0.0.1', port: 0 });
    e = await startE2E();
    // this Pier's NICE sandbox host and SDK are the simulator (routes read deps.connectors per request)
    const jtnetOnly = e.deps.connectors;
    e.deps.connectors = createConnectorRegistry({
      jtnet: { baseUrl: e.simulatorUrl, connectTimeoutMs: 2000, readTimeoutMs: 10_000 },
      nice_v2: { sandboxUrl: simUrl, sdkUrl: `${simUrl}/v1/js/`, connectTimeoutMs: 2000, readTimeoutMs: 10_000 },
    });
    await jtnetOnly.close();
    expect((await simPost('/__control/keys', { clientId, secretKey })).status).toBe(200);
    const merchant = await e.store.db.selectFrom('merchants').select('id').where('merchant_code', '=', e.merchantCode).executeTakeFirstOrThrow();
    const channel = await addChannel(e.deps, merchant.id, { provider: 'nice_v2', mid: clientId, merchantKey: secretKey, cancelPassword: '', kind: 'window', sandbox: true, name: 'NICE window' });
    channelId = channel.id;
    pg = `nice_v2.${clientId}`;
    // NICE's webhooks for this key go to the channel's notify URL (NICE: set in its admin)
    expect((await simPost('/__control/webhook', { clientId, url: `${e.pierUrl}/checkout/pg/${channelId}/notify` })).status).toBe(200);
  });
  afterAll(async () => {
    await e?.close();
    await sim?.close();
  });

  const niceLedger = async (orderId: string) => (await (await fetch(`${simUrl}/__ledger?orderId=${orderId}`)).json()) as { payments: any[] };

  it('pays by card: the SDK opens NICE’s window in Pier’s overlay, Pier approves, the callback and REST say paid', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('nicecard');
    await requestPay(page, { pg, pay_method: 'card', merchant_uid, name: '나이스 카드', amount: 12000, buyer_name: '홍길동', buyer_tel: '010-1234-5678' });
    const f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await f.locator('#cardNo').fill(testCardNumber({ kftcCode: '366', lastFour: '4242' }));
    await f.locator('#cardExpiry').fill('12/30');
    await e.screenshot(page, 'pc-nice-card-window');
    await f.locator('#payBtn').click();
    const { rsp, calls } = await callbackRsp(page);
    expect(calls).toBe(1);
    expect(rsp).toMatchObject({ success: true, merchant_uid, pay_method: 'card', status: 'paid', paid_amount: 12000, pg_provider: 'nice_v2', card_name: '신한카드' });
    const stored = (await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response;
    expect(stored).toMatchObject({ status: 'paid', amount: 12000, pg_provider: 'nice_v2', pg_id: clientId, card_code: '366', channel: 'pc' });
    expect(stored.pg_tid).toMatch(/^UT\w{8}01\d{18}$/);
    expect((await niceLedger(rsp.imp_uid)).payments.map((p) => [p.tid, p.status, p.amount])).toEqual([[stored.pg_tid, 'paid', 12000]]);
    await context.close();
  });

  it('pays by bank transfer (trans → NICE bank) with the bank the buyer picks', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('nicetrans');
    await requestPay(page, { pg, pay_method: 'trans', merchant_uid, name: '나이스 이체', amount: 15000, buyer_name: '홍길동' });
    const f = checkoutFrame(page);
    await confirmCheckout(f);
    await f.locator('#bankCode').selectOption('088');
    await f.locator('#payBtn').click();
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, merchant_uid, pay_method: 'trans', status: 'paid', paid_amount: 15000 });
    const stored = (await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response;
    expect(stored).toMatchObject({ status: 'paid', pay_method: 'trans', amount: 15000, bank_code: '088' });
    await context.close();
  });

  it('issues a virtual account (ready), and NICE’s deposit webhook makes it paid with the merchant’s paid webhook queued', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('nicevbank');
    await requestPay(page, { pg, pay_method: 'vbank', merchant_uid, name: '나이스 가상계좌', amount: 23000, buyer_name: '홍길동', notice_url: 'https://hooks.example/nice' });
    const f = checkoutFrame(page);
    await confirmCheckout(f);
    await f.locator('#vbankCode').selectOption('004');
    await f.locator('#payBtn').click();
    await f.locator('#vbankNumber').waitFor();
    await e.screenshot(page, 'pc-nice-vbank-issued');
    await f.locator('#confirmBtn').click();
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, merchant_uid, pay_method: 'vbank', status: 'ready', paid_amount: 23000, vbank_code: '004' });
    expect(rsp.vbank_num).toMatch(/\d{6,}/);
    expect(rsp.vbank_date).toBeGreaterThan(Date.now() / 1000);
    let stored = (await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response;
    expect(stored).toMatchObject({ status: 'ready', vbank_num: rsp.vbank_num, paid_at: 0 });

    // the buyer transfers the money: NICE marks it paid and sends its webhook to Pier's notify URL
    const dep = await simPost('/__control/vbank/deposit', { tid: stored.pg_tid, amount: 23000 });
    expect(dep.status).toBe(200);
    // NICE sends its webhook on its own time (asynchronously to the deposit): wait for Pier's record
    stored = await waitFor(async () => {
      const p = (await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response;
      return p.status === 'paid' && p;
    }, 10_000, 'the deposit webhook to be recorded');
    expect(stored).toMatchObject({ status: 'paid', amount: 23000 });
    expect(stored.paid_at).toBeGreaterThan(0);
    const queued = await e.store.db
      .selectFrom('webhook_deliveries')
      .innerJoin('webhook_events', 'webhook_events.id', 'webhook_deliveries.event_id')
      .select(['webhook_events.status', 'webhook_events.cause', 'webhook_deliveries.url'])
      .where('webhook_events.imp_uid', '=', rsp.imp_uid)
      .orderBy('webhook_events.created_at')
      .execute();
    expect(queued.map((q) => `${q.status}:${q.cause}:${q.url}`)).toEqual(['ready:vbank_issued:https://hooks.example/nice', 'paid:vbank_deposit:https://hooks.example/nice']);
    await context.close();
  });

  it('pays by phone (cellphone, isDigital from V1 digital)', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('nicephone');
    await requestPay(page, { pg, pay_method: 'phone', merchant_uid, name: '디지털 상품', amount: 5000, digital: true, buyer_tel: '010-1234-5678' });
    const f = checkoutFrame(page);
    await confirmCheckout(f);
    await f.locator('#carrier').selectOption('KT');
    await f.locator('#phone').fill('01012345678');
    await f.locator('#payBtn').click();
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: true, merchant_uid, pay_method: 'phone', status: 'paid', paid_amount: 5000 });
    expect((await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response).toMatchObject({ status: 'paid', pay_method: 'phone', pg_provider: 'nice_v2' });
    await context.close();
  });

  it('a cancel in NICE’s window reaches the callback as V1’s cancel (F0005) and charges nothing', async () => {
    const { context, page } = await e.shop();
    const merchant_uid = uid('nicecancel');
    await requestPay(page, { pg, pay_method: 'card', merchant_uid, name: '취소', amount: 9000 });
    const f = checkoutFrame(page);
    await confirmCheckout(f, { cardCode: '366' });
    await f.locator('#cancelBtn').click();
    const { rsp } = await callbackRsp(page);
    expect(rsp).toMatchObject({ success: false, merchant_uid, error_code: 'F0005' });
    expect((await e.rest('GET', `/payments/${rsp.imp_uid}`)).body.response.status).toBe('failed');
    expect((await niceLedger(rsp.imp_uid)).payments).toEqual([]);
    await context.close();
  });
});
