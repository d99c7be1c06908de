/**
 * The optional daily auto-cancel of sandbox payments at 23:30 KST (off by default), driven by the
 * injected clock: once a day, today's sandbox payments only, through Pier so the PG agrees.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { sandboxAutoCancelQueue, sandboxAutoCancelStatus, setSandboxAutoCancel } from '../../src/jobs/handlers/sandbox-auto-cancel.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { ConnectorError } from '../../src/connectors/types.js';
import { leaseSecondsCovering } from '../../src/jobs/claim.js';
import { reconcileInDoubtCancels } from '../../src/core/payments/reconcile.js';
import { depsWith, startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { statementsOf } from '../plans.js';

let pier: TestPier;
let m: TestMerchant;
let runner: JobRunner;
const card = testCardNumber({ kftcCode: '366', lastFour: '2330' });

async function signIn() {
  const t = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
  m.token = t.body.response.access_token;
}
async function pay(uid: string) {
  await signIn();
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: uid, amount: 3000, card_number: card, expiry: '2030-12' } });
  expect(res.body.response.status).toBe('paid');
  return res.body.response.imp_uid as string;
}
const statusOf = async (impUid: string) => (await pier.store.db.selectFrom('payments').select('status').where('imp_uid', '=', impUid).executeTakeFirstOrThrow()).status;
/** Sets the clock to hh:mm KST on the day `days` after 2026-11-30. */
const atKst = (days: number, hh: number, mm: number) => pier.clock.set(Date.UTC(2026, 10, 30 + days, hh - 9, mm));

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  runner = new JobRunner({ queues: [sandboxAutoCancelQueue(pier.deps)], logger: pier.deps.logger });
});
afterAll(() => pier.close());

describe('sandbox auto-cancel at 23:30 KST', () => {
  it('is off by default', async () => {
    atKst(0, 12, 0);
    const imp = await pay('ac_off');
    atKst(0, 23, 45);
    expect(await runner.drain()).toBe(0);
    expect(await statusOf(imp)).toBe('paid');
    expect(await sandboxAutoCancelStatus(pier.deps)).toEqual({ on: false, lastDay: null });
  });

  it("when on, cancels the day's sandbox payments once at 23:30 KST, and leaves earlier days' alone", async () => {
    await setSandboxAutoCancel(pier.deps, true);
    atKst(1, 9, 0);
    const today = await pay('ac_today');
    atKst(1, 23, 29);
    expect(await runner.drain()).toBe(0);
    expect(await statusOf(today)).toBe('paid');
    atKst(1, 23, 30);
    expect(await runner.drain()).toBe(1);
    expect(await statusOf(today)).toBe('cancelled');
    expect(await statusOf((await pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', 'ac_off').executeTakeFirstOrThrow()).imp_uid)).toBe('paid');
    const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: Array<{ moid: string; status: string }> };
    expect(ledger.approvals.find((a) => a.moid === today)?.status).toBe('cancelled');
    // once a day, even with a payment made after the run
    const late = await pay('ac_late');
    atKst(1, 23, 50);
    expect(await runner.drain()).toBe(0);
    expect(await statusOf(late)).toBe('paid');
    expect(await sandboxAutoCancelStatus(pier.deps)).toEqual({ on: true, lastDay: '20261201' });
    await setSandboxAutoCancel(pier.deps, false);
  });

  it("reads the day's payments, every merchant's by no index, on SQLite's reader thread", async () => {
    await setSandboxAutoCancel(pier.deps, true);
    atKst(2, 10, 0);
    const imp = await pay('ac_reader');
    atKst(2, 23, 31);
    const ran = await statementsOf(pier, async (store) => {
      const queue = sandboxAutoCancelQueue({ ...pier.deps, store });
      const [day] = await queue.claim('test', 1);
      expect(day).toBe('20261202');
      await queue.run(day, 'test', new AbortController().signal);
    });
    expect(await statusOf(imp)).toBe('cancelled');
    const read = ran.find((s) => /from "payments" where "sandbox" = /.test(s.sql));
    expect(read?.on).toBe(pier.store.dialect === 'sqlite' ? 'reader' : undefined);
    await setSandboxAutoCancel(pier.deps, false);
  });

  /** the PG's ledger status of each payment, by imp_uid (the moid Pier sent) */
  const atPg = async (imps: string[]) => {
    const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: Array<{ moid: string; status: string }> };
    return imps.map((imp) => ledger.approvals.find((a) => a.moid === imp)?.status);
  };

  it("a process that dies part-way leaves the day to the next one, which cancels the rest of the day's payments once its hold has run out", async () => {
    await setSandboxAutoCancel(pier.deps, true);
    atKst(3, 11, 0);
    const imps = [await pay('ac_crash1'), await pay('ac_crash2'), await pay('ac_crash3')];
    atKst(3, 23, 31);
    // process A: its second refund never comes back, and then the process is killed (its run is
    // simply never resumed: nothing after that call happens, as after a kill -9)
    let refunds = 0;
    let secondSent!: () => void;
    const hung = new Promise<void>((r) => (secondSent = r));
    const dying = depsWith(pier.deps, (real) => ({
      refund: (ch, req) => {
        if (++refunds === 2) {
          secondSent();
          return new Promise<never>(() => {});
        }
        return real.refund(ch, req);
      },
    }));
    const a = sandboxAutoCancelQueue(dying);
    const [day] = await a.claim('process-a', 1);
    expect(day).toBe('20261203');
    void a.run(day!, 'process-a', new AbortController().signal);
    await hung;
    expect(await Promise.all(imps.map(statusOf))).toEqual(['cancelled', 'paid', 'paid']);

    // process B: nothing while A's hold on the day lasts (A may still be working through it)
    expect(await runner.drain()).toBe(0);
    // A's hold runs out (the longest a cancel's PG calls last, and a margin)
    pier.clock.advance((leaseSecondsCovering(pier.deps.connectors.maxCallMs(), 2, 120) + 1) * 1000);
    expect(await runner.drain()).toBe(1);
    // the third is cancelled; the second's refund is A's, in flight when A died: not sent twice
    expect(await Promise.all(imps.map(statusOf))).toEqual(['cancelled', 'paid', 'cancelled']);
    expect(await sandboxAutoCancelStatus(pier.deps)).toEqual({ on: true, lastDay: '20261202' });

    // reconciliation settles A's refund (the PG never had it), and the day, still open, is run again
    await reconcileInDoubtCancels(pier.deps, { graceSeconds: 0 });
    expect(await runner.drain()).toBe(0);
    pier.clock.advance(301_000);
    expect(await runner.drain()).toBe(1);
    expect(await Promise.all(imps.map(statusOf))).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(await atPg(imps)).toEqual(['cancelled', 'cancelled', 'cancelled']);
    expect(await sandboxAutoCancelStatus(pier.deps)).toEqual({ on: true, lastDay: '20261203' });
    // and then once only
    pier.clock.advance(301_000);
    expect(await runner.drain()).toBe(0);
    await setSandboxAutoCancel(pier.deps, false);
  });

  it('a payment the PG could not refund (its API refused the connection) is cancelled when the day is run again, not left paid', async () => {
    await setSandboxAutoCancel(pier.deps, true);
    atKst(4, 11, 0);
    const imps = [await pay('ac_pgdown1'), await pay('ac_pgdown2')];
    atKst(4, 23, 30);
    let refunds = 0;
    const flaky = depsWith(pier.deps, (real) => ({
      refund: (ch, req) => (++refunds === 1 ? Promise.reject(new ConnectorError('connect', 'connect ECONNREFUSED', false, true)) : real.refund(ch, req)),
    }));
    const withFlakyPg = new JobRunner({ queues: [sandboxAutoCancelQueue(flaky)], logger: pier.deps.logger });
    expect(await withFlakyPg.drain()).toBe(1);
    expect(await Promise.all(imps.map(statusOf))).toEqual(['paid', 'cancelled']);
    pier.clock.advance(301_000);
    expect(await withFlakyPg.drain()).toBe(1);
    expect(await Promise.all(imps.map(statusOf))).toEqual(['cancelled', 'cancelled']);
    expect(await atPg(imps)).toEqual(['cancelled', 'cancelled']);
    expect(await sandboxAutoCancelStatus(pier.deps)).toEqual({ on: true, lastDay: '20261204' });
    await setSandboxAutoCancel(pier.deps, false);
  });
});
