/**
 * m_redirect_url comes from an anonymous request_pay (anyone holding the public merchant code) and is
 * checked only for http(s). A GET of Pier's checkout URL (what a link makes) therefore redirects there
 * only once a PG window was opened for the session; the buyer's own POSTs still redirect (decision 0043).
 */
import { describe, expect, it } from 'vitest';
import { windowRig } from './window-rig.js';
import { formOf, rspOf } from '../buyer-forms.js';

const r = windowRig();

const hostOf = (location: unknown) => (location ? new URL(String(location)).host : null);

describe('m_redirect_url', () => {
  it('Pier does not send a buyer from its own checkout URL to a site unrelated to the merchant page that made the session', async () => {
    // the attacker's own request_pay: origin of the "shop" page and m_redirect_url are both attacker-chosen
    const s = await r.createSession({ merchant_uid: 'phish_1', m_redirect_url: 'https://evil.example/pier-login' }, 'redirect');
    expect(s.ok).toBe(true);
    await r.pier.app.inject({ method: 'POST', url: `/checkout/sessions/${s.session_id}/close` });
    // the link the attacker sends around: Pier's own checkout URL (and its GET cancel URL)
    for (const url of [`/checkout/${s.session_id}`, `/checkout/${s.session_id}/cancel`]) {
      const res = await r.pier.app.inject({ method: 'GET', url });
      expect({ status: res.statusCode, host: hostOf(res.headers.location) }).toEqual({ status: 200, host: null });
    }
  });

  it("the buyer's own cancel on Pier's checkout page (a POST) still returns to m_redirect_url", async () => {
    const s = await r.createSession({ merchant_uid: 'redirect_cancel_1', m_redirect_url: 'https://shop.example/done' }, 'redirect');
    const res = await r.pier.app.inject({ method: 'POST', url: `/checkout/${s.session_id}/close` });
    expect({ status: res.statusCode, host: hostOf(res.headers.location) }).toEqual({ status: 303, host: 'shop.example' });
    expect(new URL(String(res.headers.location)).searchParams.get('imp_success')).toBe('false');
  });

  it('once a PG window was opened, a GET of the finished checkout returns to m_redirect_url as before', async () => {
    const w = await r.openWindow({ m_redirect_url: 'https://shop.example/done' }, { mode: 'redirect' });
    const cancelPost = await r.actInWindow(w, { action: 'cancel' });
    const posted = await r.postPier(cancelPost.action, cancelPost.fields);
    expect({ status: posted.status, host: hostOf(posted.headers.location) }).toEqual({ status: 303, host: 'shop.example' });
    const again = await r.pier.app.inject({ method: 'GET', url: `/checkout/${w.sessionId}` });
    expect({ status: again.statusCode, host: hostOf(again.headers.location) }).toEqual({ status: 303, host: 'shop.example' });
  });
});

describe('a GET of the cancel URL (a PG may send the buyer there with one)', () => {
  it('changes nothing while the buyer is in the PG window: a link scanner cannot close the checkout; the page posts it from the browser, which then closes it', async () => {
    const w = await r.openWindow({});
    const url = `/checkout/${w.sessionId}/cancel?resultCd=U001&resultMsg=${encodeURIComponent('사용자 취소')}`;
    const got = await r.pier.app.inject({ method: 'GET', url });
    expect(got.statusCode).toBe(200);
    const session = () => r.pier.deps.store.db.selectFrom('checkout_sessions').select('state').where('id', '=', w.sessionId).executeTakeFirstOrThrow();
    expect(await session()).toEqual({ state: 'started' });
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'ready', pg_state: 'window' });

    // the buyer's browser posts what came in the query to the same URL
    const post = formOf(got.body, 'pg-form');
    expect(post).toEqual({ action: `http://localhost:8080/checkout/${w.sessionId}/cancel`, fields: { resultCd: 'U001', resultMsg: '사용자 취소' } });
    const closed = await r.postPier(post.action, post.fields);
    expect(rspOf(closed.html)).toMatchObject({ success: false, imp_uid: w.impUid, merchant_uid: w.merchantUid });
    expect(await session()).toEqual({ state: 'done' });
    expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed' });
  });
});

