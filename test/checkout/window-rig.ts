/**
 * A buyer's browser without a browser, for the window attack tests: Pier in-process, the tPay
 * simulator over real HTTP, Pier's and the PG's forms posted (and edited) as a browser would.
 * (Modelled on window-money-safety.test.ts; first written by the window review.)
 */
import { request } from 'undici';
import { afterAll, beforeAll, expect } from 'vitest';
import { formOf } from '../buyer-forms.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

export const ORIGIN = 'https://shop.example';
let seq = 0;
export const uid = (p: string) => `${p}_${++seq}_${Date.now() % 100000}`;

export async function postHttp(url: string, fields: Record<string, string>) {
  const res = await request(url, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: new URLSearchParams(fields).toString() });
  return { status: res.statusCode, html: await res.body.text() };
}

export function rig(get: () => { pier: TestPier; m: TestMerchant }) {
  const postPier = async (url: string, fields: Record<string, string>) => {
    const { pier } = get();
    const path = url.replace(/^https?:\/\/[^/]+/, '');
    const res = await pier.app.inject({ method: 'POST', url: path, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });
    return { status: res.statusCode, html: res.body, headers: res.headers };
  };
  const createSession = async (params: Record<string, unknown>, mode = 'overlay') => {
    const { pier, m } = get();
    const created = await pier.app.inject({
      method: 'POST',
      url: '/checkout/sessions',
      headers: { 'content-type': 'application/json' },
      payload: JSON.stringify({ imp_code: m.merchantCode, params: { pg: 'jtnet', pay_method: 'card', name: '상품', amount: 5000, buyer_name: '홍길동', ...params }, mode, origin: ORIGIN }),
    });
    return JSON.parse(created.body);
  };
  const openWindow = async (params: Record<string, unknown>, opts: { cardCode?: string; mode?: string } = {}) => {
    const { pier } = get();
    const merchantUid = (params.merchant_uid as string) ?? uid('order');
    const s = await createSession({ ...params, merchant_uid: merchantUid }, opts.mode);
    if (!s.session_id) throw new Error(`no session: ${JSON.stringify(s)}`);
    const pm = (params.pay_method as string) ?? 'card';
    const toPg = await postPier(`/checkout/${s.session_id}/start`, { agree: '1', ...(pm === 'card' ? { card_code: opts.cardCode ?? '366' } : {}) });
    expect(toPg.status, toPg.html).toBe(200);
    const pgForm = formOf(toPg.html, 'pg-form');
    const window = await postHttp(pgForm.action, pgForm.fields);
    expect(window.status, window.html).toBe(200);
    const payForm = formOf(window.html, 'payForm');
    const session = await pier.deps.store.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', s.session_id).executeTakeFirstOrThrow();
    return { sessionId: s.session_id as string, impUid: session.imp_uid!, merchantUid, submitUrl: new URL(payForm.action, pgForm.action).toString(), txToken: payForm.fields.txToken!, pgForm };
  };
  const actInWindow = async (w: { submitUrl: string; txToken: string }, fields: Record<string, string>) => {
    const res = await postHttp(w.submitUrl, { txToken: w.txToken, ...fields });
    expect(res.status, res.html).toBe(200);
    return formOf(res.html, 'tpayResult');
  };
  const payment = (impUid: string) => get().pier.deps.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
  const eventsOf = async (impUid: string) =>
    (await get().pier.deps.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).orderBy('created_at').execute()).map((e) => e.status);
  const ledgerTx = async (moid: string) => {
    const l = (await (await fetch(`${get().pier.simulatorUrl}/__ledger`)).json()) as { approvals: any[]; declines: any[] };
    return [...l.approvals, ...l.declines].filter((t) => t.moid === moid);
  };
  return { postPier, createSession, openWindow, actInWindow, payment, eventsOf, ledgerTx };
}

/**
 * The rig on a Pier in-process (startTestPier with `opts`) and a merchant of its own, which the file or
 * describe block that calls this starts in its beforeAll and closes in its afterAll.
 *
 * @example
 *   const r = windowRig();
 *   it('…', async () => { const w = await r.openWindow({}); … r.pier.deps … r.m.token … });
 */
export function windowRig(opts?: Parameters<typeof startTestPier>[0]) {
  let pier: TestPier | undefined;
  let m: TestMerchant | undefined;
  beforeAll(async () => {
    pier = await startTestPier(opts);
    m = await pier.newMerchant();
  });
  afterAll(async () => pier?.close());
  const started = () => {
    if (!pier || !m) throw new Error('windowRig: its Pier starts in beforeAll; it was used before');
    return { pier, m };
  };
  return {
    ...rig(started),
    get pier() {
      return started().pier;
    },
    get m() {
      return started().m;
    },
  };
}

export const cardFields = (pan: string, quota = '00') => ({ cardNo: pan, cardExpiry: '12/30', buyerAuthNum: '900101', cardPwd: '12', cardQuota: quota });
export const card = (lastFour = '4242', kftcCode = '366') => testCardNumber({ kftcCode, lastFour });
