/**
 * Exactly once under load: schedules all due at the same second, run by three Pier worker
 * processes sharing one PostgreSQL database (rows leased with FOR UPDATE SKIP LOCKED). Each
 * schedule is claimed once, executed once, and the tPay simulator's ledger shows one charge per
 * schedule. On SQLite (one process by design) a single runner runs fewer schedules.
 */
import { spawn } from 'node:child_process';
import { createRequire } from 'node:module';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { JobRunner } from '../../src/jobs/runner.js';
import { scheduleQueue } from '../../src/jobs/handlers/schedules.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const ON_POSTGRES = Boolean(process.env.TEST_DATABASE_URL);
const ROOT = resolve(import.meta.dirname, '../..');
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;

let pier: TestPier;
let m: TestMerchant;

beforeAll(async () => {
  pier = await startTestPier({ simulatorSlowMs: 60_000 });
  m = await pier.newMerchant();
});
afterAll(() => pier.close());

/** `customers` billing keys with `perCustomer` schedules each, all due at `at`. */
async function scheduleMany(customers: number, perCustomer: number, at: number) {
  for (let c = 0; c < customers; c++) {
    const customerUid = `many_c${c}`;
    const card = testCardNumber({ kftcCode: '366', lastFour: String(2000 + c).padStart(4, '0') });
    const issued = await pier.call('POST', `/subscribe/customers/${customerUid}`, { token: m.token, body: { card_number: card, expiry: '2030-12' } });
    expect(issued.body.code).toBe(0);
    const schedules = Array.from({ length: perCustomer }, (_, i) => ({ merchant_uid: `many_${c}_${i}`, schedule_at: at, amount: 1000 + i, name: '정기결제' }));
    const res = await pier.call('POST', '/subscribe/payments/schedule', { token: m.token, body: { customer_uid: customerUid, schedules } });
    expect(res.body.code, JSON.stringify(res.body).slice(0, 300)).toBe(0);
  }
}

interface LedgerTx {
  moid: string;
  amount: number;
  status: string;
}

/** Every schedule executed and paid once, and exactly one PG charge per schedule. */
async function expectEachChargedOnce(total: number) {
  const rows = await pier.store.db.selectFrom('payment_schedules').selectAll().where('merchant_id', '=', m.merchantId).execute();
  expect(rows).toHaveLength(total);
  expect(rows.filter((r) => r.state !== 'executed')).toEqual([]);
  expect(rows.every((r) => r.attempts === 1 && r.lease_owner === null)).toBe(true);

  const payments = await pier.store.db.selectFrom('payments').select(['imp_uid', 'merchant_uid', 'status', 'amount']).where('merchant_id', '=', m.merchantId).execute();
  expect(payments).toHaveLength(total);
  expect(new Set(payments.map((p) => p.merchant_uid)).size).toBe(total);
  expect(payments.every((p) => p.status === 'paid')).toBe(true);
  const byImp = new Map(rows.map((r) => [r.imp_uid, r]));
  for (const p of payments) expect(byImp.get(p.imp_uid)?.merchant_uid).toBe(p.merchant_uid);

  const ledger = (await (await fetch(`${pier.simulatorUrl}/__ledger`)).json()) as { approvals: LedgerTx[]; declines: LedgerTx[] };
  const charges = new Map<string, number>();
  for (const a of ledger.approvals) charges.set(a.moid, (charges.get(a.moid) ?? 0) + 1);
  expect(ledger.approvals).toHaveLength(total);
  expect(ledger.declines).toHaveLength(0);
  for (const p of payments) {
    expect(charges.get(p.imp_uid), p.merchant_uid).toBe(1);
  }
  const amounts = new Map(payments.map((p) => [p.imp_uid, p.amount]));
  expect(ledger.approvals.every((a) => amounts.get(a.moid) === a.amount)).toBe(true);
}

/** A worker process (test/jobs/schedule-worker.ts) that waits for "go". */
function worker(name: string) {
  const child = spawn(process.execPath, ['--import', TSX_LOADER, join(ROOT, 'test/jobs/schedule-worker.ts')], {
    cwd: ROOT,
    env: {
      ...process.env,
      DATABASE_URL: pier.databaseUrl,
      VAULT_SPEC: pier.vaultSpec,
      JTNET_URL: pier.simulatorUrl,
      CLOCK_MS: String(pier.clock.now()),
      WORKER_NAME: name,
    },
    stdio: ['pipe', 'pipe', 'pipe'],
  });
  let stderr = '';
  child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
  const lines = createInterface({ input: child.stdout });
  const queue: string[] = [];
  const waiters: Array<(l: string) => void> = [];
  lines.on('line', (l) => (waiters.length ? waiters.shift()!(l) : queue.push(l)));
  const exited = new Promise<number>((done) => child.on('exit', (code) => done(code ?? -1)));
  const nextLine = () =>
    new Promise<string>((done, fail) => {
      if (queue.length) return done(queue.shift()!);
      waiters.push(done);
      exited.then((code) => fail(new Error(`${name} exited (${code}) before answering: ${stderr}`)));
    });
  return { child, nextLine, exited, stderr: () => stderr };
}

describe('many schedules due at once', () => {
  it.runIf(ON_POSTGRES)('runs 1,000 schedules with three worker processes on one PostgreSQL: each executed once, one PG charge each', async () => {
    const at = Math.floor(pier.clock.now() / 1000) + 3600;
    await scheduleMany(10, 100, at);
    pier.clock.advance(3600_000);

    const workers = ['w1', 'w2', 'w3'].map(worker);
    for (const w of workers) expect(await w.nextLine()).toBe('ready');
    for (const w of workers) w.child.stdin.write('go\n');
    const results = await Promise.all(workers.map(async (w) => JSON.parse(await w.nextLine()) as { ran: number }));
    const codes = await Promise.all(workers.map((w) => w.exited));
    expect(codes, workers.map((w) => w.stderr()).join('\n')).toEqual([0, 0, 0]);

    // every schedule was claimed by exactly one worker, and all three took part
    expect(results.reduce((s, r) => s + r.ran, 0)).toBe(1000);
    for (const r of results) expect(r.ran).toBeGreaterThan(0);
    await expectEachChargedOnce(1000);
  }, 60_000);

  it.skipIf(ON_POSTGRES)('runs 200 schedules due at once with the single SQLite runner: each executed once, one PG charge each', async () => {
    const at = Math.floor(pier.clock.now() / 1000) + 3600;
    await scheduleMany(4, 50, at);
    pier.clock.advance(3600_000);
    const runner = new JobRunner({ queues: [scheduleQueue(pier.deps)], logger: pier.deps.logger });
    expect(await runner.drain()).toBe(200);
    expect(await runner.drain()).toBe(0);
    await expectEachChargedOnce(200);
  });
});
