/**
 * SIGTERM (or a terminal's Ctrl-C) to `pier reconcile` while it waits for the PG's answer about a
 * row it took (decision 0126). Before, the CLI had no handler: Node's default ended it at once, the
 * row's check spent (check_count 1, next_check_at moved back by its backoff step) and the PG's answer
 * lost, so a charge the PG had made stayed in doubt until a later pass (a net-cancel the PG made,
 * unrecorded likewise). Now the CLI finishes the rows under way, starts no further row (nor the
 * refunds' pass), says so and exits 128 + the signal's number.
 *
 * The real CLI in a child process, on the test Pier's database, asking the tPay simulator over HTTP;
 * the simulator holds the CLI's inquiry until the test releases it, after the signal. Both stores
 * (TEST_DATABASE_URL for PostgreSQL).
 */
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { envWithoutPier } from '../child-process.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';

const ROOT = resolve(import.meta.dirname, '../..');
// through tsx, not bin/pier.js: the bundle bin/pier.js makes is written under node_modules
const TSX_LOADER = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
const card = testCardNumber({ kftcCode: '361', lastFour: '4444' });

let pier: TestPier;
let m: TestMerchant;
let dataDir: string;

beforeAll(async () => {
  // a held answer comes only when the test releases it
  pier = await startTestPier({ simulatorSlowMs: 600_000 });
  m = await pier.newMerchant();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-reconcile-stop-'));
});
afterAll(async () => {
  await pier.close();
  rmSync(dataDir, { recursive: true, force: true });
});

function startReconcile() {
  const env = {
    ...envWithoutPier(),
    DATABASE_URL: pier.databaseUrl,
    PIER_DATA_DIR: dataDir,
    PIER_VAULT_KEYS: pier.vaultSpec,
    PIER_SIMULATOR: 'false',
    PIER_JTNET_URL: pier.simulatorUrl,
    // the held inquiry is answered (released) long before the CLI would give it up
    PIER_JTNET_READ_TIMEOUT_MS: '60000',
    LOG_LEVEL: 'silent',
  };
  const child = spawn(process.execPath, ['--import', TSX_LOADER, join(ROOT, 'src/cli/index.ts'), 'reconcile', '--grace-seconds', '0'], { cwd: ROOT, env });
  let stdout = '';
  let stderr = '';
  child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<{ code: number | null; signal: NodeJS.Signals | null; stdout: string; stderr: string }>((done) =>
    child.on('exit', (code, signal) => done({ code, signal, stdout, stderr })),
  );
  return { child, exited, stderr: () => stderr };
}

const sim = async (path: string, body?: unknown) =>
  (await (await fetch(`${pier.simulatorUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json()) as any;

const paymentRow = (impUid: string) =>
  pier.store.db.selectFrom('payments').select(['status', 'pg_state', 'check_count']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();

describe('pier reconcile, SIGTERM while the PG holds its inquiry', () => {
  it('records the answer of the row under way, starts nothing more, exits 143', async () => {
    // a charge the PG made whose answer was lost (the simulator charges, then drops the connection),
    // and the inquiry Pier makes at once failing too: in doubt
    expect(await sim('/__control/faults', { mode: 'reset', op: 'payments' })).toEqual({ pending: 1 });
    expect(await sim('/__control/faults', { mode: 'http_500', op: 'trans_search' })).toEqual({ pending: 2 });
    const charged = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'cli_stop_charge', amount: 4_000, card_number: card, expiry: '2030-01' } });
    expect(charged.status).toBe(502);
    const impUid = /imp_uid: (imp_\d{12})/.exec(charged.body.message)![1]!;
    expect(await paymentRow(impUid)).toEqual({ status: 'ready', pg_state: 'in_doubt', check_count: 0 });
    // and a refund the PG made whose answer was lost: the refunds' pass, after the attempts'
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'cli_stop_refund', amount: 6_000, card_number: card, expiry: '2030-01' } });
    expect(paid.body.response?.status, JSON.stringify(paid.body)).toBe('paid');
    await sim('/__control/faults', { mode: 'reset', op: 'refunds' });
    expect((await pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: paid.body.response.imp_uid, amount: 1_000 } })).status).toBe(502);
    const refundRow = () => pier.store.db.selectFrom('payment_cancels').select(['state', 'check_count']).where('imp_uid', '=', paid.body.response.imp_uid).executeTakeFirstOrThrow();
    expect(await refundRow()).toEqual({ state: 'in_doubt', check_count: 0 });

    await sim('/__control/faults', { mode: 'hold', op: 'trans_search' });
    const run = startReconcile();
    await vi.waitUntil(async () => (await sim('/__control/holds')).held === 1, { timeout: 30_000, interval: 50 }); // the PG holds the CLI's inquiry
    expect(Number((await paymentRow(impUid)).check_count)).toBe(1); // the CLI took the row

    run.child.kill('SIGTERM');
    // the CLI says it heard the signal (before, it was gone); then the PG answers
    await vi.waitUntil(() => run.stderr().includes('SIGTERM') || run.child.exitCode !== null || run.child.signalCode !== null, { timeout: 10_000, interval: 20 });
    await sim('/__control/holds/release', {});
    const ended = await run.exited;
    // the PG's answer recorded: the charge paid (before: in doubt, its check spent, the answer lost)
    expect(await paymentRow(impUid)).toMatchObject({ status: 'paid', pg_state: 'done' });
    expect({ code: ended.code, signal: ended.signal }, ended.stderr).toEqual({ code: 143, signal: null });
    expect(ended.stderr).toContain('pier: stopped by SIGTERM: the rows under way were recorded; the rest were not started (run again)');
    expect(ended.stdout).toMatch(new RegExp(`${impUid}\\s+paid`));
    // the refunds' pass was not started: its row untouched, for the next pass
    expect(await refundRow()).toEqual({ state: 'in_doubt', check_count: 0 });
  }, 120_000);
});
