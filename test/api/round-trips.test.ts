/**
 * Database round trips and commits per payment request (issue #14: at most 3 and 2 per payment:
 * the token, then record, call, record with the webhook event in the second commit).
 *
 * What counts as a round trip:
 *  - PostgreSQL: every pg `Client.query` (a network round trip; BEGIN and COMMIT included).
 *  - SQLite: there is no network; the cost of a trip is one hand-off through Kysely's asynchronous
 *    driver, which resumes on a later microtask. So statements that run one after another without
 *    yielding (a synchronous better-sqlite3 transaction, Store.syncTransaction) are one trip, and
 *    every statement Kysely issues on its own (its BEGIN and COMMIT included) is one trip each.
 * A commit is a COMMIT, or a write outside an explicit transaction (autocommit).
 * The token is read from the database once per TOKEN_CACHE_MS per process: a payment costs 3 round
 * trips with that read (cold) and 2 without it (warm).
 */
import { createRequire } from 'node:module';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { TOKEN_CACHE_MS } from '../../src/core/merchants/auth.js';
import { claimDueSchedules, DEFAULT_SCHEDULE_POLICY, runClaimedSchedule } from '../../src/core/schedules/run.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

let pier: TestPier;
let m: TestMerchant;
let trips: string[][] = [];
let commits = 0;
let counting = false;
const restore: Array<() => void> = [];

function hook(proto: Record<string, unknown>, method: string, seen: (self: any, args: unknown[]) => void) {
  const orig = proto[method] as (...a: unknown[]) => unknown;
  proto[method] = function (this: unknown, ...args: unknown[]) {
    if (counting) seen(this, args);
    return orig.apply(this, args);
  };
  restore.push(() => (proto[method] = orig));
}

const oneLine = (q: string) => q.replace(/\s+/g, ' ').trim();
const isWrite = (q: string) => /^(insert|update|delete)\b/i.test(q) || (/^with\b/i.test(q) && /\b(insert into|update \S+ set|delete from)\b/i.test(q));

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  if (pier.store.dialect === 'postgres') {
    const inTransaction = new WeakSet<object>();
    hook(pg.Client.prototype as unknown as Record<string, unknown>, 'query', (client, [q]) => {
      const text = oneLine(typeof q === 'string' ? q : String((q as { text?: string })?.text));
      trips.push([text]);
      if (/^begin\b/i.test(text)) inTransaction.add(client);
      else if (/^(commit|rollback)\b/i.test(text)) {
        inTransaction.delete(client);
        if (/^commit/i.test(text)) commits++;
      } else if (isWrite(text) && !inTransaction.has(client)) commits++;
    });
  } else {
    const Database = createRequire(import.meta.url)('better-sqlite3');
    const mem = new Database(':memory:');
    const Statement = mem.prepare('select 1').constructor.prototype;
    mem.close();
    let yielded = true;
    for (const method of ['run', 'all', 'get', 'iterate']) {
      hook(Statement, method, (stmt) => {
        // Pier's database only: the in-process tPay simulator has its own (in memory)
        if (stmt.database?.name !== pier.sqliteFile) return;
        const text = oneLine(String(stmt.source));
        if (yielded) {
          trips.push([]);
          yielded = false;
          queueMicrotask(() => (yielded = true));
        }
        trips.at(-1)!.push(text);
        // (BEGIN IMMEDIATE is not `readonly`: it takes the write lock)
        if (/^commit\b/i.test(text) || (!stmt.readonly && !stmt.database.inTransaction && !/^begin\b/i.test(text))) commits++;
      });
    }
  }
});
afterAll(async () => {
  for (const r of restore) r();
  await pier.close();
});

/** Round trips and commits of `work`: a request, or background work. */
async function countWork<T>(label: string, work: () => Promise<T>) {
  trips = [];
  commits = 0;
  counting = true;
  const result = await work();
  counting = false;
  console.log(`${label}: ${trips.length} round trips, ${commits} commits\n${trips.map((t) => `  ${t.map((q) => q.slice(0, 90)).join('\n   + ')}`).join('\n')}`);
  return { result, trips: trips.length, commits };
}

async function count(method: string, url: string, body: unknown) {
  const { result: res, trips, commits } = await countWork(url, () => pier.call(method, url, { token: m.token, body }));
  expect(res.body.code, JSON.stringify(res.body)).toBe(0);
  return { res, trips, commits };
}

const dashed = (n: string) => `${n.slice(0, 4)}-${n.slice(4, 8)}-${n.slice(8, 12)}-${n.slice(12)}`;
const card = { card_number: dashed(testCardNumber({ kftcCode: '381', lastFour: '5678' })), expiry: '2030-01', birth: '123456' };

describe('database round trips of a due schedule', () => {
  it('paid: 3 round trips (the claim; the attempt with the lease taking its imp_uid; the outcome with its webhook and `executed`), 3 commits', async () => {
    await count('POST', '/subscribe/customers/rt_sched_cust', { ...card });
    const at = Math.floor(pier.clock.now() / 1000) + 60;
    await count('POST', '/subscribe/payments/schedule', { customer_uid: 'rt_sched_cust', schedules: [{ merchant_uid: 'rt_sched_1', schedule_at: at, amount: 1000, name: 'x' }] });
    pier.clock.advance(61_000);
    const { result, trips, commits } = await countWork('a due schedule', async () => {
      const [s] = await claimDueSchedules(pier.store, { now: Math.floor(pier.clock.now() / 1000), owner: 'rt-worker', leaseSeconds: 300, limit: 10 });
      return runClaimedSchedule(pier.deps, s, 'rt-worker', DEFAULT_SCHEDULE_POLICY);
    });
    expect(result.outcome).toBe('paid');
    // before: the lease took the imp_uid, and `executed` was written, each in a commit of its own (5);
    // before that, the outcome was also read back and `executed` written in BEGIN … COMMIT (8)
    expect({ trips, commits }).toEqual({ trips: 3, commits: 3 });
    const row = await pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_uid', '=', 'rt_sched_1').executeTakeFirstOrThrow();
    expect(row).toMatchObject({ state: 'executed', imp_uid: result.impUid, fail_reason: null, lease_owner: null, lease_until: 0 });
    const paid = await pier.store.db.selectFrom('payments').select(['status', 'customer_uid_usage']).where('imp_uid', '=', result.impUid!).executeTakeFirstOrThrow();
    expect(paid).toEqual({ status: 'paid', customer_uid_usage: 'payment.scheduled' });
  });
});

describe('database round trips per payment', () => {
  it('issuing a billing key: 3 round trips (token, channels, the key stored and read back in one upsert), 1 commit', async () => {
    pier.clock.advance(TOKEN_CACHE_MS); // cold: the token is read
    const { res, trips, commits } = await count('POST', '/subscribe/customers/rt_cust', { ...card });
    expect(res.body.response).toMatchObject({ customer_uid: 'rt_cust', card_number: expect.stringMatching(/\*/) });
    expect({ trips, commits }).toEqual({ trips: 3, commits: 1 });
  });

  it('again: 3 round trips (token; the billing key, channel and attempt in one; the outcome with its webhook event in one), 2 commits', async () => {
    pier.clock.advance(TOKEN_CACHE_MS); // cold: the token is read
    // a webhook URL, so the payment's event also fans out to a delivery within the second commit
    await pier.store.db
      .insertInto('webhook_settings')
      .values({ merchant_id: m.merchantId, url: 'http://127.0.0.1:9/hook', content_type: 'json', secret_sealed: pier.deps.vault.seal('whsec_x'), created_at: 0, updated_at: 0 })
      .execute();
    const { res, trips, commits } = await count('POST', '/subscribe/payments/again', { customer_uid: 'rt_cust', merchant_uid: 'rt_again_1', amount: 1000, name: 'x' });
    expect(res.body.response).toMatchObject({ status: 'paid', merchant_uid: 'rt_again_1', amount: 1000, cancel_history: [] });
    expect({ trips, commits }).toEqual({ trips: 3, commits: 2 });
    const event = await pier.store.db.selectFrom('webhook_events').selectAll().where('merchant_uid', '=', 'rt_again_1').execute();
    expect(event).toMatchObject([{ imp_uid: res.body.response.imp_uid, status: 'paid', cause: 'charge' }]);
    const deliveries = await pier.store.db.selectFrom('webhook_deliveries').selectAll().where('event_id', '=', event[0].id).execute();
    expect(deliveries).toMatchObject([{ url: 'http://127.0.0.1:9/hook', listener_id: null, content_type: 'json', state: 'pending', attempts: 0 }]);
    expect(deliveries[0].id).toMatch(/^whd_[0-9a-f]{32}$/);
  });

  it('onetime: 3 round trips (token; the channel and attempt in one; the outcome with its webhook event in one), 2 commits', async () => {
    pier.clock.advance(TOKEN_CACHE_MS); // cold: the token is read
    const { res, trips, commits } = await count('POST', '/subscribe/payments/onetime', { merchant_uid: 'rt_once_1', amount: 1000, ...card });
    expect(res.body.response).toMatchObject({ status: 'paid', merchant_uid: 'rt_once_1', amount: 1000, cancel_history: [] });
    expect({ trips, commits }).toEqual({ trips: 3, commits: 2 });
  });

  it('again and onetime with the token remembered (within TOKEN_CACHE_MS of its last read): 2 round trips, 2 commits', async () => {
    const again = await count('POST', '/subscribe/payments/again', { customer_uid: 'rt_cust', merchant_uid: 'rt_again_2', amount: 1000 });
    expect(again.res.body.response).toMatchObject({ status: 'paid', merchant_uid: 'rt_again_2' });
    expect({ trips: again.trips, commits: again.commits }).toEqual({ trips: 2, commits: 2 });
    const once = await count('POST', '/subscribe/payments/onetime', { merchant_uid: 'rt_once_2', amount: 1000, ...card });
    expect(once.res.body.response).toMatchObject({ status: 'paid', merchant_uid: 'rt_once_2' });
    expect({ trips: once.trips, commits: once.commits }).toEqual({ trips: 2, commits: 2 });
  });
});
