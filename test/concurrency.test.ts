/**
 * Money under concurrency and partial failure: duplicate charges, racing refunds, PG timeouts,
 * unreachable PGs and PG system errors. Pier's books are checked against the simulator's ledger.
 * Runs on SQLite and, with TEST_DATABASE_URL, on PostgreSQL. No fixed sleeps: every wait is a
 * request that ends (the connector's read timeout included).
 */
import { createServer } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { ALREADY_PAID_MESSAGE, IN_PROGRESS_MESSAGE } from '../src/core/payments/charge.js';
import type { Connector } from '../src/connectors/types.js';
import type { Deps } from '../src/core/deps.js';
import { RECHECK_BACKOFF_SECONDS, reconcileInDoubt, settleAttempt } from '../src/core/payments/reconcile.js';
import { JTNET_TEST_MIDS } from '../src/core/sandbox/demo.js';
import { createTpaySimulator } from '../src/simulators/jtnet/index.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from './harness.js';
import { listenAgain } from './child-process.js';

// ---- helpers (local to this file) ----------------------------------------------------------

interface LedgerTx {
  tid: string;
  mid: string;
  moid: string;
  amount: number;
  cancelledAmount: number;
  status: 'paid' | 'cancelled' | 'failed';
  resultCd: string;
  appNo: string | null;
  cancels?: Array<{ cancelTid: string; amount: number; partial: boolean }>;
}
interface Ledger {
  approvals: LedgerTx[];
  declines: LedgerTx[];
  billingKeys: Array<{ cardToken: string }>;
}

async function ledgerOf(simulatorUrl: string): Promise<Ledger> {
  const res = await fetch(`${simulatorUrl}/__ledger`);
  expect(res.status).toBe(200);
  return (await res.json()) as Ledger;
}

async function injectFault(simulatorUrl: string, fault: { mode: 'http_500' | 'bad_json' | 'reset'; op?: string; times?: number }) {
  const res = await fetch(`${simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(fault) });
  expect(res.status).toBe(201);
}

async function clearFaults(simulatorUrl: string) {
  await fetch(`${simulatorUrl}/__control/faults`, { method: 'DELETE' });
}

/** A loopback port nobody listens on (bound once by us, then released). */
async function closedPort(): Promise<number> {
  const srv = createServer();
  await new Promise<void>((resolve) => srv.listen(0, '127.0.0.1', resolve));
  const port = (srv.address() as { port: number }).port;
  await new Promise<void>((resolve, reject) => srv.close((err) => (err ? reject(err) : resolve())));
  return port;
}

const dashed = (n: string) => `${n.slice(0, 4)}-${n.slice(4, 8)}-${n.slice(8, 12)}-${n.slice(12)}`;
const good = testCardNumber({ kftcCode: '366', lastFour: '4321' });
const keyIn = (merchant_uid: string, extra: Record<string, unknown> = {}) => ({
  merchant_uid,
  amount: 10_000,
  card_number: dashed(good),
  expiry: '2030-01',
  birth: '880101',
  name: '동시성 테스트',
  ...extra,
});

async function paymentsOf(pier: TestPier, merchantId: string, merchantUid: string) {
  return pier.store.db
    .selectFrom('payments')
    .selectAll()
    .where('merchant_id', '=', merchantId)
    .where('merchant_uid', '=', merchantUid)
    .execute();
}

/** A latch a test opens when it wants a paused step to go on. */
function latch() {
  let open!: () => void;
  const opened = new Promise<void>((resolve) => (open = resolve));
  return { open, opened };
}

/**
 * Pier's deps with a connector whose inquiry (trans_search) pauses before asking the PG and again
 * before handing the answer back, so that a test can interleave another process's work.
 */
function depsWithPausedInquiry(deps: Deps, pauses: { before: Promise<void>; after: Promise<void>; started: () => void }): Deps {
  const real = deps.connectors;
  return {
    ...deps,
    connectors: {
      ...real,
      get(provider: string) {
        const c = real.get(provider);
        if (!c) return c;
        const paused: Connector = {
          ...c,
          async inquire(channel, q) {
            pauses.started();
            await pauses.before;
            const r = await c.inquire(channel, q);
            await pauses.after;
            return r;
          },
        };
        return paused;
      },
    },
  };
}

/** A charge whose PG answer was lost: V1's error envelope saying the result is being confirmed, naming the imp_uid. */
function inDoubtImpUid(res: { status: number; body: any }): string {
  expect(res.status).toBe(502);
  expect(res.body).toMatchObject({ code: 1, response: null });
  expect(res.body.message).toContain('결제 결과를 확인 중입니다');
  const m = /imp_uid: (imp_\d{12})/.exec(res.body.message);
  expect(m).not.toBeNull();
  return m![1]!;
}

const REFUSAL = new RegExp(`^(${escapeRe(ALREADY_PAID_MESSAGE)}|${escapeRe(IN_PROGRESS_MESSAGE)})$`);
function escapeRe(s: string) {
  return s.replace(/[.*+?^${}()|[\]\\]/g, '\\$&');
}

// ---- (a) and (b): one Pier with the default timeouts ----------------------------------------

describe('duplicate requests and racing refunds', () => {
  let pier: TestPier;
  let m: TestMerchant;

  beforeAll(async () => {
    pier = await startTestPier();
    m = await pier.newMerchant();
  });
  afterAll(() => pier.close());

  it('charges a merchant_uid once when the same onetime request arrives 50 times at once', async () => {
    const before = await ledgerOf(pier.simulatorUrl);
    const answers = await Promise.all(
      Array.from({ length: 50 }, () => pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('race_onetime') })),
    );
    const winners = answers.filter((a) => a.body.code === 0);
    const losers = answers.filter((a) => a.body.code !== 0);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.body.response).toMatchObject({ merchant_uid: 'race_onetime', status: 'paid', amount: 10_000 });
    expect(losers).toHaveLength(49);
    for (const l of losers) {
      expect(l.status).toBe(200);
      expect(l.body).toMatchObject({ code: 1, response: null });
      expect(l.body.message).toMatch(REFUSAL);
    }

    const rows = await paymentsOf(pier, m.merchantId, 'race_onetime');
    expect(rows.map((r) => r.status)).toEqual(['paid']);

    const after = await ledgerOf(pier.simulatorUrl);
    expect(after.approvals.length - before.approvals.length).toBe(1);
    expect(after.declines.length - before.declines.length).toBe(0);
    const approval = after.approvals.filter((a) => a.moid === rows[0]!.imp_uid);
    expect(approval).toHaveLength(1);
    expect(approval[0]).toMatchObject({ tid: rows[0]!.pg_tid, amount: 10_000, appNo: rows[0]!.apply_num, status: 'paid' });
  });

  it('charges a merchant_uid once when the same again request arrives 50 times at once', async () => {
    const issued = await pier.call('POST', '/subscribe/customers/race_customer', { token: m.token, body: { card_number: good, expiry: '2030-12', birth: '880101' } });
    expect(issued.body.code).toBe(0);
    const before = await ledgerOf(pier.simulatorUrl);
    const body = { customer_uid: 'race_customer', merchant_uid: 'race_again', amount: 7_000, name: '정기결제' };
    const answers = await Promise.all(Array.from({ length: 50 }, () => pier.call('POST', '/subscribe/payments/again', { token: m.token, body })));
    const winners = answers.filter((a) => a.body.code === 0);
    expect(winners).toHaveLength(1);
    expect(winners[0]!.body.response).toMatchObject({ merchant_uid: 'race_again', status: 'paid', amount: 7_000, customer_uid: 'race_customer' });
    const losers = answers.filter((a) => a.body.code !== 0);
    expect(losers).toHaveLength(49);
    for (const l of losers) {
      expect(l.status).toBe(200);
      expect(l.body).toMatchObject({ code: 1, response: null });
      expect(l.body.message).toMatch(REFUSAL);
    }

    const rows = await paymentsOf(pier, m.merchantId, 'race_again');
    expect(rows.map((r) => r.status)).toEqual(['paid']);
    const after = await ledgerOf(pier.simulatorUrl);
    expect(after.approvals.length - before.approvals.length).toBe(1);
    expect(after.declines.length - before.declines.length).toBe(0);
    expect(after.approvals.filter((a) => a.moid === rows[0]!.imp_uid)).toMatchObject([{ tid: rows[0]!.pg_tid, amount: 7_000 }]);

    // and once paid, a later duplicate is told so
    const late = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body });
    expect(late.body).toEqual({ code: 1, message: ALREADY_PAID_MESSAGE, response: null });
  });

  it('never refunds more than was paid when partial cancels race, and agrees with the PG', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('race_cancel') });
    expect(paid.body.response.status).toBe('paid');
    const impUid: string = paid.body.response.imp_uid;

    // 20 × 1,000 and 5 × 3,000 (35,000 KRW asked for), interleaved so both sizes compete from the start
    const amounts = Array.from({ length: 25 }, (_, i) => (i % 5 === 2 ? 3_000 : 1_000));
    const answers = await Promise.all(
      amounts.map((amount, i) => pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount, reason: `race ${i}` } })),
    );
    let succeeded = 0;
    answers.forEach((a, i) => {
      expect(a.status, JSON.stringify(a.body)).toBe(200);
      if (a.body.code === 0) succeeded += amounts[i]!;
      else expect(a.body.message).toMatch(/취소|cancel/);
    });
    expect(succeeded).toBeGreaterThan(0);
    expect(succeeded).toBeLessThanOrEqual(10_000);

    const row = (await paymentsOf(pier, m.merchantId, 'race_cancel'))[0]!;
    expect(row.cancel_amount).toBe(succeeded);
    expect(row.cancel_pending_amount).toBe(0);
    expect(row.status).toBe(succeeded === 10_000 ? 'cancelled' : 'paid');
    const cancels = await pier.store.db.selectFrom('payment_cancels').selectAll().where('imp_uid', '=', impUid).execute();
    expect(cancels.every((c) => c.state === 'succeeded')).toBe(true);
    expect(cancels.reduce((s, c) => s + c.amount, 0)).toBe(succeeded);

    const sim = (await ledgerOf(pier.simulatorUrl)).approvals.find((a) => a.moid === impUid)!;
    expect(sim.cancelledAmount).toBe(succeeded);
    expect(sim.cancels!.reduce((s, c) => s + c.amount, 0)).toBe(succeeded);
    expect(sim.status).toBe(succeeded === 10_000 ? 'cancelled' : 'paid');

    const v1 = await pier.call('GET', `/payments/${impUid}`, { token: m.token });
    expect(v1.body.response.cancel_amount).toBe(succeeded);
    expect(v1.body.response.cancel_history.reduce((s: number, h: { amount: number }) => s + h.amount, 0)).toBe(succeeded);

    // whatever is left can still be cancelled, after which the payment is fully cancelled everywhere
    if (succeeded < 10_000) {
      const rest = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, reason: 'rest' } });
      expect(rest.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 10_000 });
    }
    const again = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 1_000 } });
    expect(again.body.code).toBe(1);
    const simAfter = (await ledgerOf(pier.simulatorUrl)).approvals.find((a) => a.moid === impUid)!;
    expect(simAfter).toMatchObject({ status: 'cancelled', cancelledAmount: 10_000 });
  });

  it('lets only one of many racing full cancels through', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('race_full_cancel', { amount: 4_000 }) });
    const impUid: string = paid.body.response.imp_uid;
    const answers = await Promise.all(
      Array.from({ length: 10 }, () => pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, reason: 'full' } })),
    );
    expect(answers.filter((a) => a.body.code === 0)).toHaveLength(1);
    const sim = (await ledgerOf(pier.simulatorUrl)).approvals.find((a) => a.moid === impUid)!;
    expect(sim).toMatchObject({ status: 'cancelled', cancelledAmount: 4_000 });
    expect(sim.cancels).toHaveLength(1);
    const row = (await paymentsOf(pier, m.merchantId, 'race_full_cancel'))[0]!;
    expect(row).toMatchObject({ status: 'cancelled', cancel_amount: 4_000, cancel_pending_amount: 0 });
  });

  it('treats a PG system error (0099) as a definitive failure: failed Payment, nothing approved, merchant_uid free again', async () => {
    const before = await ledgerOf(pier.simulatorUrl);
    const broken = testCardNumber({ kftcCode: '366', lastFour: '0099' });
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('sys_err', { card_number: broken }) });
    expect(res.status).toBe(200);
    expect(res.body.code).toBe(0);
    expect(res.body.response).toMatchObject({ status: 'failed', paid_at: 0, pg_provider: 'jtnet' });
    expect(res.body.response.fail_reason).toContain('9999');
    expect(res.body.response.fail_reason).toContain('시스템 오류');
    const impUid: string = res.body.response.imp_uid;

    const after = await ledgerOf(pier.simulatorUrl);
    expect(after.approvals.length).toBe(before.approvals.length);
    expect(after.approvals.some((a) => a.moid === impUid)).toBe(false);
    expect(after.declines.filter((d) => d.moid === impUid)).toMatchObject([{ resultCd: '9999', status: 'failed' }]);

    // nothing is left in doubt, and the order can be paid with another card
    const row = (await paymentsOf(pier, m.merchantId, 'sys_err'))[0]!;
    expect(row).toMatchObject({ pg_state: 'done', merchant_uid_lock: null });
    const retry = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('sys_err') });
    expect(retry.body.response).toMatchObject({ status: 'paid', merchant_uid: 'sys_err' });
  });

  it('treats a PG system error on a billing-key charge (1099 card) the same way', async () => {
    const later = testCardNumber({ kftcCode: '381', lastFour: '1099' });
    const issued = await pier.call('POST', '/subscribe/customers/sys_err_key', { token: m.token, body: { card_number: later, expiry: '2030-12' } });
    expect(issued.body.code).toBe(0);
    const res = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'sys_err_key', merchant_uid: 'sys_err_again', amount: 2_000, name: 'x' } });
    expect(res.body.code).toBe(0);
    expect(res.body.response.status).toBe('failed');
    expect(res.body.response.fail_reason).toContain('9999');
    const sim = await ledgerOf(pier.simulatorUrl);
    expect(sim.approvals.some((a) => a.moid === res.body.response.imp_uid)).toBe(false);
    const reconciled = await reconcileInDoubt(pier.deps, { graceSeconds: 0 });
    expect(reconciled[res.body.response.imp_uid]).toBeUndefined();
  });
});

// ---- (c): the PG answers later than Pier waits ----------------------------------------------

describe('a PG read timeout (0098: the PG approves but answers late)', () => {
  let pier: TestPier;
  let m: TestMerchant;
  const slow = testCardNumber({ kftcCode: '381', lastFour: '0098' });
  const GRACE = 60;

  beforeAll(async () => {
    pier = await startTestPier({ readTimeoutMs: 300 });
    m = await pier.newMerchant();
  });
  afterAll(() => pier.close());

  it('settles the attempt as paid right away when the immediate inquiry reaches the PG', async () => {
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('timeout_inquired', { card_number: slow }) });
    expect(res.status).toBe(200);
    expect(res.body.code).toBe(0);
    const p = res.body.response;
    expect(p).toMatchObject({ merchant_uid: 'timeout_inquired', status: 'paid', amount: 10_000, card_code: '381' });
    const sim = (await ledgerOf(pier.simulatorUrl)).approvals.filter((a) => a.moid === p.imp_uid);
    expect(sim).toMatchObject([{ tid: p.pg_tid, amount: 10_000, appNo: p.apply_num, status: 'paid' }]);
    expect(pier.logs()).toContain('PG outcome unknown; attempt in doubt');
    const dup = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('timeout_inquired') });
    expect(dup.body).toEqual({ code: 1, message: ALREADY_PAID_MESSAGE, response: null });
  });

  it('keeps an attempt in doubt while the PG cannot be asked, refuses retries, and reconciliation settles it as paid', async () => {
    // The immediate inquiry and the first reconciliation both meet an HTTP 500 from trans_search.
    await injectFault(pier.simulatorUrl, { mode: 'http_500', op: 'trans_search', times: 2 });
    const before = await ledgerOf(pier.simulatorUrl);

    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('timeout_doubt', { card_number: slow }) });
    // V1's error envelope, saying the outcome is being confirmed and which imp_uid to look up
    const impUid = inDoubtImpUid(res);
    const p = (await pier.call('GET', `/payments/${impUid}`, { token: m.token })).body.response;
    expect(p).toMatchObject({ merchant_uid: 'timeout_doubt', status: 'ready', paid_at: 0, failed_at: 0, amount: 10_000 });
    let row = (await paymentsOf(pier, m.merchantId, 'timeout_doubt'))[0]!;
    expect(row).toMatchObject({ pg_state: 'in_doubt', merchant_uid_lock: 'timeout_doubt' });

    // The PG did approve it.
    const mid = await ledgerOf(pier.simulatorUrl);
    expect(mid.approvals.length - before.approvals.length).toBe(1);
    expect(mid.approvals.filter((a) => a.moid === impUid)).toHaveLength(1);

    // While in doubt, the same merchant_uid is refused, even with a card that would approve, and the PG is not called.
    const retry = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('timeout_doubt') });
    expect(retry.body).toEqual({ code: 1, message: IN_PROGRESS_MESSAGE, response: null });
    expect((await ledgerOf(pier.simulatorUrl)).approvals.length).toBe(mid.approvals.length);
    const viewed = await pier.call('GET', `/payments/${impUid}`, { token: m.token });
    expect(viewed.body.response.status).toBe('ready');

    // Within the grace period reconciliation leaves it alone.
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: GRACE })).not.toHaveProperty(impUid);

    // Past the grace, while the PG still cannot be asked, it stays in doubt.
    pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))[impUid]).toBe('unknown');
    row = (await paymentsOf(pier, m.merchantId, 'timeout_doubt'))[0]!;
    expect(row).toMatchObject({ status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: 'timeout_doubt', check_count: 1 });
    // a check that could not settle it moves it back (1 min first): the next pass leaves it alone
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: GRACE })).not.toHaveProperty(impUid);
    pier.clock.advance((RECHECK_BACKOFF_SECONDS[0] + GRACE) * 1000);

    // Once the PG answers, it is settled as paid and matches the PG.
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))[impUid]).toBe('paid');
    const settled = await pier.call('GET', `/payments/${impUid}`, { token: m.token });
    const sim = (await ledgerOf(pier.simulatorUrl)).approvals.filter((a) => a.moid === impUid);
    expect(sim).toHaveLength(1);
    expect(settled.body.response).toMatchObject({ status: 'paid', amount: sim[0]!.amount, pg_tid: sim[0]!.tid, apply_num: sim[0]!.appNo, card_code: '381' });
    expect(settled.body.response.paid_at).toBeGreaterThan(0);

    // A settled attempt is not touched again, and the merchant_uid can never be paid twice.
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: GRACE })).not.toHaveProperty(impUid);
    const again = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('timeout_doubt') });
    expect(again.body).toEqual({ code: 1, message: ALREADY_PAID_MESSAGE, response: null });
    expect((await ledgerOf(pier.simulatorUrl)).approvals.length).toBe(mid.approvals.length);
    const all = await pier.call('GET', '/payments/findAll/timeout_doubt', { token: m.token });
    expect(all.body.response.list.map((x: { status: string }) => x.status)).toEqual(['paid']);

    // and it can be refunded like any paid payment
    const cancel = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 4_000 } });
    expect(cancel.body.response).toMatchObject({ status: 'paid', cancel_amount: 4_000 });
  });

  it('also handles a billing-key charge that times out (1098 card)', async () => {
    await injectFault(pier.simulatorUrl, { mode: 'http_500', op: 'trans_search' });
    const key = testCardNumber({ kftcCode: '381', lastFour: '1098' });
    const issued = await pier.call('POST', '/subscribe/customers/slow_key', { token: m.token, body: { card_number: key, expiry: '2030-12' } });
    expect(issued.body.code).toBe(0);
    const body = { customer_uid: 'slow_key', merchant_uid: 'timeout_again', amount: 3_000, name: 'x' };
    const res = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body });
    const impUid = inDoubtImpUid(res);
    const retry = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body });
    expect(retry.body).toEqual({ code: 1, message: IN_PROGRESS_MESSAGE, response: null });
    pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))[impUid]).toBe('paid');
    const sim = (await ledgerOf(pier.simulatorUrl)).approvals.filter((a) => a.moid === impUid);
    expect(sim).toMatchObject([{ amount: 3_000, status: 'paid' }]);
    const late = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body });
    expect(late.body).toEqual({ code: 1, message: ALREADY_PAID_MESSAGE, response: null });
  });

  it('keeps refunds made meanwhile when a second reconciler settles the same attempt late', async () => {
    // Two reconcilers (two Pier processes) pick up the same in-doubt attempt. B reads it, then
    // is slow; A settles it; the merchant refunds 1,000; B's inquiry sees that refund; the merchant
    // refunds 2,000 more; only then does B record. B must not roll Pier's books back to 1,000.
    await injectFault(pier.simulatorUrl, { mode: 'http_500', op: 'trans_search' });
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('two_reconcilers', { card_number: slow }) });
    const impUid = inDoubtImpUid(res);

    const before = latch();
    const after = latch();
    const started = latch();
    const processB = settleAttempt(depsWithPausedInquiry(pier.deps, { before: before.opened, after: after.opened, started: started.open }), impUid, { giveUpIfUnknown: true });
    await started.opened; // B has read the attempt as in doubt and is about to ask the PG

    pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))[impUid]).toBe('paid'); // process A
    const c1 = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 1_000 } });
    expect(c1.body.response.cancel_amount).toBe(1_000);

    before.open(); // B asks the PG now: it sees 1,000 refunded
    const c2 = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 2_000 } });
    expect(c2.body.response.cancel_amount).toBe(3_000);
    after.open(); // B records what it learned
    await processB;

    const sim = (await ledgerOf(pier.simulatorUrl)).approvals.find((a) => a.moid === impUid)!;
    expect(sim.cancelledAmount).toBe(3_000);
    const row = (await paymentsOf(pier, m.merchantId, 'two_reconcilers'))[0]!;
    expect(row).toMatchObject({ status: 'paid', cancel_amount: 3_000, cancel_pending_amount: 0 });
  });

  it('mirrors a refund made at the PG while Pier was in doubt (net-cancel), and further refunds add to it', async () => {
    await injectFault(pier.simulatorUrl, { mode: 'http_500', op: 'trans_search' });
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('net_cancel', { card_number: slow }) });
    const impUid = inDoubtImpUid(res);
    const tx = (await ledgerOf(pier.simulatorUrl)).approvals.find((a) => a.moid === impUid)!;

    // Someone refunds 4,000 of it at the PG directly (tPay `refunds`), outside Pier.
    const account = JTNET_TEST_MIDS.find((t) => t.mid === tx.mid)!;
    const form = new URLSearchParams({ mid: tx.mid, api_key: account.merchantKey, tid: tx.tid, cancel_pw: account.cancelPassword, cancel_amt: '4000', cancel_msg: 'net-cancel', partial_cancel: '1' });
    const refund = await fetch(`${pier.simulatorUrl}/api/v1/refunds`, { method: 'POST', headers: { 'content-type': 'application/x-www-form-urlencoded' }, body: form.toString() });
    expect(((await refund.json()) as { result_cd: string }).result_cd).toBe('2001');

    pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))[impUid]).toBe('paid');
    let row = (await paymentsOf(pier, m.merchantId, 'net_cancel'))[0]!;
    expect(row).toMatchObject({ status: 'paid', cancel_amount: 4_000, pg_state: 'done' });

    // Pier only lets the rest be refunded, and then agrees with the PG that it is fully cancelled.
    const over = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount: 7_000 } });
    expect(over.body.code).toBe(1);
    const rest = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid } });
    expect(rest.body.response).toMatchObject({ status: 'cancelled', cancel_amount: 10_000 });
    row = (await paymentsOf(pier, m.merchantId, 'net_cancel'))[0]!;
    expect(row).toMatchObject({ status: 'cancelled', cancel_amount: 10_000, cancel_pending_amount: 0 });
    const sim = (await ledgerOf(pier.simulatorUrl)).approvals.find((a) => a.moid === impUid)!;
    expect(sim).toMatchObject({ status: 'cancelled', cancelledAmount: 10_000 });
  });

  it('fails an in-doubt attempt the PG never saw, once past the grace, and frees its merchant_uid', async () => {
    // A request that never reached the PG but was left `calling` (e.g. the process died before the call).
    const before = await ledgerOf(pier.simulatorUrl);
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('ghost') });
    expect(res.body.response.status).toBe('paid');
    // Simulate a crashed attempt on another merchant_uid by inserting a row in `calling` state.
    const { imp_uid: _omit, ...template } = (await paymentsOf(pier, m.merchantId, 'ghost'))[0]!;
    await pier.store.db
      .insertInto('payments')
      .values({ ...template, imp_uid: 'imp_999999999999', merchant_uid: 'ghost_2', merchant_uid_lock: 'ghost_2', status: 'ready', pg_state: 'calling', pg_tid: null, apply_num: null, paid_at: 0 })
      .execute();
    const blocked = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('ghost_2') });
    expect(blocked.body.message).toBe(IN_PROGRESS_MESSAGE);
    pier.clock.advance((GRACE + 1) * 1000);
    expect((await reconcileInDoubt(pier.deps, { graceSeconds: GRACE }))['imp_999999999999']).toBe('failed');
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('ghost_2') });
    expect(paid.body.response.status).toBe('paid');
    const after = await ledgerOf(pier.simulatorUrl);
    expect(after.approvals.length - before.approvals.length).toBe(2);
  });

  afterAll(() => clearFaults(pier.simulatorUrl).catch(() => undefined));
});

// ---- (d): the PG cannot be reached at all ----------------------------------------------------

describe('a PG that cannot be reached', () => {
  let pier: TestPier;
  let m: TestMerchant;
  let port: number;
  let revived: ReturnType<typeof createTpaySimulator> | null = null;

  beforeAll(async () => {
    port = await closedPort();
    pier = await startTestPier({ jtnetUrl: `http://127.0.0.1:${port}` });
    m = await pier.newMerchant();
  });
  afterAll(async () => {
    await revived?.close();
    await pier.close();
  });

  it('answers a failed Payment saying the PG was unreachable, charges nothing, and lets the merchant_uid be paid once the PG is back', async () => {
    const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('unreachable') });
    expect(res.status).toBe(200);
    expect(res.body.code).toBe(0);
    expect(res.body.response).toMatchObject({ merchant_uid: 'unreachable', status: 'failed', paid_at: 0, pg_tid: null, apply_num: null });
    expect(res.body.response.failed_at).toBeGreaterThan(0);
    expect(res.body.response.fail_reason).toContain('PG_UNREACHABLE');
    expect(res.body.response.fail_reason).toContain('PG사와 통신하지 못했습니다');
    // the merchant is told what happened, never where Pier's PG lives (issue #10 item 5)
    expect(res.body.response.fail_reason).not.toContain('127.0.0.1');
    expect(res.body.response.fail_reason).not.toContain(String(port));
    const row = (await paymentsOf(pier, m.merchantId, 'unreachable'))[0]!;
    expect(row).toMatchObject({ pg_state: 'done', merchant_uid_lock: null });
    // No PG anywhere saw it (the harness's own simulator is not the configured PG).
    expect((await ledgerOf(pier.simulatorUrl)).approvals).toEqual([]);
    // Nothing is left for reconciliation.
    expect(await reconcileInDoubt(pier.deps, { graceSeconds: 0 })).toEqual({});

    // The PG comes back on the same address (Pier's configured jtnet URL; child-process.ts listenAgain).
    const back = createTpaySimulator({ dbFile: ':memory:', clock: pier.clock });
    revived = back;
    await listenAgain('the revived tPay simulator', port, () => back.listen({ host: '127.0.0.1', port }));
    const revivedUrl = `http://127.0.0.1:${port}`;
    expect((await ledgerOf(revivedUrl)).approvals).toEqual([]);

    const retry = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('unreachable') });
    expect(retry.body.code).toBe(0);
    expect(retry.body.response).toMatchObject({ merchant_uid: 'unreachable', status: 'paid', amount: 10_000 });
    const sim = await ledgerOf(revivedUrl);
    expect(sim.approvals).toMatchObject([{ moid: retry.body.response.imp_uid, tid: retry.body.response.pg_tid, amount: 10_000 }]);
    const all = await pier.call('GET', '/payments/findAll/unreachable', { token: m.token });
    expect(all.body.response.list.map((x: { status: string }) => x.status).sort()).toEqual(['failed', 'paid']);
  });

  it('refuses a cancel it cannot send, without touching the balance', async () => {
    // Paid while the PG is back (previous test), then the PG goes away again before the refund.
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: keyIn('unreachable_cancel') });
    expect(paid.body.response.status).toBe('paid');
    await revived!.close();
    revived = null;
    const res = await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: paid.body.response.imp_uid, amount: 1_000 } });
    expect(res.status).toBe(502);
    expect(res.body.code).toBe(1);
    expect(res.body.message).toContain('PG사와 통신하지 못해');
    const row = (await paymentsOf(pier, m.merchantId, 'unreachable_cancel'))[0]!;
    expect(row).toMatchObject({ status: 'paid', cancel_amount: 0, cancel_pending_amount: 0 });
  });
});
