/**
 * NICE's `taxFreeAmt` is an SDK parameter the page hands `AUTHNICE.requestPay`, so the buyer can
 * change the tax-free part NICE books. NICE's server approval takes only the amount, and none of its
 * answers (approve, lookup, webhook) reports a tax-free part (spec/nicepay.md §1.6, §2.1): Pier can
 * neither set nor check it. Decision 0086 leaves it so (no money moves to the buyer; the route that
 * closes it is NICE's Checkout API, a different integration); this test pins what happens, as the
 * simulator models NICE: NICE books the page's figure and reports none, Pier records request_pay's.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { postForm, rspOf } from '../buyer-forms.js';
import { testCardNumber as niceCard } from '../../src/simulators/nicepay/index.js';
import { niceWindowPage, openNiceWindow, startNicePier, submitNiceWindow, type NicePier } from './nice-harness.js';
import { uid } from './window-rig.js';

let n: NicePier;
beforeAll(async () => {
  n = await startNicePier();
});
afterAll(async () => n?.close());

describe("a tax-free part rewritten in NICE's SDK parameters (accepted, decision 0086)", () => {
  it('NICE books the page\'s taxFreeAmt and reports none; Pier records request_pay\'s tax_free and the payment stands', async () => {
    const { handOver } = await openNiceWindow(n, { pay_method: 'card', merchant_uid: uid('ntaxfree'), name: '상품', amount: 12000, tax_free: 1000 });
    expect(handOver.params.taxFreeAmt).toBe(1000);
    const { token } = await niceWindowPage(n, { ...handOver.params, taxFreeAmt: 12000 });
    const result = await submitNiceWindow(n, token, { cardNo: niceCard({ kftcCode: '366', lastFour: '4242' }), cardExpiry: '12/30', cardQuota: '0' });
    const rsp = rspOf((await postForm(result.action, result.fields)).html);
    const impUid = handOver.params.orderId as string;
    const p = await n.pier.deps.store.db.selectFrom('payments').select(['status', 'tax_free', 'pg_tid']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect({ success: rsp.success, status: p.status, tax_free: Number(p.tax_free) }).toEqual({ success: true, status: 'paid', tax_free: 1000 });
    const [pg] = ((await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(impUid)}`)).json()) as { payments: any[] }).payments;
    expect(pg.taxFreeAmt).toBe(12000);
    // what NICE answers about the payment names no tax-free part to compare with
    const lookup = await fetch(`${n.simUrl}/v1/payments/${p.pg_tid}`, { headers: { authorization: `Basic ${Buffer.from(`${n.clientId}:${n.secretKey}`).toString('base64')}` } });
    const body = (await lookup.json()) as Record<string, unknown>;
    expect({ resultCode: body.resultCode, mentionsTaxFree: JSON.stringify(body).includes('taxFree') }).toEqual({ resultCode: '0000', mentionsTaxFree: false });
  });
});
