/**
 * Pier's checkout form posted twice (`POST /checkout/{id}/start`): a genuine buyer's double click
 * before checkout.js has run, a slow answer clicked again, a form resubmitted. The second post came
 * to a checkout whose PG window the first had opened, and closed it (F0005, "the buyer cancelled").
 * Now it gets the same attempt's window again, or the in-progress page; never a close (decision
 * 0086). The browser's side of it: test/e2e/window-second-press.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { formOf, rspOf } from '../buyer-forms.js';
import { card, cardFields, postHttp, windowRig, uid } from './window-rig.js';
import { REOPEN_SECONDS } from '../../src/core/checkout/sessions.js';

const r = windowRig();


const attemptsOf = (merchantUid: string) =>
  r.pier.deps.store.db.selectFrom('payments').select(['imp_uid', 'status', 'pg_state']).where('merchant_uid', '=', merchantUid).execute();

describe('pay pressed again on a checkout whose PG window is open', () => {
  it('the second press answers the same attempt\'s PG window; the buyer pays in it and the checkout ends paid', async () => {
    const merchantUid = uid('twice');
    const s = await r.createSession({ pay_method: 'card', merchant_uid: merchantUid, amount: 14000 });
    const first = await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1', card_code: '366' });
    const second = await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1', card_code: '366' });
    expect(second.status, second.html).toBe(200);
    const [a, b] = [formOf(first.html, 'pg-form'), formOf(second.html, 'pg-form')];
    expect({ moid: b.fields.moid, amt: b.fields.amt, payMethod: b.fields.payMethod, action: b.action }).toEqual({ moid: a.fields.moid, amt: '14000', payMethod: 'CARD', action: a.action });
    const attempts = await attemptsOf(merchantUid);
    expect(attempts).toEqual([{ imp_uid: a.fields.moid, status: 'ready', pg_state: 'window' }]);
    const session = await r.pier.deps.store.db.selectFrom('checkout_sessions').select(['state', 'result']).where('id', '=', s.session_id).executeTakeFirstOrThrow();
    expect(session).toEqual({ state: 'started', result: null });

    // the window the second answer opens takes the payment
    const window = await postHttp(b.action, b.fields);
    const payForm = formOf(window.html, 'payForm');
    const result = await r.actInWindow({ submitUrl: new URL(payForm.action, b.action).toString(), txToken: payForm.fields.txToken! }, { action: 'pay', ...cardFields(card()) });
    const rsp = rspOf((await r.postPier(result.action, result.fields)).html);
    expect({ success: rsp.success, imp_uid: rsp.imp_uid, status: (await r.payment(a.fields.moid!)).status }).toEqual({ success: true, imp_uid: a.fields.moid, status: 'paid' });
    // pressed once more after that: the result, as a GET of the checkout shows it
    const after = await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1', card_code: '366' });
    expect(rspOf(after.html)).toMatchObject({ success: true, imp_uid: a.fields.moid });
  });

  it('pressed again later than a double click (a form resubmitted after Back): the in-progress page; the attempt stays open, nothing is closed as the buyer\'s cancel', async () => {
    const merchantUid = uid('late');
    const s = await r.createSession({ pay_method: 'card', merchant_uid: merchantUid, amount: 14000 });
    await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1', card_code: '366' });
    // a window opened again this late could outlive the lifetime Pier counts from the attempt's start
    r.pier.clock.advance((REOPEN_SECONDS + 1) * 1000);
    const again = await r.postPier(`/checkout/${s.session_id}/start`, { agree: '1', card_code: '366' });
    expect({ status: again.status, inProgress: again.html.includes('"page":"in-progress"'), pgForm: again.html.includes('id="pg-form"') }).toEqual({ status: 200, inProgress: true, pgForm: false });
    const [attempt] = await attemptsOf(merchantUid);
    expect({ status: attempt!.status, pg_state: attempt!.pg_state }).toEqual({ status: 'ready', pg_state: 'window' });
    const session = await r.pier.deps.store.db.selectFrom('checkout_sessions').select(['state']).where('id', '=', s.session_id).executeTakeFirstOrThrow();
    expect(session.state).toBe('started');
  });
});
