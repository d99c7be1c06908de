/**
 * Times one read of reconciliation's fair reads and of the schedule claim that leaves a merchant
 * out, with 100,000 due rows (decision 0076). Not a test (no timing is asserted): run by hand,
 *   npx vitest run --config test/measure/vitest.config.ts  [TEST_DATABASE_URL=…] [ROWS=…] [EXPLAIN=1]
 */
import { sql } from 'kysely';
import { afterAll, beforeAll, it } from 'vitest';
import { dueAttempts, dueRefunds } from '../../src/core/payments/reconcile.js';
import { claimDueSchedules } from '../../src/core/schedules/run.js';
import { createMerchant } from '../../src/core/merchants/merchants.js';
import pg from 'pg';
import { statementsOf } from '../plans.js';
import { startTestPier, testCardNumber, type TestPier } from '../harness.js';

const N = Number(process.env.ROWS ?? 100_000);
let pier: TestPier;
const out: string[] = [];

beforeAll(async () => {
  pier = await startTestPier();
});
afterAll(async () => {
  console.log(`\n${pier.store.dialect}\n${out.join('\n')}`);
  await pier?.close();
});

async function median(runs: number, f: () => Promise<unknown>) {
  await f();
  const times: number[] = [];
  for (let i = 0; i < runs; i++) {
    const t = performance.now();
    await f();
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return times[Math.floor(runs / 2)]!.toFixed(1);
}

let m0: Awaited<ReturnType<TestPier['newMerchant']>> | undefined;
async function seed(merchants: string[], tag: string, per = N / merchants.length, base = 0) {
  m0 ??= await pier.newMerchant();
  const merchantColumn = (pier.store.dialect === 'sqlite'
    ? (await sql<{ name: string }>`select name from pragma_table_info('payment_cancels')`.execute(pier.store.db)).rows
    : (await sql<{ name: string }>`select column_name as name from information_schema.columns where table_name = 'payment_cancels' and table_schema = current_schema()`.execute(pier.store.db)).rows
  ).some((c) => c.name === 'merchant_id');
  const card = testCardNumber({ kftcCode: '361', lastFour: '4444' });
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: m0.token, body: { merchant_uid: `tpl_${tag}`, amount: 1000, card_number: card, expiry: '2030-01' } });
  const tpl = res.body.response.imp_uid as string;
  const cols = (pier.store.dialect === 'sqlite'
    ? (await sql<{ name: string }>`select name from pragma_table_info('payments')`.execute(pier.store.db)).rows
    : (await sql<{ name: string }>`select column_name as name from information_schema.columns where table_name = 'payments' and table_schema = current_schema() order by ordinal_position`.execute(pier.store.db)).rows
  ).map((c) => c.name);
  for (const [k, merchant] of merchants.entries()) {
    const copied: Record<string, string> = {
      imp_uid: `'i${tag}${k}_' || s.i`,
      merchant_id: `'${merchant}'`,
      merchant_uid: `'u${tag}${k}_' || s.i`,
      merchant_uid_lock: `'u${tag}${k}_' || s.i`,
      pg_state: `'in_doubt'`,
      status: `'ready'`,
      pg_tid: 'null',
      // interleaved across merchants, all past their grace
      next_check_at: `${base} + ((s.i * ${merchants.length} + ${k}) * 7) % 1000000`,
      check_count: '0',
      cancel_amount: '0',
      cancel_pending_amount: '0',
    };
    await sql
      .raw(
        `with recursive s(i) as (select 1 union all select i + 1 from s where i < ${per}) ` +
          `insert into payments (${cols.join(', ')}) select ${cols.map((n) => copied[n] ?? `p.${n}`).join(', ')} from payments p, s where p.imp_uid = '${tpl}'`,
      )
      .execute(pier.store.db);
    await sql
      .raw(
        (`insert into payment_cancels (imp_uid, cancellation_id, amount, tax_free, state, requested_at, cancelled_at, next_check_at, check_count) ` +
          `select imp_uid, 'c' || imp_uid, 1000, 0, 'in_doubt', 0, 0, next_check_at, 0 from payments where imp_uid like 'i${tag}${k}\\_%' escape '\\'`).replace(
            /^(insert into payment_cancels \()(.*)(\) select )(.*)( from payments .*)$/,
            // as Pier writes them since migration 023: with their payment's merchant
            merchantColumn ? '$1$2, merchant_id$3$4, merchant_id$5' : '$1$2$3$4$5',
          ),
      )
      .execute(pier.store.db);
  }
  // PostgreSQL's autovacuum analyses a table that grew so; Pier never analyses SQLite
  if (pier.store.dialect === 'postgres') await sql`vacuum analyze`.execute(pier.store.db);
}

async function clear(tag: string) {
  await sql.raw(`delete from payment_cancels where cancellation_id like 'ci${tag}%'`).execute(pier.store.db);
  await sql.raw(`delete from payments where imp_uid like 'i${tag}%'`).execute(pier.store.db);
}

const opts = { graceSeconds: 0 };

it('reconciliation reads', async () => {
  for (const count of [1, 50]) {
    const merchants = await Promise.all(Array.from({ length: count }, (_, i) => createMerchant(pier.deps, { name: `M ${i}` }).then((m) => m.merchantId)));
    // and one merchant with a single due row, the one a refresh read is for
    const lone = (await createMerchant(pier.deps, { name: 'lone' })).merchantId;
    const tag = `m${count}x`;
    await seed(merchants, tag);
    await seed([lone], `l${count}x`, 1, 1000000);
    const full = await median(9, () => dueAttempts(pier.deps, opts, { excluded: [], after: null, limit: 100 }));
    const left = await median(9, () => dueAttempts(pier.deps, opts, { excluded: merchants.slice(0, 1), after: null, limit: 100 }));
    const rfull = await median(9, () => dueRefunds(pier.deps, opts, { excluded: [], after: null, limit: 100 }));
    const rleft = await median(9, () => dueRefunds(pier.deps, opts, { excluded: merchants.slice(0, 1), after: null, limit: 100 }));
    if (process.env.EXPLAIN && pier.store.dialect === 'postgres') {
      const ran = await statementsOf(pier, (store) => dueRefunds({ ...pier.deps, store }, opts, { excluded: merchants.slice(0, 1), after: null, limit: 100 }));
      const c = new pg.Client({ connectionString: pier.databaseUrl });
      await c.connect();
      for (const q of ran) {
        const r = await c.query({ text: `EXPLAIN (ANALYZE) ${q.sql}`, values: q.parameters as unknown[] });
        out.push(r.rows.map((x: Record<string, string>) => x['QUERY PLAN']).join('\n'));
      }
      await c.end();
    }
    out.push(`payments  ${N} rows, ${count} merchants (+1 with 1 row): read ${full} ms; leaving the first out ${left} ms`);
    out.push(`refunds   ${N} rows, ${count} merchants (+1 with 1 row): read ${rfull} ms; leaving the first out ${rleft} ms`);
    await clear(tag);
    await clear(`l${count}x`);
  }
});

it('the schedule claim that leaves a merchant out', async () => {
  const a = (await createMerchant(pier.deps, { name: 'flood' })).merchantId;
  const b = (await createMerchant(pier.deps, { name: 'other' })).merchantId;
  const rows = (merchant: string, tag: string, count: number, base: number) =>
    sql
      .raw(
        `with recursive s(i) as (select 1 union all select i + 1 from s where i < ${count}) ` +
          `insert into payment_schedules (id, merchant_id, customer_uid, merchant_uid, pg_provider, pg_id, state, schedule_at, due_at, amount, tax_free, currency, card_quota, created_at, updated_at) ` +
          `select 'sch${tag}_' || s.i, '${merchant}', 'cust', 'mu${tag}_' || s.i, 'jtnet', 'x', 'scheduled', ${base} + s.i, ${base} + s.i, 1000, 0, 'KRW', 0, 0, 0 from s`,
      )
      .execute(pier.store.db);
  await rows(a, 'a', N, 0);
  await rows(b, 'b', 1, N + 10);
  if (pier.store.dialect === 'postgres') await sql`vacuum analyze`.execute(pier.store.db);
  const now = N + 100;
  const claim = async () => {
    const got = await claimDueSchedules(pier.store, { now, owner: 'measure', leaseSeconds: 60, limit: 4, skipMerchants: [a] });
    if (got.length !== 1 || got[0]!.merchant_id !== b) throw new Error(`claimed ${got.length}`);
    await pier.store.db.updateTable('payment_schedules').set({ state: 'scheduled', lease_owner: null, lease_until: 0 }).where('merchant_id', '=', b).execute();
  };
  out.push(`schedules ${N} due of a merchant left out, 1 of another: claim ${await median(9, claim)} ms`);
  if (process.env.EXPLAIN && pier.store.dialect === 'postgres') {
    const ran = await statementsOf(pier, (store) => claimDueSchedules(store, { now, owner: 'measure', leaseSeconds: 60, limit: 4, skipMerchants: [a] }));
    await pier.store.db.updateTable('payment_schedules').set({ state: 'scheduled', lease_owner: null, lease_until: 0 }).where('merchant_id', '=', b).execute();
    const c = new pg.Client({ connectionString: pier.databaseUrl });
    await c.connect();
    for (const q of ran) {
      await c.query('BEGIN');
      const r = await c.query({ text: `EXPLAIN (ANALYZE) ${q.sql}`, values: q.parameters as unknown[] });
      await c.query('ROLLBACK');
      out.push(r.rows.map((x: Record<string, string>) => x['QUERY PLAN']).join('\n'));
    }
    await c.end();
  }
  const claimAll = async () => {
    const got = await claimDueSchedules(pier.store, { now, owner: 'measure', leaseSeconds: 60, limit: 4 });
    await pier.store.db.updateTable('payment_schedules').set({ state: 'scheduled', lease_owner: null, lease_until: 0 }).where('id', 'in', got.map((g) => g.id)).execute();
  };
  out.push(`schedules ${N} due, nobody left out: claim ${await median(9, claimAll)} ms`);
});
