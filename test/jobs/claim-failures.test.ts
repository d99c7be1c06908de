/**
 * A job lane whose claims fail while the database does (decision 0132): PostgreSQL not answering
 * (another session holds the schedules' table, so each claim ends at Pier's statement_timeout, as
 * it does behind a failover or a server that hangs), SQLite locked (another connection's write lock
 * held past Pier's lock wait, the fault of test/money-path-db-faults.test.ts). A scheduled payment is
 * due, so the lane claims again and again. The failure must be logged once, again only once a
 * minute of the injected clock while it lasts, its end once with the number of failed tries; the
 * lane must keep trying (bounded pauses) and charge the schedule once the database answers.
 *
 * Before, every failed claim was an error line: one a second per lane with due rows in
 * production, onto a disk that may already be full.
 */
import SQLite from 'better-sqlite3';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { CLAIM_FAILURE_REPORT_EVERY_MS, JobRunner } from '../../src/jobs/runner.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let runner: JobRunner | undefined;
const now = () => Math.floor(pier.clock.now() / 1000);

beforeAll(async () => {
  // SQLite: a write waits 20 ms for another connection's lock; PostgreSQL: a statement ends after 100 ms
  pier = await startTestPier({ sqliteLockWaitMs: 20, statementTimeoutMs: 100 });
  m = await pier.newMerchant();
  const key = await pier.call('POST', '/subscribe/customers/claim_fail_c', { token: m.token, body: { card_number: testCardNumber({ kftcCode: '366', lastFour: '7272' }), expiry: '2030-12' } });
  expect(key.body.code).toBe(0);
});
afterAll(async () => {
  await runner?.stop(0);
  await pier?.close();
});

/** Another connection keeps Pier's claims from answering until `release`. */
async function databaseFails(): Promise<() => Promise<void>> {
  if (pier.sqliteFile) {
    const other = new SQLite(pier.sqliteFile);
    other.exec('BEGIN IMMEDIATE');
    return async () => {
      other.exec('COMMIT');
      other.close();
    };
  }
  const other = new pg.Client({ connectionString: pier.databaseUrl });
  await other.connect();
  await other.query('BEGIN');
  await other.query('LOCK TABLE payment_schedules IN ACCESS EXCLUSIVE MODE');
  return async () => {
    await other.query('COMMIT');
    await other.end();
  };
}

const lines = (text: string) => pier.logs().split('\n').filter((l) => l.includes('"queue":"schedules"') && l.includes(text));

describe('a lane with a due row while its claims fail', () => {
  it('logs the failure once, again once a minute while it lasts, and its end with the failed tries; the row is charged once the database answers', async () => {
    const res = await pier.call('POST', '/subscribe/payments/schedule', {
      token: m.token,
      body: { customer_uid: 'claim_fail_c', schedules: [{ merchant_uid: 'claim_fail_1', schedule_at: now() + 60, amount: 1_500, name: 'claims failing' }] },
    });
    expect(res.body.code).toBe(0);
    pier.clock.advance(61_000);

    const queue = scheduleQueue(pier.deps, { concurrency: 2 });
    const claim = queue.claim.bind(queue);
    let failedClaims = 0;
    queue.claim = async (owner, limit) => {
      try {
        return await claim(owner, limit);
      } catch (err) {
        failedClaims++;
        throw err;
      }
    };
    const release = await databaseFails();
    try {
      // pauses of a few ms (production: 1 s doubling up to 5 s), the reports spaced by the test's clock
      runner = new JobRunner({ queues: [queue], logger: pier.deps.logger, idleMs: 2, maxFailedPauseMs: 10, clock: pier.clock });
      runner.start();
      await vi.waitUntil(() => failedClaims >= 20, { timeout: 20_000, interval: 5 });
      // before: one error line per failed claim
      expect(lines('claiming jobs failed').length).toBe(1);
      expect(lines('claiming jobs failed')[0]).toContain('"failedTries":1');
      // the database's own words, for the operator (decision 0119)
      expect(lines('claiming jobs failed')[0]).toMatch(pier.sqliteFile ? /database is locked/ : /statement timeout/);

      // a minute later, the same fault: told again, once, with the tries failed so far
      pier.clock.advance(CLAIM_FAILURE_REPORT_EVERY_MS);
      const before = failedClaims;
      await vi.waitUntil(() => failedClaims >= before + 10, { timeout: 20_000, interval: 5 });
      const reports = lines('claiming jobs failed');
      expect(reports.length).toBe(2);
      const again = JSON.parse(reports[1]);
      expect(again.failedTries).toBeGreaterThan(before);
      expect(again.failedTries).toBeLessThanOrEqual(before + 1);
    } finally {
      await release();
    }

    // the database answers: the next claim takes the row (within the bounded pause) and says so once
    await vi.waitUntil(() => lines('claiming jobs works again').length > 0, { timeout: 10_000, interval: 5 });
    const works = lines('claiming jobs works again');
    expect(works.length).toBe(1);
    expect(JSON.parse(works[0]).failedTries).toBe(failedClaims);
    await vi.waitUntil(async () => (await pier.store.db.selectFrom('payment_schedules').select('state').where('merchant_uid', '=', 'claim_fail_1').executeTakeFirstOrThrow()).state === 'executed', { timeout: 10_000, interval: 10 });
    const payments = await pier.store.db.selectFrom('payments').select(['status', 'amount']).where('merchant_uid', '=', 'claim_fail_1').execute();
    expect(payments.map((p) => [p.status, Number(p.amount)])).toEqual([['paid', 1_500]]);
    expect(lines('claiming jobs failed').length).toBe(2);
  }, 60_000);
});
