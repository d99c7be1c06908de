/**
 * Rows of a PG that a Pier process leaves out wait for it (decision 0080). Paid money whose record,
 * acknowledgement or settlement is under way when Pier restarts without the PG's settings (an
 * operator unsets PIER_JTNET_URL, a deploy forgets it): the rows exist, the process that starts has
 * no JTNET, the clock runs past every attempt and backoff, and nothing is failed or given up; once a
 * process with the PG's settings runs again, the rows settle on what the PG (the tPay simulator,
 * over real HTTP) says, within minutes. Both stores (TEST_DATABASE_URL for PostgreSQL).
 */
import { Writable } from 'node:stream';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { createConnectorRegistry } from '../../src/connectors/registry.js';
import { DEFAULT_CONFIRM_RETRY, enqueueWindowConfirm } from '../../src/core/checkout/window-confirms.js';
import type { Deps } from '../../src/core/deps.js';
import { PG_LEFT_OUT_WAIT_SECONDS } from '../../src/core/merchants/channels.js';
import { RECHECK_BACKOFF_SECONDS, reconcileInDoubt, reconcileInDoubtCancels } from '../../src/core/payments/reconcile.js';
import { PG_LEFT_OUT_SCHEDULE_LATENESS_SECONDS, schedulePolicyFor } from '../../src/core/schedules/run.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { windowConfirmQueue } from '../../src/jobs/handlers/window-confirms.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { openStore, type Store } from '../../src/store/db.js';
import { createLogger, type Logger } from '../../src/lib/logger.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { card, cardFields, rig } from '../checkout/window-rig.js';

const GRACE = 60;
const NOT_CONFIGURED = 'PG "jtnet" is not configured in this Pier';
const good = testCardNumber({ kftcCode: '361', lastFour: '4444' });
const slow = testCardNumber({ kftcCode: '381', lastFour: '0098' }); // approved, its answer held past the read timeout

let pier: TestPier;
let m: TestMerchant;
const w = rig(() => ({ pier, m }));
let seq = 0;
const uid = (p: string) => `${p}_${++seq}_${Date.now() % 100000}`;
const now = () => Math.floor(pier.clock.now() / 1000);

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());
beforeEach(async () => {
  // the tests move the clock past the tokens' 30 minutes
  m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
});

/**
 * A Pier process started on the same database without JTNET's settings (no PIER_JTNET_URL, no
 * simulator): its own store and its own registry, in which JTNET is left out.
 */
async function withoutJtnet<T>(run: (deps: Deps) => Promise<T>, logger: Logger = pier.deps.logger): Promise<T> {
  const store: Store = openStore(pier.databaseUrl, { poolSize: 5 });
  const connectors = createConnectorRegistry({}, { clock: pier.clock });
  expect(connectors.unconfigured().map((p) => p.provider)).toEqual(['jtnet']);
  try {
    return await run({ ...pier.deps, store, connectors, logger });
  } finally {
    await connectors.close();
    await store.close();
  }
}

/** A Pier process with JTNET's settings again (the test Pier's, whose registry reaches the simulator). */
async function withJtnet<T>(run: (deps: Deps) => Promise<T>): Promise<T> {
  const store: Store = openStore(pier.databaseUrl, { poolSize: 5 });
  try {
    return await run({ ...pier.deps, store });
  } finally {
    await store.close();
  }
}

async function fault(mode: 'http_500' | 'reset', op: string) {
  const res = await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode, op, times: 1 }) });
  expect(res.status).toBe(201);
}

describe('a window acknowledgement of an approval Pier has not recorded, its PG left out after a restart', () => {
  it('waits without a try counted past every attempt of its backoff, then is recorded paid and acknowledged once JTNET is configured again', async () => {
    const open = await w.openWindow({});
    const result = await w.actInWindow(open, { action: 'pay', ...cardFields(card()) });
    // the row written before the record, then the process died: the approval never reached Pier's books
    const channelId = (await w.payment(open.impUid)).channel_id!;
    await enqueueWindowConfirm(pier.deps, open.impUid, channelId, result.fields.tid);
    const row = () => pier.store.db.selectFrom('window_confirms').selectAll().where('imp_uid', '=', open.impUid).executeTakeFirstOrThrow();

    await withoutJtnet(async (deps) => {
      const runner = new JobRunner({ queues: [windowConfirmQueue(deps)], logger: deps.logger });
      // twice the tries the default policy has, each past the longest backoff step
      for (let i = 0; i < DEFAULT_CONFIRM_RETRY.maxAttempts * 2; i++) {
        expect(await runner.runOnce()).toBe(1);
        expect(await row()).toMatchObject({ state: 'pending', attempts: 0, last_error: NOT_CONFIGURED, lease_owner: null, due_at: now() + PG_LEFT_OUT_WAIT_SECONDS });
        // not due again before its wait: no spinning
        expect(await runner.runOnce()).toBe(0);
        pier.clock.advance(PG_LEFT_OUT_WAIT_SECONDS * 1000);
      }
    });
    expect(await w.payment(open.impUid)).toMatchObject({ status: 'ready', pg_state: 'window' });
    expect((await w.ledgerTx(open.impUid))[0]).toMatchObject({ status: 'paid', confirmedAt: null });

    await withJtnet(async (deps) => {
      expect(await new JobRunner({ queues: [windowConfirmQueue(deps)], logger: deps.logger }).drain()).toBe(1);
    });
    expect(await row()).toMatchObject({ state: 'done', attempts: 1, last_error: null });
    expect(await w.payment(open.impUid)).toMatchObject({ status: 'paid', pg_state: 'done', pg_tid: result.fields.tid, amount: 5000 });
    expect((await w.ledgerTx(open.impUid))[0]).toMatchObject({ status: 'paid', cancelledAmount: 0, confirmedAt: expect.any(Number) });
    expect(await w.eventsOf(open.impUid)).toEqual(['paid']);
  });
});

describe('reconciliation of rows in doubt, their PG left out after a restart', () => {
  it('an in-doubt charge and an in-doubt refund wait without their backoff growing, then settle as the PG did them within minutes of JTNET being configured again', async () => {
    // a charge the PG approved whose answer was lost
    await fault('http_500', 'trans_search');
    const charge = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('lost'), amount: 7_000, card_number: slow, expiry: '2030-01' } });
    expect(charge.status).toBe(502);
    const chargeUid = /imp_uid: (imp_\d{12})/.exec(charge.body.message)![1]!;
    // a refund the PG made whose answer was lost
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('refunded'), amount: 10_000, card_number: good, expiry: '2030-01' } });
    expect(paid.body.response.status).toBe('paid');
    const paidUid = paid.body.response.imp_uid as string;
    await fault('reset', 'refunds'); // the simulator refunds, then drops the connection
    expect((await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: paidUid, amount: 4_000 } })).status).toBe(502);

    const payment = (impUid: string) => pier.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    const refund = () => pier.store.db.selectFrom('payment_cancels').selectAll().where('imp_uid', '=', paidUid).executeTakeFirstOrThrow();
    await withoutJtnet(async (deps) => {
      // every step of the backoff, and its last one (a day) twice over
      for (let i = 0; i < RECHECK_BACKOFF_SECONDS.length + 2; i++) {
        pier.clock.advance((RECHECK_BACKOFF_SECONDS[RECHECK_BACKOFF_SECONDS.length - 1]! + GRACE) * 1000);
        expect(await reconcileInDoubt(deps, { graceSeconds: GRACE })).toEqual({ [chargeUid]: 'unknown' });
        expect(await reconcileInDoubtCancels(deps, { graceSeconds: GRACE })).toEqual({});
        expect(await payment(chargeUid)).toMatchObject({ status: 'ready', pg_state: 'in_doubt', check_count: 0, merchant_uid_lock: expect.any(String) });
        expect(await refund()).toMatchObject({ state: 'in_doubt', check_count: 0 });
        expect(await payment(paidUid)).toMatchObject({ status: 'paid', cancel_amount: 0, cancel_pending_amount: 4_000 });
      }
    });

    // a process with JTNET's settings: the rows are due again within the wait, not after a day's step
    pier.clock.advance((PG_LEFT_OUT_WAIT_SECONDS + GRACE) * 1000);
    await withJtnet(async (deps) => {
      expect(await reconcileInDoubt(deps, { graceSeconds: GRACE })).toEqual({ [chargeUid]: 'paid' });
      expect(Object.values(await reconcileInDoubtCancels(deps, { graceSeconds: GRACE }))).toEqual(['succeeded']);
    });
    expect(await payment(chargeUid)).toMatchObject({ status: 'paid', pg_state: 'done', amount: 7_000 });
    expect(await payment(paidUid)).toMatchObject({ status: 'paid', cancel_amount: 4_000, cancel_pending_amount: 0 });
    expect(await refund()).toMatchObject({ state: 'succeeded', amount: 4_000 });
  });
});

describe('a payment schedule due while its PG is left out', () => {
  async function scheduled(customerUid: string, scheduleAt: number) {
    const key = await pier.call('POST', `/subscribe/customers/${customerUid}`, { token: m.token, body: { card_number: good, expiry: '2030-12' } });
    expect(key.body.code, JSON.stringify(key.body)).toBe(0);
    const merchantUid = uid(`${customerUid}_m`);
    const res = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: customerUid, schedules: [{ merchant_uid: merchantUid, schedule_at: scheduleAt, amount: 9_900, name: '월간 구독' }] } });
    expect(res.body.code, JSON.stringify(res.body)).toBe(0);
    return merchantUid;
  }
  const schedule = (merchantUid: string) => pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_uid', '=', merchantUid).executeTakeFirstOrThrow();
  const paymentsOf = (merchantUid: string) => pier.store.db.selectFrom('payments').select(['imp_uid', 'status', 'amount', 'fail_reason']).where('merchant_uid', '=', merchantUid).execute();

  it('waits, no attempt counted and nothing charged or failed, and is charged once when JTNET is configured again the same day', async () => {
    const merchantUid = await scheduled('left_out_sub', now() + 60);
    await withoutJtnet(async (deps) => {
      const runner = new JobRunner({ queues: [scheduleQueue(deps)], logger: deps.logger });
      pier.clock.advance(61_000);
      // every wait of the first hours
      for (let i = 0; i < 30; i++) {
        expect(await runner.runOnce()).toBe(1);
        expect(await schedule(merchantUid)).toMatchObject({ state: 'scheduled', attempts: 0, imp_uid: null, lease_owner: null, due_at: now() + PG_LEFT_OUT_WAIT_SECONDS, fail_reason: `[PG_NOT_CONFIGURED] ${NOT_CONFIGURED}` });
        expect(await runner.runOnce()).toBe(0);
        pier.clock.advance(PG_LEFT_OUT_WAIT_SECONDS * 1000);
      }
    });
    expect(await paymentsOf(merchantUid)).toEqual([]);

    await withJtnet(async (deps) => {
      expect(await new JobRunner({ queues: [scheduleQueue(deps)], logger: deps.logger }).drain()).toBe(1);
    });
    expect(await schedule(merchantUid)).toMatchObject({ state: 'executed', attempts: 1, fail_reason: null });
    const payments = await paymentsOf(merchantUid);
    expect(payments).toEqual([{ imp_uid: expect.any(String), status: 'paid', amount: 9_900, fail_reason: null }]);
    expect((await w.ledgerTx(payments[0]!.imp_uid)).map((t) => [t.status, t.amount])).toEqual([['paid', 9_900]]);
  });

  it('a scheduled charge in doubt is looked at every PG_LEFT_OUT_WAIT_SECONDS and grace, never concluded, and settles as paid once JTNET is configured again', async () => {
    const merchantUid = await scheduled('left_out_doubt', now() + 60);
    pier.clock.advance(61_000);
    // the PG approves and the answer is lost; the inquiry right after fails too: in doubt
    await fault('reset', 'payments_token');
    await fault('http_500', 'trans_search');
    expect(await new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger }).runOnce()).toBe(1);
    const inDoubt = await schedule(merchantUid);
    expect(inDoubt).toMatchObject({ state: 'running', attempts: 1, imp_uid: expect.any(String) });
    const payment = () => pier.store.db.selectFrom('payments').select(['status', 'pg_state']).where('imp_uid', '=', inDoubt.imp_uid!).executeTakeFirstOrThrow();
    expect(await payment()).toEqual({ status: 'ready', pg_state: 'in_doubt' });

    await withoutJtnet(async (deps) => {
      const runner = new JobRunner({ queues: [scheduleQueue(deps)], logger: deps.logger });
      const grace = schedulePolicyFor(deps).reconcileGraceSeconds;
      // past the lease the first worker took and the reconciliation grace
      pier.clock.advance(3600_000);
      for (let i = 0; i < 5; i++) {
        expect(await runner.runOnce()).toBe(1);
        expect(await schedule(merchantUid)).toMatchObject({ state: 'running', attempts: 1, imp_uid: inDoubt.imp_uid });
        expect(await payment()).toEqual({ status: 'ready', pg_state: 'in_doubt' });
        // not after the minute an open attempt waits, only once the check it gave back is due again:
        // after PG_LEFT_OUT_WAIT_SECONDS and the grace, as for reconciliation (decision 0115)
        pier.clock.advance(61_000);
        expect(await runner.runOnce()).toBe(0);
        pier.clock.advance((PG_LEFT_OUT_WAIT_SECONDS + grace - 61 + 1) * 1000);
      }
    });

    await withJtnet(async (deps) => {
      expect(await new JobRunner({ queues: [scheduleQueue(deps)], logger: deps.logger }).drain()).toBe(1);
    });
    expect(await schedule(merchantUid)).toMatchObject({ state: 'executed', attempts: 1, imp_uid: inDoubt.imp_uid, fail_reason: null });
    expect(await payment()).toEqual({ status: 'paid', pg_state: 'done' });
    expect((await w.ledgerTx(inDoubt.imp_uid!)).map((t) => [t.status, t.amount])).toEqual([['paid', 9_900]]);
  });

  it('still waiting a day after its schedule_at, fails with PG_NOT_CONFIGURED and its `failed` webhook, nothing charged', async () => {
    const merchantUid = await scheduled('left_out_late', now() + 60);
    await withoutJtnet(async (deps) => {
      const runner = new JobRunner({ queues: [scheduleQueue(deps)], logger: deps.logger });
      pier.clock.advance(61_000);
      expect(await runner.runOnce()).toBe(1);
      expect(await schedule(merchantUid)).toMatchObject({ state: 'scheduled', attempts: 0 });
      pier.clock.advance(PG_LEFT_OUT_SCHEDULE_LATENESS_SECONDS * 1000);
      expect(await runner.runOnce()).toBe(1);
    });
    const reason = `[PG_NOT_CONFIGURED] ${NOT_CONFIGURED} (waited 24 h past its schedule_at for a Pier with its settings)`;
    expect(await schedule(merchantUid)).toMatchObject({ state: 'executed', fail_reason: reason });
    const payments = await paymentsOf(merchantUid);
    expect(payments).toEqual([{ imp_uid: expect.any(String), status: 'failed', amount: 9_900, fail_reason: reason }]);
    expect(await w.eventsOf(payments[0]!.imp_uid)).toEqual(['failed']);
    expect(await w.ledgerTx(payments[0]!.imp_uid)).toEqual([]);
  });
});

describe('what the log says of rows waiting for a PG left out (decision 0087)', () => {
  it('one info line per PG a sweep, counting its rows by kind and naming the one waiting longest; each row only at debug', async () => {
    // window acknowledgements of approvals whose record waits, one of them three days old
    const channelId = (await pier.store.db.selectFrom('pg_channels').select('id').where('merchant_id', '=', m.merchantId).where('provider', '=', 'jtnet').where('kind', '=', 'window').executeTakeFirstOrThrow()).id;
    const confirms = Array.from({ length: 6 }, (_, i) => `imp_leftoutlog${String(i).padStart(2, '0')}`);
    for (const impUid of confirms) await enqueueWindowConfirm(pier.deps, impUid, channelId, `tid_${impUid}`);
    const oldSince = now() - 3 * 86_400;
    await pier.store.db.updateTable('window_confirms').set({ created_at: oldSince }).where('imp_uid', '=', confirms[3]!).execute();
    // a charge and a refund in doubt
    await fault('http_500', 'trans_search');
    const charge = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('log_lost'), amount: 7_000, card_number: slow, expiry: '2030-01' } });
    expect(charge.status).toBe(502);
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid('log_refunded'), amount: 10_000, card_number: good, expiry: '2030-01' } });
    await fault('reset', 'refunds');
    expect((await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: paid.body.response.imp_uid, amount: 4_000 } })).status).toBe(502);

    let text = '';
    const logger = createLogger('debug', new Writable({ write: (chunk, _enc, done) => void ((text += chunk.toString()), done()) }));
    const SWEEPS = 3;
    await withoutJtnet(async (deps) => {
      const runner = new JobRunner({ queues: [windowConfirmQueue(deps)], logger: deps.logger });
      for (let i = 0; i < SWEEPS; i++) {
        // every row is due once a sweep: the acknowledgements after their wait, the rows in doubt after it and the grace
        pier.clock.advance((PG_LEFT_OUT_WAIT_SECONDS + GRACE) * 1000);
        // passes until none is due: one merchant's rows are claimed a few a pass (its room, decision 0107)
        expect(await runner.drain()).toBe(confirms.length);
        expect(await reconcileInDoubt(deps, { graceSeconds: GRACE })).toEqual({ [/imp_uid: (imp_\d{12})/.exec(charge.body.message)![1]!]: 'unknown' });
        await reconcileInDoubtCancels(deps, { graceSeconds: GRACE });
      }
    }, logger);

    const lines = text.split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as { level: number; msg: string; provider?: string; rows?: number; by_kind?: unknown; oldest?: unknown });
    const perRow = ['window result confirmation waits for its PG to be configured', 'reconciliation: the PG is not configured in this process; the row waits for it'];
    // each row's wait: at debug only
    expect(lines.filter((l) => perRow.includes(l.msg) && l.level >= 30)).toEqual([]);
    expect(lines.filter((l) => perRow.includes(l.msg) && l.level === 20)).toHaveLength(SWEEPS * (confirms.length + 2));
    // a sweep's line is written when the next sweep's first row waits: one for each sweep before the last
    const summaries = lines.filter((l) => l.level === 30 && l.provider === 'jtnet');
    expect(summaries).toHaveLength(SWEEPS - 1);
    for (const line of summaries) {
      expect(line).toMatchObject({
        msg: `${confirms.length + 2} row(s) wait for PG "jtnet", which this process leaves out; they resume once a process with its settings runs`,
        rows: confirms.length + 2,
        by_kind: { window_confirm: confirms.length, payment: 1, refund: 1 },
        oldest: { kind: 'window_confirm', key: confirms[3], since: oldSince, waiting_s: expect.any(Number) },
      });
    }
    // nothing else of this at info or above
    expect(lines.filter((l) => l.level >= 30).map((l) => l.msg)).toEqual(summaries.map((l) => l.msg));
  });
});
