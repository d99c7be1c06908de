/**
 * What `pier reconcile` tells an operator about refunds it settled: only those it wrote. Two settlers
 * of one payment's refunds (the server's pass and the operator's, or two Piers on one database) each
 * take one of its open refunds, ask the PG and record what it refunded; the one whose record of a
 * refund came second wrote nothing for it (recordRefund: false) but listed it `succeeded` all the
 * same, so the refund was reported settled twice (decision 0115). The real CLI in a child process,
 * on the test Pier's database, asking the tPay simulator over HTTP; the other settler's record is
 * made by a trigger at the CLI's own first record, between its read after the inquiry and its
 * record of the second refund. Both stores (TEST_DATABASE_URL for PostgreSQL).
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { sql } from 'kysely';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { envWithoutPier } from './child-process.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from './harness.js';

const ROOT = resolve(import.meta.dirname, '..');
// through tsx, not bin/pier.js: the bundle bin/pier.js makes is written under node_modules
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const card = testCardNumber({ kftcCode: '361', lastFour: '4444' });

let pier: TestPier;
let m: TestMerchant;
let dataDir: string;

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-reconcile-report-'));
});
afterAll(async () => {
  await pier.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function pierReconcile(): Promise<{ code: number; stdout: string; stderr: string }> {
  const env = {
    ...envWithoutPier(),
    DATABASE_URL: pier.databaseUrl,
    PIER_DATA_DIR: dataDir,
    PIER_VAULT_KEYS: pier.vaultSpec,
    PIER_SIMULATOR: 'false',
    PIER_JTNET_URL: pier.simulatorUrl,
    LOG_LEVEL: 'silent',
  };
  return new Promise((done) => {
    execFile(process.execPath, ['--import', TSX_LOADER, join(ROOT, 'src/cli/index.ts'), 'reconcile', '--grace-seconds', '0'], { cwd: ROOT, env, timeout: 120_000 }, (err, stdout, stderr) => {
      done({ code: err ? Number((err as { code?: number }).code ?? -1) : 0, stdout, stderr });
    });
  });
}

/**
 * Another settler records `second` (as recordRefund writes it) in the transaction of the CLI's
 * record of `first`: after the CLI read the refunds back from the database, before it records `second`.
 */
async function anotherSettlerRecords(impUid: string, first: string, second: { id: string; amount: number }) {
  const record = (target: string) =>
    `UPDATE payment_cancels SET state = 'succeeded' WHERE cancellation_id = '${second.id}' AND state IN ('pending', 'in_doubt');
     UPDATE payments SET cancel_amount = cancel_amount + ${second.amount}, cancel_pending_amount = cancel_pending_amount - ${second.amount} WHERE imp_uid = '${target}';`;
  if (pier.store.dialect === 'sqlite') {
    await sql
      .raw(`CREATE TRIGGER other_settler AFTER UPDATE OF state ON payment_cancels WHEN NEW.cancellation_id = '${first}' AND NEW.state = 'succeeded' BEGIN ${record(impUid)} END`)
      .execute(pier.store.db);
  } else {
    await sql.raw(`CREATE FUNCTION other_settler() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN ${record(impUid)} RETURN NULL; END $$`).execute(pier.store.db);
    await sql
      .raw(`CREATE TRIGGER other_settler AFTER UPDATE OF state ON payment_cancels FOR EACH ROW WHEN (NEW.cancellation_id = '${first}' AND NEW.state = 'succeeded') EXECUTE FUNCTION other_settler()`)
      .execute(pier.store.db);
  }
}

describe('pier reconcile, refunds', () => {
  it('lists a refund settled by another settler meanwhile not as its own', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'report_1', amount: 10_000, card_number: card, expiry: '2030-01' } });
    expect(paid.body.response?.status, JSON.stringify(paid.body)).toBe('paid');
    const impUid = paid.body.response.imp_uid as string;
    // two refunds the PG made whose answers were lost (the simulator refunds, then drops the connection)
    for (const amount of [3_000, 2_000]) {
      const fault = await fetch(`${pier.simulatorUrl}/__control/faults`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ mode: 'reset', op: 'refunds' }) });
      expect(fault.status).toBe(201);
      expect((await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: impUid, amount } })).status).toBe(502);
    }
    const refunds = () => pier.store.db.selectFrom('payment_cancels').select(['cancellation_id', 'state', 'amount']).where('imp_uid', '=', impUid).orderBy('id').execute();
    const [first, second] = await refunds();
    expect([first, second].map((r) => [r!.state, Number(r!.amount)])).toEqual([
      ['in_doubt', 3_000],
      ['in_doubt', 2_000],
    ]);
    await anotherSettlerRecords(impUid, first!.cancellation_id, { id: second!.cancellation_id, amount: 2_000 });

    const run = await pierReconcile();
    expect(run.code, run.stderr).toBe(0);
    // the CLI recorded the first; the second was the other settler's
    expect((await refunds()).map((r) => [r.state, Number(r.amount)])).toEqual([
      ['succeeded', 3_000],
      ['succeeded', 2_000],
    ]);
    const p = await pier.store.db.selectFrom('payments').select(['status', 'cancel_amount', 'cancel_pending_amount']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
    expect([p.status, Number(p.cancel_amount), Number(p.cancel_pending_amount)]).toEqual(['paid', 5_000, 0]);
    const listed = run.stdout.split('\n').filter((l) => /^\S+\s+(succeeded|failed)\s*$/.test(l.trim()));
    expect(listed.map((l) => l.trim().split(/\s+/))).toEqual([[first!.cancellation_id, 'succeeded']]);
  });
});
