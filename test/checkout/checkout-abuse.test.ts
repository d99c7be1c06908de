/**
 * The anonymous side of the payment window (decision 0059). The merchant code is public, so anyone
 * can call POST /checkout/sessions and POST /checkout/{id}/start; each window opened is a payments
 * row for good and, abandoned, inquiries at the merchant's PG. These tests act as the one who
 * floods them (from one address, one IPv6 /64, many addresses) and as a buyer paying meanwhile.
 */
import { describe, expect, it } from 'vitest';
import { buildApp } from '../../src/api/app.js';
import { DEFAULT_CHECKOUT_RATE_LIMITS, INQUIRIES_PER_CHECKOUT } from '../../src/core/checkout/rate-limits.js';
import { releaseAbandonedWindows } from '../../src/core/checkout/sessions.js';
import { reconcileInDoubt } from '../../src/core/payments/reconcile.js';
import { windowConfirmQueue } from '../../src/jobs/handlers/window-confirms.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { depsWith } from '../harness.js';
import { formOf, rspOf } from '../buyer-forms.js';
import { card, cardFields, ORIGIN, postHttp, uid, windowRig } from './window-rig.js';
import { testCardNumber } from '../harness.js';

const r = windowRig({ checkoutRateLimits: DEFAULT_CHECKOUT_RATE_LIMITS });

const SESSIONS = DEFAULT_CHECKOUT_RATE_LIMITS.sessionsPerIp.limit;
const WINDOWS = DEFAULT_CHECKOUT_RATE_LIMITS.windowsPerIp.limit;

/** IMP.request_pay as the SDK sends it, from `ip` (headers: what the sender adds, e.g. X-Forwarded-For). */
async function requestPay(ip: string, merchantUid = uid('flood'), headers: Record<string, string> = {}, app = r.pier.app) {
  const res = await app.inject({
    method: 'POST',
    url: '/checkout/sessions',
    remoteAddress: ip,
    headers: { 'content-type': 'application/json', ...headers },
    payload: JSON.stringify({ imp_code: r.m.merchantCode, params: { pg: 'jtnet', pay_method: 'card', merchant_uid: merchantUid, name: '상품', amount: 5000 }, mode: 'overlay', origin: ORIGIN }),
  });
  return { status: res.statusCode, headers: res.headers, body: JSON.parse(res.body) };
}

/** The checkout's 결제하기 from `ip`: opens the PG window (or ends the checkout). */
const start = (ip: string, sessionId: string) =>
  r.pier.app.inject({
    method: 'POST',
    url: `/checkout/${sessionId}/start`,
    remoteAddress: ip,
    headers: { 'content-type': 'application/x-www-form-urlencoded' },
    payload: new URLSearchParams({ card_code: '366', agree: '1' }).toString(),
  });

const count = async (table: 'checkout_sessions' | 'payments') =>
  Number((await r.pier.store.db.selectFrom(table).select((eb) => eb.fn.countAll().as('n')).where('merchant_id', '=', r.m.merchantId).executeTakeFirstOrThrow()).n);

const tally = (statuses: number[]) => statuses.reduce<Record<number, number>>((a, s) => ((a[s] = (a[s] ?? 0) + 1), a), {});

/** A buyer (at 127.0.0.1, the rig's address) pays 5,000 KRW by card in the window: the rsp the callback gets. */
async function buyerPays() {
  const w = await r.openWindow({});
  const result = await r.actInWindow(w, { action: 'pay', ...cardFields(card()) });
  return rspOf((await r.postPier(result.action, result.fields)).html);
}

describe('POST /checkout/sessions from one address', () => {
  it('a parallel burst gets its allowance, then 429 with Retry-After and an F1010 rsp the SDK hands to the callback; no row beyond it', async () => {
    const before = await count('checkout_sessions');
    const burst = await Promise.all(Array.from({ length: SESSIONS + 20 }, (_, i) => requestPay('198.51.100.10', `burst_${i}`)));
    expect(tally(burst.map((b) => b.status))).toEqual({ 200: SESSIONS, 429: 20 });
    expect(await count('checkout_sessions')).toBe(before + SESSIONS);

    const refused = burst.find((b) => b.status === 429)!;
    // the SDK reads the body whatever the status (a cross-origin fetch needs the CORS header for that)
    expect(refused.headers['access-control-allow-origin']).toBe('*');
    const retryAfter = Number(refused.headers['retry-after']);
    expect(retryAfter).toBeGreaterThanOrEqual(1);
    expect(retryAfter).toBeLessThanOrEqual(DEFAULT_CHECKOUT_RATE_LIMITS.sessionsPerIp.windowSeconds);
    expect(refused.body.ok).toBe(false);
    expect(refused.body.rsp).toEqual({
      success: false,
      imp_success: false,
      imp_uid: null,
      merchant_uid: expect.stringMatching(/^burst_\d+$/),
      error_code: 'F1010',
      error_msg: `결제 요청이 너무 많습니다. ${retryAfter}초 후에 다시 시도해 주세요. (too many payment requests from this address; retry after ${retryAfter} s)`,
    });

    // a buyer at another address is not affected, and pays
    expect(await buyerPays()).toMatchObject({ success: true, status: 'paid', paid_amount: 5000 });

    // once the window has passed the address may ask again
    r.pier.clock.advance(retryAfter * 1000);
    expect((await requestPay('198.51.100.10')).body).toMatchObject({ ok: true });
  });

  it('rotating the addresses of one IPv6 /64, or sending X-Forwarded-For to a Pier that trusts no proxy, counts as one address', async () => {
    const statuses: number[] = [];
    for (let i = 0; i < SESSIONS + 5; i++) statuses.push((await requestPay(`2001:db8:5:7:${(i + 1).toString(16)}::${i + 3}`)).status);
    expect(tally(statuses)).toEqual({ 200: SESSIONS, 429: 5 });
    expect((await requestPay('2001:db8:5:8::1')).status).toBe(200);

    const spoofed: number[] = [];
    for (let i = 0; i < SESSIONS + 5; i++) spoofed.push((await requestPay('198.51.100.20', uid('xff'), { 'x-forwarded-for': `203.0.113.${i}` })).status);
    expect(tally(spoofed)).toEqual({ 200: SESSIONS, 429: 5 });
  });

  it('behind a trusted proxy, each client the proxy names has its own allowance, and the proxy is not limited as one', async () => {
    const proxied = await buildApp(r.pier.deps, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080', trustProxy: '10.0.0.5' });
    try {
      const attacker: number[] = [];
      for (let i = 0; i < SESSIONS + 3; i++) attacker.push((await requestPay('10.0.0.5', uid('px'), { 'x-forwarded-for': '192.0.2.66' }, proxied)).status);
      expect(tally(attacker)).toEqual({ 200: SESSIONS, 429: 3 });
      // another buyer through the same proxy
      expect((await requestPay('10.0.0.5', uid('px'), { 'x-forwarded-for': '192.0.2.67' }, proxied)).status).toBe(200);
    } finally {
      await proxied.close();
    }
  });
});

describe('PG windows opened from one address', () => {
  it('past its allowance the checkout ends with F1010 (posted to the merchant page), and no payment is recorded for it', async () => {
    const ip = '198.51.100.30';
    const sessions: string[] = [];
    for (let i = 0; i < WINDOWS + 3; i++) sessions.push((await requestPay(ip)).body.session_id);
    const payments = await count('payments');
    const opened = await Promise.all(sessions.map((id) => start(ip, id)));
    const toPg = opened.filter((o) => o.body.includes('id="pg-form"'));
    expect(toPg.length).toBe(WINDOWS);
    expect(await count('payments')).toBe(payments + WINDOWS);

    const refused = opened.filter((o) => !o.body.includes('id="pg-form"'));
    expect(refused.length).toBe(3);
    for (const page of refused) {
      expect(page.statusCode).toBe(200);
      const rsp = rspOf(page.body);
      expect(rsp).toMatchObject({ success: false, imp_uid: null, error_code: 'F1010' });
      expect(rsp.error_msg).toMatch(/^결제 요청이 너무 많습니다\. \d+초 후에 다시 시도해 주세요\./);
    }
    // the refused sessions are over: their result stays, a second try changes nothing
    const ended = sessions[opened.indexOf(refused[0]!)]!;
    const row = await r.pier.store.db.selectFrom('checkout_sessions').select(['state', 'imp_uid']).where('id', '=', ended).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'done', imp_uid: null });
    expect(rspOf((await start(ip, ended)).body).error_code).toBe('F1010');

    // the buyer at another address pays meanwhile
    expect(await buyerPays()).toMatchObject({ success: true, status: 'paid' });
  });

  it('many addresses: each is held to its own allowance, so one row per window opened, never more', async () => {
    const addresses = Array.from({ length: 4 }, (_, i) => `192.0.2.${100 + i}`);
    const payments = await count('payments');
    for (const ip of addresses) {
      const ids: string[] = [];
      for (let i = 0; i < WINDOWS + 2; i++) ids.push((await requestPay(ip)).body.session_id);
      const pages = await Promise.all(ids.map((id) => start(ip, id)));
      expect(pages.filter((p) => p.body.includes('id="pg-form"')).length).toBe(WINDOWS);
    }
    expect(await count('payments')).toBe(payments + addresses.length * WINDOWS);
  });

  it('a buyer who opens the window five times, closing it each time, then pays, never meets the limits', async () => {
    for (let i = 0; i < 5; i++) {
      const w = await r.openWindow({});
      const closed = await r.postPier(`/checkout/${w.sessionId}/close`, {});
      expect(rspOf(closed.html)).toMatchObject({ success: false, error_code: 'F0005', imp_uid: w.impUid });
    }
    expect(await buyerPays()).toMatchObject({ success: true, status: 'paid' });
  });
});

/** Pier (the same database and PG) answering through an app that counts its PG inquiries. */
async function countingInquiries() {
  const asked: string[] = [];
  const deps = depsWith(r.pier.deps, (real) => ({
    inquire: (channel, q) => {
      asked.push(q.moid);
      return real.inquire(channel, q);
    },
  }));
  const app = await buildApp(deps, { bodyLimit: 64 * 1024, publicUrl: 'http://localhost:8080' });
  const post = (url: string, fields: Record<string, string>) =>
    app.inject({ method: 'POST', url, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: new URLSearchParams(fields).toString() });
  return { asked, post, deps, close: () => app.close() };
}

describe("PG inquiries a checkout's browser posts cause", () => {
  it('a declined result edited into approvals with new tids, posted 20 times: a handful of inquiries; the approval made afterwards in that window is still recorded', async () => {
    const pg = await countingInquiries();
    try {
      const w = await r.openWindow({});
      // the attacker's own window, declined: tPay encrypts its amount and order id, which stay valid in any edit
      const declined = await r.actInWindow(w, { action: 'pay', ...cardFields(card('0054')) });
      expect(declined.fields.resultCd).toBe('3095');
      expect(rspOf((await pg.post(`/checkout/${w.sessionId}/return`, declined.fields)).body)).toMatchObject({ success: false, error_code: '54' });
      const before = pg.asked.length;
      for (let i = 0; i < 20; i++) {
        const page = await pg.post(`/checkout/${w.sessionId}/return`, { ...declined.fields, resultCd: '3001', tid: `${declined.fields.tid}${i}` });
        expect(rspOf(page.body)).toMatchObject({ success: false, error_code: '54', imp_uid: w.impUid });
      }
      // the first post, which ended the checkout, asked one of its inquiries (decision 0092)
      expect(pg.asked.length - before).toBe(INQUIRIES_PER_CHECKOUT.limit - 1);
      expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed', merchant_uid_lock: null });

      // the buyer's Back resubmits the form into the PG window, and pays with another card: that
      // real approval's post, which Pier no longer checks, is found by the recheck written when the
      // attempt failed (decision 0007)
      const reopened = await postHttp(w.pgForm.action, w.pgForm.fields);
      expect(reopened.status, reopened.html).toBe(200);
      const payForm = formOf(reopened.html, 'payForm');
      const approved = await r.actInWindow({ submitUrl: new URL(payForm.action, w.pgForm.action).toString(), txToken: payForm.fields.txToken! }, { action: 'pay', ...cardFields(card()) });
      expect(approved.fields.resultCd).toBe('3001');
      const askedBefore = pg.asked.length;
      expect(rspOf((await pg.post(`/checkout/${w.sessionId}/return`, approved.fields)).body)).toMatchObject({ success: false, error_code: '54' });
      expect(pg.asked.length).toBe(askedBefore);
      r.pier.clock.advance(31 * 60_000);
      await new JobRunner({ queues: [windowConfirmQueue(r.pier.deps)], logger: r.pier.deps.logger }).drain();
      expect(await r.payment(w.impUid)).toMatchObject({ status: 'paid', pg_tid: approved.fields.tid, merchant_uid_lock: w.merchantUid });
    } finally {
      await pg.close();
    }
  });

  it('a declined result posted 100 times at once while the checkout is still open: a handful of inquiries, the checkout ended once by a post that asked (decision 0092)', async () => {
    const pg = await countingInquiries();
    try {
      const w = await r.openWindow({});
      const declined = await r.actInWindow(w, { action: 'pay', ...cardFields(card('0054')) });
      expect(declined.fields.resultCd).toBe('3095');
      // every post finds the checkout started, none yet ended by another: sent at once, not one after another
      const pages = await Promise.all(Array.from({ length: 100 }, () => pg.post(`/checkout/${w.sessionId}/return`, declined.fields)));
      expect(pages.map((p) => p.statusCode)).toEqual(pages.map(() => 200));
      expect(pg.asked.filter((moid) => moid === w.impUid).length).toBeLessThanOrEqual(INQUIRIES_PER_CHECKOUT.limit);
      expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed', pg_state: 'done', merchant_uid_lock: null });
      // the checkout ends once, with a post that asked the PG; the posts beyond its allowance answer the payment as it stands
      const session = await r.pier.deps.store.db.selectFrom('checkout_sessions').select(['state', 'result']).where('id', '=', w.sessionId).executeTakeFirstOrThrow();
      expect({ state: session.state, error_code: JSON.parse(session.result!).error_code }).toEqual({ state: 'done', error_code: '54' });
      expect(new Set(pages.map((p) => rspOf(p.body).imp_uid))).toEqual(new Set([w.impUid]));
    } finally {
      await pg.close();
    }
  });

  it('30 closes of one open PG window sent at once: a handful of inquiries, one rsp, the attempt settled once', async () => {
    const pg = await countingInquiries();
    try {
      const w = await r.openWindow({});
      const pages = await Promise.all(Array.from({ length: 30 }, (_, i) => pg.post(i % 2 ? `/checkout/${w.sessionId}/close` : `/checkout/sessions/${w.sessionId}/close`, {})));
      expect(pg.asked.filter((moid) => moid === w.impUid).length).toBeLessThanOrEqual(INQUIRIES_PER_CHECKOUT.limit);
      const rsps = pages.map((p) => (p.headers['content-type']?.toString().startsWith('application/json') ? JSON.parse(p.body).rsp : rspOf(p.body)));
      expect(new Set(rsps.map((x) => JSON.stringify(x))).size).toBe(1);
      // the closes that asked the PG answer the cancel; one past the allowance may have ended the checkout
      // first, with "being confirmed": the attempt is failed either way, by the PG's answer
      expect(rsps[0]).toMatchObject({ success: false, imp_uid: w.impUid });
      expect(['F0005', 'F1007']).toContain(rsps[0].error_code);
      expect(await r.payment(w.impUid)).toMatchObject({ status: 'failed', pg_state: 'done', merchant_uid_lock: null });
    } finally {
      await pg.close();
    }
  });
});

describe('reconciliation behind abandoned PG windows', () => {
  const w = windowRig();

  const GRACE = 32; // the harness's 2 s PG read timeout + 30 (inFlightGraceSeconds)

  /** PG windows opened and left (many addresses: each within its allowance). */
  async function abandon(n: number) {
    const ids: string[] = [];
    for (let i = 0; i < n; i++) ids.push((await w.openWindow({})).impUid);
    return ids;
  }

  it('a charge in doubt before windows were abandoned is asked about before them, in a pass that cannot ask about everything', async () => {
    const t0 = await abandon(12);
    w.pier.clock.advance(10 * 60_000);
    // a real API charge whose answer and immediate inquiry were both lost
    await fetch(`${w.pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'http_500', op: 'trans_search', times: 1 }) });
    const res = await w.pier.call('POST', '/subscribe/payments/onetime', {
      token: w.m.token,
      body: { merchant_uid: uid('real'), amount: 5_000, card_number: testCardNumber({ kftcCode: '381', lastFour: '0098' }), expiry: '2030-01' },
    });
    expect(res.status).toBe(502);
    const real = /imp_uid: (imp_\d{12})/.exec(res.body.message)![1]!;
    const t10 = await abandon(12);
    w.pier.clock.advance(21 * 60_000 + 1000);
    expect(await releaseAbandonedWindows(w.pier.deps)).toBe(t0.length);
    w.pier.clock.advance((GRACE + 1) * 1000);

    // every inquiry takes the PG 1 s of the manual clock; a pass may spend 10 s: 10 inquiries
    const asked: string[] = [];
    const slowPg = depsWith(w.pier.deps, (real) => ({
      inquire: async (channel, q) => {
        asked.push(q.moid);
        w.pier.clock.advance(1000);
        return real.inquire(channel, q);
      },
    }));
    const pass = () => reconcileInDoubt(slowPg, { graceSeconds: GRACE, limit: 5, concurrency: 1, budgetMs: 10_000 });
    const first = await pass();
    expect(first[real]).toBe('paid');
    expect(asked[0]).toBe(real);
    expect(asked).toHaveLength(10); // the budget ran out before the 12 windows handed over were all asked
    expect(Object.values(first).filter((o) => o === 'failed').length).toBe(asked.length - 1);

    // the windows abandoned after the charge went in doubt are asked about in their turn
    w.pier.clock.advance(10 * 60_000);
    expect(await releaseAbandonedWindows(w.pier.deps)).toBe(t10.length);
    w.pier.clock.advance((GRACE + 1) * 1000);
    while (Object.keys(await pass()).length > 0);
    for (const impUid of [...t0, ...t10]) expect(await w.payment(impUid)).toMatchObject({ status: 'failed', fail_reason: '[PG_NO_RECORD] PG사에 거래 기록이 없습니다. (no record at the PG)' });
  });

  /** this block's Pier's deps with a PG that counts the inquiries about each order id (imp_uid). */
  function countedPg() {
    const asked = new Map<string, number>();
    const deps = depsWith(w.pier.deps, (real) => ({
      inquire: (channel, q) => {
        asked.set(q.moid, (asked.get(q.moid) ?? 0) + 1);
        return real.inquire(channel, q);
      },
    }));
    return { deps, askedAbout: (impUid: string) => asked.get(impUid) ?? 0 };
  }

  /** Everything Pier runs in the background for a day: reconciliation passes and the window acknowledgement/recheck jobs. */
  async function aDayOfBackgroundWork(deps: typeof w.pier.deps) {
    for (const step of [31 * 60_000, 60 * 60_000, 24 * 3600_000]) {
      w.pier.clock.advance(step);
      await new JobRunner({ queues: [windowConfirmQueue(deps)], logger: deps.logger }).drain();
      while (Object.keys(await reconcileInDoubt(deps, { graceSeconds: GRACE })).length > 0);
    }
  }

  const NO_RECORD = '[PG_NO_RECORD] PG사에 거래 기록이 없습니다. (no record at the PG)';

  it("a PG window opened and left costs its merchant's PG one inquiry: reconciliation's, asked once the window can give no result, settles it and leaves no recheck (decision 0069)", async () => {
    const pg = countedPg();
    const [left] = await abandon(1);
    w.pier.clock.advance(31 * 60_000);
    expect(await releaseAbandonedWindows(w.pier.deps)).toBeGreaterThanOrEqual(1);
    w.pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(pg.deps, { graceSeconds: GRACE }))[left!]).toBe('failed');
    expect(await w.payment(left!)).toMatchObject({ status: 'failed', pg_state: 'done', merchant_uid_lock: null, fail_reason: NO_RECORD });

    await aDayOfBackgroundWork(pg.deps);
    expect(pg.askedAbout(left!)).toBe(1);
    expect(await w.pier.store.db.selectFrom('window_confirms').select('pg_tid').where('imp_uid', '=', left!).execute()).toEqual([]);
    expect(await w.payment(left!)).toMatchObject({ status: 'failed', fail_reason: NO_RECORD });
  });

  it('when the first inquiry about an abandoned window cannot settle it (the PG does not answer), the next one asks, and its answer settles it; still no recheck', async () => {
    const pg = countedPg();
    const [left] = await abandon(1);
    w.pier.clock.advance(31 * 60_000);
    expect(await releaseAbandonedWindows(w.pier.deps)).toBeGreaterThanOrEqual(1);
    w.pier.clock.advance((GRACE + 1) * 1000);
    await fetch(`${w.pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'http_500', op: 'trans_search', times: 1 }) });
    expect((await reconcileInDoubt(pg.deps, { graceSeconds: GRACE }))[left!]).toBe('unknown');
    expect(await w.payment(left!)).toMatchObject({ status: 'ready', pg_state: 'in_doubt' });

    await aDayOfBackgroundWork(pg.deps);
    expect(pg.askedAbout(left!)).toBe(2);
    expect(await w.payment(left!)).toMatchObject({ status: 'failed', pg_state: 'done', merchant_uid_lock: null, fail_reason: NO_RECORD });
    expect(await w.pier.store.db.selectFrom('window_confirms').select('pg_tid').where('imp_uid', '=', left!).execute()).toEqual([]);
  });

  it('a PG window left after the buyer paid in it (the result post never came) is recorded paid and acknowledged on one inquiry', async () => {
    const pg = countedPg();
    const paidIn = await w.openWindow({});
    expect((await w.actInWindow(paidIn, { action: 'pay', ...cardFields(card()) })).fields.resultCd).toBe('3001');
    w.pier.clock.advance(31 * 60_000);
    expect(await releaseAbandonedWindows(w.pier.deps)).toBeGreaterThanOrEqual(1);
    w.pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(pg.deps, { graceSeconds: GRACE }))[paidIn.impUid]).toBe('paid');

    await aDayOfBackgroundWork(pg.deps);
    expect(pg.askedAbout(paidIn.impUid)).toBe(1);
    expect(await w.payment(paidIn.impUid)).toMatchObject({ status: 'paid', merchant_uid_lock: paidIn.merchantUid });
    expect((await w.ledgerTx(paidIn.impUid))[0]).toMatchObject({ status: 'paid', confirmedAt: expect.any(Number) });
  });
});
