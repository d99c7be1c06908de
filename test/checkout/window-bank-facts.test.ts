import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { recordPgApproval, type FoundAtPg } from '../../src/core/checkout/window-settlement.js';
import { attemptRow, insertAttempt } from '../../src/core/payments/attempts.js';
import { resolveChannel } from '../../src/core/merchants/channels.js';
import { newImpUid } from '../../src/lib/ids.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let merchant: TestMerchant;
beforeAll(async () => {
  pier = await startTestPier();
  merchant = await pier.newMerchant();
});
afterAll(() => pier.close());

describe('a transfer approved in the window whose PG notice is recorded first', () => {
  it('keeps the bank the buyer picked: the verified post that names it fills it in after the notice recorded the approval', async () => {
    const { deps } = pier;
    const channel = await resolveChannel(deps, merchant.merchantId, null, 'window');
    const impUid = newImpUid();
    const now = Math.floor(deps.clock.now() / 1000);
    const row = attemptRow(
      {
        impUid,
        merchantId: merchant.merchantId,
        merchantUid: `bank_${impUid}`,
        channel,
        payMethod: 'trans',
        via: 'pc',
        pgState: 'window',
        amount: 15000,
        taxFree: 0,
        vatAmount: null,
        name: '이체',
        buyer: { name: null, email: null, tel: null, addr: null, postcode: null },
        customData: null,
        noticeUrl: null,
        userAgent: null,
        cardQuota: 0,
        customerUid: null,
        customerUidUsage: null,
      },
      now,
    );
    expect((await insertAttempt(deps, row)).ok).toBe(true);
    const found: FoundAtPg = { found: true, state: 'paid', pgTid: `tid_${impUid}`, amount: 15000, cancelledAmount: 0, applyNum: null, paidAt: now, cardQuota: 0, receiptUrl: null, cardCode: null, cardName: null, cardNumberMasked: null, cardType: null };
    const attempt = { impUid, merchantId: merchant.merchantId, amount: 15000, channel, params: null };

    // the PG's notice, re-read by inquiry: no bank in it
    expect(await recordPgApproval(deps, attempt, found, { confirmInline: false })).toBe('paid');
    // then the buyer's verified post, which names the bank
    expect(await recordPgApproval(deps, attempt, found, { bank: { bankCode: '088', bankName: '신한은행' }, confirmInline: false })).toBe('already_settled');

    const stored = await deps.store.db.selectFrom('payments').select(['status', 'bank_code', 'bank_name', 'pg_tid']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect(stored).toEqual({ status: 'paid', bank_code: '088', bank_name: '신한은행', pg_tid: `tid_${impUid}` });
  });
});
