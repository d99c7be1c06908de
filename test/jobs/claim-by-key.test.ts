/**
 * claimRows on a table keyed by a column other than `id` (its `key` option): payments, keyed by
 * imp_uid, whose deposit checks are leased by moving `deposit_check_at` on (decision 0086,
 * core/virtual-accounts/deposit-checks.ts). Two Pier processes on one database, claiming at the
 * same time, split the due payments: each is leased to one process, and every one to some process.
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { claimDepositChecks } from '../../src/core/virtual-accounts/deposit-checks.js';
import { OVERDUE_RETRY_SECONDS } from '../../src/domain/deposit-checks.js';
import { claimRows } from '../../src/jobs/claim.js';
import { openStore, type Store } from '../../src/store/db.js';
import type { PaymentsTable } from '../../src/store/types.js';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';

let pier: TestPier;
let template: PaymentsTable;
let now: number;
/** two Pier processes on the test's database */
let processes: [Store, Store];

beforeAll(async () => {
  pier = await startTestPier();
  const m = await pier.newMerchant();
  now = Math.floor(pier.clock.now() / 1000);
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'key_template', amount: 1_000, card_number: testCardNumber({ kftcCode: '361', lastFour: '4444' }), expiry: '2030-01' } });
  expect(res.body.response?.status).toBe('paid');
  template = (await pier.store.db.selectFrom('payments').selectAll().where('imp_uid', '=', res.body.response.imp_uid).executeTakeFirstOrThrow()) as PaymentsTable;
  processes = [openStore(pier.databaseUrl, { poolSize: 4 }), openStore(pier.databaseUrl, { poolSize: 4 })];
});
afterAll(async () => {
  for (const store of processes ?? []) await store.close();
  await pier?.close();
});

/** Each test writes its own accounts; none of an earlier test's is due. */
beforeEach(async () => {
  await pier.store.db.updateTable('payments').set({ deposit_check_at: null }).where(sql<boolean>`deposit_check_at is not null`).execute();
});

/**
 * Open virtual accounts `prefix`0000…: `due` whose checks are due (three to a second, so ties are
 * broken by imp_uid; written in the reverse of imp_uid order, so the table's own order is not it),
 * and `later` whose checks are a day away. Returns the imp_uids of the due ones.
 */
async function openAccounts(prefix: string, due: number, later: number): Promise<string[]> {
  const rows = Array.from({ length: due + later }, (_, i) => ({
    ...template,
    imp_uid: `${prefix}${String(i).padStart(4, '0')}`,
    merchant_uid: `${prefix}_${i}`,
    merchant_uid_lock: `${prefix}_${i}`,
    pay_method: 'vbank',
    status: 'ready',
    pg_state: 'done',
    paid_at: 0,
    deposit_check_at: i < due ? now - 600 + Math.floor(i / 3) : now + 86_400,
  })).reverse();
  await pier.store.db.insertInto('payments').values(rows).execute();
  return rows.filter((r) => r.deposit_check_at <= now).map((r) => r.imp_uid).sort();
}

const checkAt = async (prefix: string) =>
  Object.fromEntries(
    (await pier.store.db.selectFrom('payments').select(['imp_uid', 'deposit_check_at']).where('imp_uid', 'like', `${prefix}%`).execute()).map((r) => [r.imp_uid, Number(r.deposit_check_at)]),
  );

/** A process's claims, `limit` at a time, until one finds nothing: the imp_uids it leased. */
async function claimUntilNone(claim: () => Promise<{ impUid: string }[]>): Promise<string[]> {
  const leased: string[] = [];
  for (;;) {
    const batch = await claim();
    if (batch.length === 0) return leased;
    leased.push(...batch.map((b) => b.impUid));
  }
}

describe('claimRows keyed by imp_uid, two processes claiming the same payments at once', () => {
  it('leases each due payment to one process and every due payment to some process; the others are left alone', async () => {
    const due = await openAccounts('imp_keyrace', 30, 6);
    const before = await checkAt('imp_keyrace');
    // each process writes a lease of its own, so the table says which one holds each row
    const leaseOf = [now + 3_600, now + 3_601] as const;
    const claimOn = (p: 0 | 1) => async () =>
      (
        await claimRows(processes[p], 'payments', {
          key: 'imp_uid',
          due: (eb) => eb.and([sql<boolean>`deposit_check_at is not null`, eb('deposit_check_at', '<=', now)]),
          set: { deposit_check_at: leaseOf[p] },
          orderBy: ['deposit_check_at', 'imp_uid'],
          limit: 4,
        })
      ).map((row) => {
        expect(Number(row.deposit_check_at)).toBe(leaseOf[p]);
        return { impUid: row.imp_uid };
      });
    const [a, b] = await Promise.all([claimUntilNone(claimOn(0)), claimUntilNone(claimOn(1))]);

    expect(a.filter((id) => b.includes(id))).toEqual([]);
    expect([...a, ...b].sort()).toEqual(due);
    const after = await checkAt('imp_keyrace');
    for (const id of a) expect(after[id]).toBe(leaseOf[0]);
    for (const id of b) expect(after[id]).toBe(leaseOf[1]);
    const notDue = Object.keys(before).filter((id) => !due.includes(id));
    expect(notDue).toHaveLength(6);
    for (const id of notDue) expect(after[id]).toBe(now + 86_400);
  });
});

describe("the deposit check lane's claim, run by two processes at once", () => {
  it('leases each due check to one process for an hour on Pier’s clock, and every due check to some process', async () => {
    const due = await openAccounts('imp_keydeps', 25, 5);
    const claimOn = (p: 0 | 1) => () => claimDepositChecks({ ...pier.deps, store: processes[p] }, 4);
    const leases: number[] = [];
    const leased = (claim: () => ReturnType<typeof claimDepositChecks>) => async () => {
      const batch = await claim();
      leases.push(...batch.map((c) => c.lease));
      return batch;
    };
    const [a, b] = await Promise.all([claimUntilNone(leased(claimOn(0))), claimUntilNone(leased(claimOn(1)))]);

    expect(a.filter((id) => b.includes(id))).toEqual([]);
    expect([...a, ...b].sort()).toEqual(due);
    expect(new Set(leases)).toEqual(new Set([now + OVERDUE_RETRY_SECONDS]));
    const after = await checkAt('imp_keydeps');
    for (const id of due) expect(after[id]).toBe(now + OVERDUE_RETRY_SECONDS);
  });

  it('takes the earliest checks first, those due in the same second in imp_uid order', async () => {
    const due = await openAccounts('imp_keyfirst', 9, 2);
    // due at now − 600 (…0000-0002), now − 599 (…0003-0005), now − 598 (…0006-0008)
    const first = await claimDepositChecks({ ...pier.deps, store: processes[0] }, 4);
    expect(first.map((c) => c.impUid).sort()).toEqual(due.slice(0, 4));
    const next = await claimDepositChecks({ ...pier.deps, store: processes[1] }, 4);
    expect(next.map((c) => c.impUid).sort()).toEqual(due.slice(4, 8));
  });
});
