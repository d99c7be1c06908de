/**
 * A virtual-account result (tPay 4100) is recorded only as the PG reports it. tPay signs only `amt`
 * and `moid` of a window result; the tid, bank, account number, holder and due date are plain form
 * fields. Pier asks the PG (trans_search by the attempt's order id) and records the account the PG
 * holds, with the posted tid and Pier's amount, or nothing (decision 0043).
 */
import { describe, expect, it } from 'vitest';
import { settleAttempt } from '../../src/core/payments/reconcile.js';
import { rspOf } from '../buyer-forms.js';
import { windowRig } from './window-rig.js';

const r = windowRig();

describe('a forged virtual-account result', () => {
  it('a buyer who cancelled in the PG window cannot turn the cancel post into an issued account (4100) that the PG never issued', async () => {
    const w = await r.openWindow({ pay_method: 'vbank', amount: 30000 });
    // the buyer cancels in tPay's window: the post carries amt and moid encrypted by tPay
    const cancelPost = await r.actInWindow(w, { action: 'cancel' });
    // ... and rewrites the unsigned fields into a virtual-account issuance, with the attacker's own account
    const forged = {
      ...cancelPost.fields,
      resultCd: '4100',
      resultMsg: '가상계좌 발급 성공',
      tid: 'tpaytest1m01012611301200000001',
      fnCd: '004',
      fnName: '국민',
      vbankNum: '99999999999999',
      vbankHolder: 'ATTACKER',
      vbankExpDate: '20991231',
      authDate: '261130120000',
    };
    const res = await r.postPier(`/checkout/${w.sessionId}/return`, forged);
    const rsp = rspOf(res.html);
    const p = await r.payment(w.impUid);
    // the PG holds no account for this order
    expect(await r.ledgerTx(w.impUid)).toEqual([]);
    expect({ success: rsp.success, vbank_num: p.vbank_num, events: await r.eventsOf(w.impUid) }).toEqual({ success: false, vbank_num: null, events: [] });
    // nothing at the PG: failed, merchant_uid free for another try
    expect({ status: p.status, merchant_uid_lock: p.merchant_uid_lock, error_code: rsp.error_code }).toEqual({ status: 'failed', merchant_uid_lock: null, error_code: 'F1007' });
  });

  it('a buyer cannot swap the account number, holder or due date of a genuinely issued virtual account', async () => {
    const w = await r.openWindow({ pay_method: 'vbank', amount: 30000 });
    const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
    expect(issued.fields.resultCd).toBe('4100');
    const genuine = { num: issued.fields.vbankNum, holder: issued.fields.vbankHolder };
    const forged = { ...issued.fields, vbankNum: '99999999999999', vbankHolder: 'ATTACKER', vbankExpDate: '20991231' };
    const rsp = rspOf((await r.postPier(issued.action, forged)).html);
    const p = await r.payment(w.impUid);
    // the account Pier records (and hands the merchant to show the buyer) is the PG's
    expect({ vbank_num: p.vbank_num, vbank_holder: p.vbank_holder }).toEqual({ vbank_num: genuine.num, vbank_holder: genuine.holder });
    expect(new Date(Number(p.vbank_date) * 1000).getUTCFullYear()).toBeLessThan(2099);
    expect({ success: rsp.success, vbank_num: rsp.vbank_num, status: p.status }).toEqual({ success: true, vbank_num: genuine.num, status: 'ready' });
    expect(await r.eventsOf(w.impUid)).toEqual(['ready']);
  });

  it('a card checkout cannot be turned into an "issued virtual account" that holds its merchant_uid with nothing at the PG', async () => {
    const w = await r.openWindow({});
    const cancelPost = await r.actInWindow(w, { action: 'cancel' });
    const forged = { ...cancelPost.fields, resultCd: '4100', tid: 'tpaytest1m01012611301200000002', fnCd: '004', vbankNum: '99999999999999', vbankExpDate: '20991231' };
    await r.postPier(`/checkout/${w.sessionId}/return`, forged);
    const p = await r.payment(w.impUid);
    expect(await r.ledgerTx(w.impUid)).toEqual([]);
    // failed (tPay holds nothing for this order) and the merchant_uid free again
    expect({ status: p.status, pay_method: p.pay_method, vbank_num: p.vbank_num, merchant_uid_lock: p.merchant_uid_lock }).toEqual({ status: 'failed', pay_method: 'card', vbank_num: null, merchant_uid_lock: null });
  });

  it('a bare cancel post (U001) after a genuine issue does not make the account paid: it is recorded issued, as the PG reports it', async () => {
    const w = await r.openWindow({ pay_method: 'vbank', amount: 30000 });
    const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
    expect(issued.fields.resultCd).toBe('4100');
    // the browser drops the issue post and sends tPay's cancel instead (U001 needs no amt/moid)
    await r.postPier(`/checkout/${w.sessionId}/cancel`, { resultCd: 'U001', resultMsg: '사용자 취소' });
    const p = await r.payment(w.impUid);
    expect({ status: p.status, pg_state: p.pg_state, vbank_num: p.vbank_num, paid_at: Number(p.paid_at) }).toEqual({ status: 'ready', pg_state: 'done', vbank_num: issued.fields.vbankNum, paid_at: 0 });
    expect(await r.eventsOf(w.impUid)).toEqual(['ready']);
  });
});

describe('a genuine virtual-account result posted as an approval (decision 0092)', () => {
  // tPay signs amt and moid, not resultCd: the issue post's code rewritten to a card approval's
  const asCardApproval = (issued: Record<string, string>) => ({ ...issued, resultCd: '3001', resultMsg: '카드 결제 성공', authCode: '30000001', cardQuota: '00' });

  it('an account issued and never paid into is not recorded paid: the post is left to reconciliation, which records the account as the PG holds it', async () => {
    const w = await r.openWindow({ pay_method: 'vbank', amount: 30000 });
    const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
    expect(issued.fields.resultCd).toBe('4100');
    const rsp = rspOf((await r.postPier(issued.action, asCardApproval(issued.fields))).html);
    // nothing was deposited: the PG holds an account awaiting its deposit, no payment
    expect((await r.ledgerTx(w.impUid)).map((t) => ({ status: t.status, depositedAt: t.depositedAt }))).toEqual([{ status: 'ready', depositedAt: null }]);
    const p = await r.payment(w.impUid);
    expect({ success: rsp.success, error_code: rsp.error_code, status: p.status, paid_at: Number(p.paid_at), merchant_uid_lock: p.merchant_uid_lock }).toEqual({
      success: false,
      error_code: 'F1007',
      status: 'ready',
      paid_at: 0,
      merchant_uid_lock: null,
    });
    expect(await r.eventsOf(w.impUid)).toEqual([]);
    // reconciliation asks the PG and records what it holds: the account, awaiting its deposit
    expect(await settleAttempt(r.pier.deps, w.impUid, { giveUpIfUnknown: false })).toBe('awaiting_deposit');
    const after = await r.payment(w.impUid);
    expect({ status: after.status, pg_state: after.pg_state, vbank_num: after.vbank_num, paid_at: Number(after.paid_at), merchant_uid_lock: after.merchant_uid_lock }).toEqual({
      status: 'ready',
      pg_state: 'done',
      vbank_num: issued.fields.vbankNum,
      paid_at: 0,
      merchant_uid_lock: w.merchantUid,
    });
    expect(await r.eventsOf(w.impUid)).toEqual(['ready']);
  });

  it('posted after the checkout closed, neither the open account nor the account Pier then closed is recorded as a late approval', async () => {
    const w = await r.openWindow({ pay_method: 'vbank', amount: 30000 });
    await r.postPier(`/checkout/${w.sessionId}/close`, {});
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });
    // the PG window, still open, issues the account anyway
    const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
    const settled = async () => {
      const p = await r.payment(w.impUid);
      return { status: p.status, paid_at: Number(p.paid_at), cancel_amount: Number(p.cancel_amount), merchant_uid_lock: p.merchant_uid_lock, events: await r.eventsOf(w.impUid) };
    };
    const failed = { status: 'failed', paid_at: 0, cancel_amount: 0, merchant_uid_lock: null, events: [] };

    // awaiting its deposit at the PG
    const rsp = rspOf((await r.postPier(issued.action, asCardApproval(issued.fields))).html);
    expect({ success: rsp.success, error_code: rsp.error_code }).toEqual({ success: false, error_code: 'F0005' });
    expect(await settled()).toEqual(failed);

    // the genuine issue post makes Pier close the account at the PG; the rewritten one then finds it cancelled there
    await r.postPier(issued.action, issued.fields);
    expect((await r.ledgerTx(w.impUid)).map((t) => ({ status: t.status, depositedAt: t.depositedAt }))).toEqual([{ status: 'cancelled', depositedAt: null }]);
    await r.postPier(issued.action, asCardApproval(issued.fields));
    // never a `paid` webhook, a refund of money nobody paid, nor the order's merchant_uid held
    expect(await settled()).toEqual(failed);
  });
});
