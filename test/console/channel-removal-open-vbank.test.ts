/**
 * Removing the channel of a virtual account that still awaits its deposit (decision 0100). The
 * console and the CLI refuse to remove a channel that paid or in-doubt payments use unless forced;
 * an issued, unpaid account was not counted, so the window channel went without a word. The buyer
 * then deposits at the PG, which notifies the channel's URL: no channel, nothing recorded, and no
 * deposit check either. After the deadline the order's merchant_uid was released as unpaid (a
 * removed channel can be asked nothing, decision 0006) and could be paid a second time.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { depositNoticeSignature } from '../../src/connectors/jtnet/window-crypto.js';
import { JTNET_TEST_MIDS } from '../../src/core/sandbox/demo.js';
import { kstTimestamp14 } from '../../src/lib/clock.js';
import { rspOf } from '../buyer-forms.js';
import { rig, uid } from '../checkout/window-rig.js';
import { startConsolePier, type Agent, type ConsolePier, type ConsoleUser } from './console-harness.js';

let c: ConsolePier;
let u: ConsoleUser;
let a: Agent;
const r = rig(() => ({ pier: c.pier, m: u.merchant }));
const KEY = JTNET_TEST_MIDS.find((t) => t.mid === 'tpaytest0m')!.merchantKey;

beforeAll(async () => {
  c = await startConsolePier();
  u = await c.newUser();
  a = c.agent();
  expect((await a.signIn(u.email, u.password)).status).toBe(303);
});
afterAll(() => c.close());

describe('removing the channel of a virtual account awaiting its deposit', () => {
  it('is refused unless forced, so the deposit the PG then notifies is recorded', async () => {
    const w = await r.openWindow({ pay_method: 'vbank', amount: 31000, merchant_uid: uid('vb_channel') });
    const issued = await r.actInWindow(w, { action: 'pay', bankCode: '004' });
    expect(rspOf((await r.postPier(issued.action, issued.fields)).html)).toMatchObject({ success: true, status: 'ready' });
    const account = await r.payment(w.impUid);
    expect({ status: account.status, lock: account.merchant_uid_lock }).toEqual({ status: 'ready', lock: w.merchantUid });

    // nothing else uses the window channel: no billing key, no paid or in-doubt payment (soft: what
    // a removal that went through does to the deposit is asserted below)
    const removal = await a.api('DELETE', `/console/api/channels/${account.channel_id}`);
    expect.soft(removal.status).toBe(409);
    expect.soft(removal.json).toMatchObject({ ok: false, error: { code: 'refused', message: expect.stringContaining('0개와 환불 가능하거나 입금을 기다리는 결제 1건') } });

    // the buyer deposits at the PG, which posts its signed notice to the URL registered for the MID
    const dep = (await (
      await fetch(`${c.pier.simulatorUrl}/__control/vbank/deposit`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ moid: w.impUid, amount: 31000 }) })
    ).json()) as { status: string; tid: string; depositedAt: number };
    expect(dep.status).toBe('paid');
    const fields: Record<string, string> = {
      payMethod: 'VBANK', mid: 'tpaytest0m', tid: dep.tid, moid: w.impUid, amt: '31000', resultCd: '4110', resultMsg: '가상계좌 입금 완료',
      depositDate: kstTimestamp14(c.pier.clock.now()), depositorName: '홍길동', vbankCode: '004', vbankNum: account.vbank_num!, ediDate: kstTimestamp14(c.pier.clock.now()),
    };
    fields.signature = depositNoticeSignature(KEY, fields);
    const notice = await c.pier.app.inject({
      method: 'POST',
      url: `/checkout/pg/${account.channel_id}/notify`,
      headers: { 'content-type': 'application/x-www-form-urlencoded' },
      payload: new URLSearchParams(fields).toString(),
    });
    expect({ status: notice.statusCode, body: JSON.parse(notice.body) }).toEqual({ status: 200, body: { result_cd: '0000', result_msg: 'OK', imp_uid: w.impUid } });
    const paid = await r.payment(w.impUid);
    expect({ status: paid.status, lock: paid.merchant_uid_lock }).toEqual({ status: 'paid', lock: w.merchantUid });
    expect(await r.eventsOf(w.impUid)).toEqual(['ready', 'paid']);

    // paid now, it still counts; the operator may force the removal, as before
    expect((await a.api('DELETE', `/console/api/channels/${account.channel_id}`)).status).toBe(409);
    expect((await a.api('DELETE', `/console/api/channels/${account.channel_id}?force=1`)).status).toBe(200);
  });
});
