import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { SESSION_TTL_SECONDS } from '../../src/core/checkout/sessions.js';
import { checkoutSessionPurgeQueue, STARTED_SESSION_RETENTION_SECONDS, UNSTARTED_SESSION_RETENTION_SECONDS } from '../../src/jobs/handlers/checkout-session-purge.js';
import { JobRunner, type ClaimReport } from '../../src/jobs/runner.js';
import { ManualClock } from '../../src/lib/clock.js';
import { startTestPier, type TestMerchant, type TestPier } from '../harness.js';
import { statementsOf } from '../plans.js';

/** Issue #9 item 7: checkout sessions are created anonymously, so they are purged after they end. */
let pier: TestPier;
let m: TestMerchant;
const ORIGIN = 'https://shop.example';
const HOUR = 3600_000;
const DAY = 24 * HOUR;

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

async function openSession(merchantUid: string): Promise<string> {
  const res = await pier.app.inject({
    method: 'POST',
    url: '/checkout/sessions',
    headers: { 'content-type': 'application/json' },
    payload: JSON.stringify({ imp_code: m.merchantCode, params: { pg: 'jtnet', merchant_uid: merchantUid, amount: 5000, buyer_tel: '010' }, mode: 'overlay', origin: ORIGIN }),
  });
  const body = JSON.parse(res.body);
  expect(body.ok).toBe(true);
  return body.session_id;
}

/** The buyer went on to the PG window: the attempt is `ready` / `window`. */
async function startedSession(merchantUid: string): Promise<{ id: string; impUid: string }> {
  const id = await openSession(merchantUid);
  const res = await pier.app.inject({ method: 'POST', url: `/checkout/${id}/start`, headers: { 'content-type': 'application/x-www-form-urlencoded' }, payload: 'card_code=366&agree=1' });
  expect(res.statusCode).toBe(200);
  const s = await pier.deps.store.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', id).executeTakeFirstOrThrow();
  return { id, impUid: s.imp_uid! };
}

const exists = async (id: string) => !!(await pier.deps.store.db.selectFrom('checkout_sessions').select('id').where('id', '=', id).executeTakeFirst());

function runner(o: { batchSize?: number } = {}) {
  return new JobRunner({ queues: [checkoutSessionPurgeQueue(pier.deps, { idleIntervalMs: 0, ...o })], logger: pier.deps.logger });
}

describe('purging ended checkout sessions', () => {
  it('a session that never reached the PG window is kept until an hour past its expiry, then deleted', async () => {
    const closed = await openSession(`purge_closed_${Date.now()}`);
    await pier.app.inject({ method: 'POST', url: `/checkout/sessions/${closed}/close`, headers: { 'content-type': 'application/json' }, payload: '{}' });
    const abandoned = await openSession(`purge_open_${Date.now()}`);

    pier.clock.advance(SESSION_TTL_SECONDS * 1000 + UNSTARTED_SESSION_RETENTION_SECONDS * 1000 - 60_000);
    await runner().drain();
    expect(await exists(closed)).toBe(true);
    expect(await exists(abandoned)).toBe(true);

    pier.clock.advance(2 * 60_000);
    await runner().drain();
    expect(await exists(closed)).toBe(false);
    expect(await exists(abandoned)).toBe(false);
  });

  it('a session whose buyer reached the PG window is kept for the retention (a late PG result can still be matched), then deleted once its payment is settled', async () => {
    const settled = await startedSession(`purge_settled_${Date.now()}`);
    const open = await startedSession(`purge_unsettled_${Date.now()}`);
    // the first one ends failed (the PG had nothing); the second stays in doubt: the PG was never reached
    await pier.deps.store.db.updateTable('payments').set({ status: 'failed', pg_state: 'done', merchant_uid_lock: null }).where('imp_uid', '=', settled.impUid).execute();
    await pier.deps.store.db.updateTable('payments').set({ pg_state: 'in_doubt' }).where('imp_uid', '=', open.impUid).execute();

    pier.clock.advance(SESSION_TTL_SECONDS * 1000 + 6 * DAY);
    await runner().drain();
    expect(await exists(settled.id)).toBe(true);
    expect(await exists(open.id)).toBe(true);

    pier.clock.advance(STARTED_SESSION_RETENTION_SECONDS * 1000 - 6 * DAY + 60_000);
    await runner().drain();
    expect(await exists(settled.id)).toBe(false);
    // unsettled: kept however old, so the PG's answer for it still finds its session
    expect(await exists(open.id)).toBe(true);
    pier.clock.advance(30 * DAY);
    await runner().drain();
    expect(await exists(open.id)).toBe(true);
    // the payment is never touched by the purge
    expect(await pier.deps.store.db.selectFrom('payments').select('pg_state').where('imp_uid', '=', settled.impUid).executeTakeFirstOrThrow()).toEqual({ pg_state: 'done' });

    // once reconciliation settles it, the session goes on the next pass
    await pier.deps.store.db.updateTable('payments').set({ status: 'paid', pg_state: 'done' }).where('imp_uid', '=', open.impUid).execute();
    await runner().drain();
    expect(await exists(open.id)).toBe(false);
  });

  it('works in bounded batches: one batch per pass, the backlog cleared by successive passes, other sessions untouched', async () => {
    const old: string[] = [];
    for (let i = 0; i < 25; i++) old.push(await openSession(`purge_bulk_${i}_${Date.now()}`));
    pier.clock.advance(SESSION_TTL_SECONDS * 1000 + UNSTARTED_SESSION_RETENTION_SECONDS * 1000 + 1000);
    const fresh = await openSession(`purge_fresh_${Date.now()}`);

    const r = runner({ batchSize: 10 });
    expect(await r.runOnce()).toBe(1);
    const left = async () => (await pier.deps.store.db.selectFrom('checkout_sessions').select('id').where('id', 'in', old).execute()).length;
    expect(await left()).toBe(15);
    await r.drain();
    expect(await left()).toBe(0);
    expect(await exists(fresh)).toBe(true);
  });

  it('rests between looks once nothing is left (no query every pass), and two workers purging at once do not fail', async () => {
    const ids: string[] = [];
    for (let i = 0; i < 6; i++) ids.push(await openSession(`purge_two_${i}_${Date.now()}`));
    pier.clock.advance(SESSION_TTL_SECONDS * 1000 + UNSTARTED_SESSION_RETENTION_SECONDS * 1000 + 1000);
    const wall = new ManualClock(0);
    const q1 = checkoutSessionPurgeQueue(pier.deps, { batchSize: 100, idleIntervalMs: 60_000, intervalClock: wall });
    const q2 = checkoutSessionPurgeQueue(pier.deps, { batchSize: 100, idleIntervalMs: 60_000, intervalClock: wall });
    const [a, b] = await Promise.all([q1.claim('w1', 100), q2.claim('w2', 100)]);
    expect(a[0]).toEqual(expect.arrayContaining(ids));
    expect(b[0]).toEqual(expect.arrayContaining(ids));
    await Promise.all([q1.run(a[0], 'w1', new AbortController().signal), q2.run(b[0], 'w2', new AbortController().signal)]);
    expect((await pier.deps.store.db.selectFrom('checkout_sessions').select('id').where('id', 'in', ids).execute()).length).toBe(0);

    // less than a full batch was found: the next look waits for the interval
    const later = await openSession(`purge_later_${Date.now()}`);
    pier.clock.advance(SESSION_TTL_SECONDS * 1000 + UNSTARTED_SESSION_RETENTION_SECONDS * 1000 + 1000);
    expect(await q1.claim('w1', 100)).toEqual([]);
    wall.advance(60_000);
    expect(await q1.claim('w1', 100)).toEqual([[later]]);
  });

  it('in the running server (not runOnce), deletes a backlog a batch per job: ceil(N / batch) claims and DELETEs, not one per session', async () => {
    const N = 23;
    const BATCH = 10;
    const ids: string[] = [];
    for (let i = 0; i < N; i++) ids.push(await openSession(`purge_running_${i}_${Date.now()}`));
    pier.clock.advance(SESSION_TTL_SECONDS * 1000 + UNSTARTED_SESSION_RETENTION_SECONDS * 1000 + 1000);
    const left = async () => (await pier.deps.store.db.selectFrom('checkout_sessions').select('id').where('id', 'in', ids).execute()).length;
    expect(await left()).toBe(N);
    // sessions of the tests above end too with this clock: the batches are counted over all of them
    const all = async () => Number((await pier.deps.store.db.selectFrom('checkout_sessions').select((eb) => eb.fn.countAll<number>().as('n')).executeTakeFirstOrThrow()).n);
    const before = await all();

    const claims: ClaimReport[] = [];
    const ran = await statementsOf(pier, async (store) => {
      // the lane main.ts runs: start(), one slot, claims as its slot frees; the wall clock of the idle pause never moves
      const queue = checkoutSessionPurgeQueue({ ...pier.deps, store }, { batchSize: BATCH, intervalClock: new ManualClock(0) });
      const r = new JobRunner({ queues: [queue], logger: pier.deps.logger, onClaim: (c) => claims.push(c) });
      r.start();
      try {
        for (let i = 0; i < 3_000 && (await left()) > 0; i++) await new Promise((resolve) => setTimeout(resolve, 10));
      } finally {
        await r.stop();
      }
    });
    expect(await left()).toBe(0);
    const purged = before - (await all());
    expect(purged).toBeGreaterThanOrEqual(N);
    const jobs = Math.ceil(purged / BATCH);
    // each claim with sessions took one job of a full batch but the last (before: one session a claim)
    expect(claims.filter((c) => c.claimed > 0).length).toBe(jobs);
    const deletes = ran.filter((st) => /^delete from "checkout_sessions"/.test(st.sql));
    expect(deletes).toHaveLength(jobs);
    const idsIn = (d: { parameters: readonly unknown[] }) => d.parameters.filter((p) => typeof p === 'string' && p.startsWith('cs_')).length;
    expect(deletes.map(idsIn)).toEqual([...Array.from({ length: jobs - 1 }, () => BATCH), purged - (jobs - 1) * BATCH]);
    // two SELECTs a claim at most (the started sessions are looked at only when the unstarted ones leave room)
    expect(ran.filter((st) => /^select .* from "checkout_sessions"/.test(st.sql)).length).toBeLessThanOrEqual(2 * jobs);
  });
});
