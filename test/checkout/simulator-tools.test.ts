/**
 * The sandbox tools are what each PG's simulator declares (decision 0080, lib/simulator-tools.ts):
 * NICE's simulator offers its ledger and deposits as tPay's does, so a NICE virtual account is paid
 * into, and NICE payments compared, by the same code that serves JTNET's; a PG whose calls go to no
 * simulator is named instead. Pier in-process and listening, both simulators over real HTTP.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { merchantLedger } from '../../src/core/console/ledger.js';
import { addChannel } from '../../src/core/merchants/channels.js';
import { sandboxVbankDeposit } from '../../src/core/virtual-accounts/deposit.js';
import { simulatorTools } from '../../src/simulators/registry.js';
import { testCardNumber } from '../../src/simulators/nicepay/index.js';
import { postForm, rspOf } from '../buyer-forms.js';
import { waitFor } from '../hardening/slow-receiver.js';
import { startTestPier } from '../harness.js';
import { authenticateAtNice, niceWindowPage, openNiceWindow, startNicePier, submitNiceWindow, type NicePier } from './nice-harness.js';

let n: NicePier;
let seq = 0;
const uid = (p: string) => `tools_${p}_${++seq}_${Date.now() % 100000}`;
const order = (over: Record<string, unknown> = {}) => ({ pay_method: 'card', merchant_uid: uid('o'), name: '나이스 상품', amount: 12000, buyer_name: '홍길동', buyer_tel: '010-1234-5678', ...over });
const back = (result: { action: string; fields: Record<string, string> }) => postForm(result.action, result.fields);
const row = (impUid: string) => n.pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();

beforeAll(async () => {
  n = await startNicePier();
  // NICE's webhook goes where its admin says: the channel's notify URL
  expect((await n.simPost('/__control/webhook', { clientId: n.clientId, url: `${n.pierUrl}/checkout/pg/${n.channelId}/notify` })).status).toBe(200);
});
afterAll(async () => {
  await n?.close();
});

describe("NICE's simulator tools", () => {
  it('are declared beside tPay’s, each talking to the simulator its connector calls', () => {
    expect(simulatorTools(n.pier.deps.connectors).map((t) => [t.provider, t.url, typeof t.ledger, typeof t.deposit])).toEqual([
      ['jtnet', n.pier.simulatorUrl, 'function', 'function'],
      ['nice_v2', n.simUrl, 'function', 'function'],
    ]);
  });

  it('pay into a NICE virtual account through the sandbox deposit (NICE’s webhook then records it), and show NICE’s payments beside Pier’s', async () => {
    const { handOver } = await openNiceWindow(n, order({ pay_method: 'vbank', amount: 23000 }));
    const { token } = await niceWindowPage(n, handOver.params);
    const rsp = rspOf((await back(await submitNiceWindow(n, token, { vbankCode: '004' }))).html);
    expect(rsp).toMatchObject({ success: true, status: 'ready', pay_method: 'vbank', pg_provider: 'nice_v2' });
    const impUid = rsp.imp_uid as string;

    // the console, the API and the CLI name the PG whose simulator is missing or takes no deposits
    const all = simulatorTools(n.pier.deps.connectors);
    await expect(sandboxVbankDeposit(n.pier.deps, all.filter((t) => t.provider !== 'nice_v2'), { impUid })).rejects.toMatchObject({
      kind: 'not_supported',
      message: 'NICE페이먼츠(nice_v2) 시뮬레이터가 이 Pier에 없습니다. (no simulator of nice_v2 in this Pier: its test calls go to no simulator)',
    });
    await expect(sandboxVbankDeposit(n.pier.deps, all.map((t) => ({ ...t, deposit: undefined })), { impUid })).rejects.toMatchObject({
      kind: 'not_supported',
      message: 'NICE페이먼츠(nice_v2) 시뮬레이터는 입금 도구를 제공하지 않습니다. (the nice_v2 simulator takes no deposits)',
    });
    const wrong = await sandboxVbankDeposit(n.pier.deps, simulatorTools(n.pier.deps.connectors), { impUid, merchantId: n.merchant.merchantId, amount: 1000 });
    expect(wrong).toMatchObject({ ok: false, simulatorStatus: 409, simulator: { error: '4122 입금금액 불일치' }, payment: { status: 'ready' } });

    const r = await sandboxVbankDeposit(n.pier.deps, simulatorTools(n.pier.deps.connectors), { impUid, merchantId: n.merchant.merchantId });
    expect(r).toMatchObject({ ok: true, simulatorStatus: 200, simulator: { orderId: impUid, status: 'paid', amount: 23000 }, renotify: null });
    const paid = await waitFor(async () => {
      const p = await row(impUid);
      return p.status === 'paid' && p;
    }, 10_000, 'the deposit webhook to be recorded');
    expect(paid).toMatchObject({ status: 'paid', amount: 23000 });

    // a card payment too, then the ledgers of both PGs beside Pier's records
    const card = await authenticateAtNice(n, order(), { cardNo: testCardNumber({ kftcCode: '366', lastFour: '4242' }), cardExpiry: '12/30', cardQuota: '0' });
    const cardRsp = rspOf((await back(card.result)).html);
    expect(cardRsp).toMatchObject({ success: true, status: 'paid' });
    const ledger = await merchantLedger(n.pier.deps, n.merchant.merchantId, simulatorTools(n.pier.deps.connectors));
    expect(ledger.without).toEqual([]);
    expect(ledger.mids).toContain(n.clientId);
    const nice = ledger.rows.filter((x) => x.mid === n.clientId);
    expect(nice.map((x) => [x.impUid, x.pier?.status, x.pg?.status, x.pg?.amount, x.differences]).sort()).toEqual(
      [
        [cardRsp.imp_uid, 'paid', 'paid', 12000, []],
        [impUid, 'paid', 'paid', 23000, []],
      ].sort(),
    );
  });
});

describe('a PG whose calls go to no simulator', () => {
  it('is named beside the ledgers shown', async () => {
    // the harness's NICE has no simulator: its test calls would go to NICE's own sandbox
    const pier = await startTestPier();
    try {
      const m = await pier.newMerchant();
      await addChannel(pier.deps, m.merchantId, { provider: 'nice_v2', mid: 'S2_0123456789abcdef0123456789abcdef', merchantKey: 'k'.repeat(32), cancelPassword: '', kind: 'window', sandbox: true });
      const tools = simulatorTools(pier.deps.connectors);
      expect(tools.map((t) => t.provider)).toEqual(['jtnet']);
      const ledger = await merchantLedger(pier.deps, m.merchantId, tools);
      expect(ledger.without).toEqual(['NICE페이먼츠']);
    } finally {
      await pier.close();
    }
  });
});
