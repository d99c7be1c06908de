/**
 * Pier's SQLite file on a disk that fills up (a merchant's small VPS: logs, backups), for real: the
 * data folder is a small tmpfs mounted for this file, and a file takes every byte left on it, so
 * SQLite's own writes fail with SQLITE_FULL ("database or disk is full"); then the filler is
 * deleted and Pier goes on without a restart (decision 0129). The tPay simulator answers over real
 * HTTP; its answer is held until the disk is full, as in decision 0119's fault tests.
 *
 * SQLite only: PostgreSQL's files are not Pier's to fill (its own full-disk behaviour is the
 * server's); with TEST_DATABASE_URL set the file is skipped. Mounting needs root, as CI has.
 */
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync, statfsSync, unlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import SQLite from 'better-sqlite3';
import { sql } from 'kysely';
import { afterAll, afterEach, beforeAll, describe, expect, it, vi } from 'vitest';
import { ALREADY_PAID_MESSAGE, IN_PROGRESS_MESSAGE } from '../src/core/payments/charge.js';
import { reconcileGraceSeconds, reconcileInDoubt, reconcileInDoubtCancels } from '../src/core/payments/reconcile.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from './harness.js';
import { simulatorControl } from './sim-control.js';

const card = testCardNumber({ kftcCode: '361', lastFour: '4444' });

let dir: string;
let pier: TestPier;
let m: TestMerchant;
let graceSeconds: number;
const checkpointReports: string[] = [];
const checkpointRecoveries: number[] = [];

const control = (path: string, body?: unknown) => simulatorControl(pier.simulatorUrl, path, body);

async function ledger(): Promise<{ approvals: { moid: string; amount: number; cancelledAmount: number }[] }> {
  return (await fetch(`${pier.simulatorUrl}/__ledger`)).json() as never;
}

const filler = () => join(dir, 'filler');

/**
 * The disk full: the WAL emptied into the database file first (its file cut to nothing, so the
 * next commit must grow it, as on a disk that filled while the WAL was small), then every free
 * byte taken.
 */
async function fillDisk() {
  await vi.waitUntil(async () => (await sql<{ busy: number }>`PRAGMA wal_checkpoint(TRUNCATE)`.execute(pier.store.db)).rows[0].busy === 0, { timeout: 5_000, interval: 10 });
  const free = statfsSync(dir);
  execFileSync('fallocate', ['-l', String(free.bavail * free.bsize), filler()]);
  expect(statfsSync(dir).bavail).toBe(0);
}

const freeDisk = () => unlinkSync(filler());

/** Pier's error lines (level 50) that carry `msg` */
const errorLines = (msg: string) =>
  pier
    .logs()
    .split('\n')
    .filter((l) => l.includes('"level":50') && l.includes(msg))
    .map((l) => JSON.parse(l) as { err: unknown; reqId?: string });

/** The error line the API edge wrote for the request whose answer carried `message` (its request id). */
function edgeErrorOf(message: string): string {
  const reqId = /request id ([0-9a-f-]+)/.exec(message)?.[1];
  expect(reqId, message).toBeTruthy();
  const line = errorLines('request failed').find((l) => l.reqId === reqId);
  return (line?.err as { message?: string } | undefined)?.message ?? '(no line)';
}

describe.skipIf(!!process.env.TEST_DATABASE_URL)('SQLite on a full disk', () => {
  beforeAll(async () => {
    dir = mkdtempSync(join(tmpdir(), 'pier-full-disk-'));
    execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=16m', 'tmpfs', dir]);
    pier = await startTestPier({
      sqliteDir: dir,
      simulatorSlowMs: 60_000,
      readTimeoutMs: 10_000,
      onCheckpointError: (err) => checkpointReports.push(err.message),
      onCheckpointRecovered: (failedPasses) => checkpointRecoveries.push(failedPasses),
    });
    m = await pier.newMerchant();
    graceSeconds = reconcileGraceSeconds(pier.deps.connectors);
    const key = await pier.call('POST', '/subscribe/customers/full_c', { token: m.token, body: { card_number: card, expiry: '2030-12' } });
    expect(key.body.code).toBe(0);
  });
  // a test that failed with the disk full leaves the next its space
  afterEach(() => rmSync(filler(), { force: true }));
  afterAll(async () => {
    await pier?.close();
    if (dir) {
      execFileSync('umount', [dir]);
      rmSync(dir, { recursive: true, force: true });
    }
  });

  it('the WAL checkpointer reports a disk full once, not on every pass, retries less often while it lasts, and says when it works again', async () => {
    const ck = pier.store.checkpointer!;
    // payments written while another connection reads keep their WAL frames from the database
    // file until it ends; by then the disk is full, and copying them needs the file to grow
    const reader = new SQLite(pier.sqliteFile!);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM payments').get();
    for (let i = 0; i < 20; i++) {
      const paid = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'full_c', merchant_uid: `full_ck_${i}`, amount: 1_000, name: 'x'.repeat(200) } });
      expect(paid.body.code, JSON.stringify(paid.body)).toBe(0);
    }
    const free = statfsSync(dir);
    execFileSync('fallocate', ['-l', String(free.bavail * free.bsize), filler()]);
    const before = { errors: ck.stats().errors, reports: checkpointReports.length };
    reader.exec('COMMIT');
    reader.close();

    await vi.waitUntil(() => ck.stats().errors >= before.errors + 4, { timeout: 10_000, interval: 20 });
    expect(checkpointReports.slice(before.reports)).toEqual(['WAL checkpoint failed: database or disk is full']);
    expect(ck.running).toBe(true);
    expect(checkpointRecoveries).toEqual([]);

    freeDisk();
    await vi.waitUntil(() => checkpointRecoveries.length > 0, { timeout: 15_000, interval: 20 });
    const stats = ck.stats();
    expect(checkpointRecoveries).toEqual([stats.errors - before.errors]);
    expect(stats.walFrames).toBeGreaterThan(0);
    expect(stats.checkpointedFrames).toBe(stats.walFrames);
    expect(checkpointReports.slice(before.reports)).toHaveLength(1);
  });

  it('a refund the PG made whose record fails for the disk is answered "being confirmed", the cause logged as it is; once space is freed reconciliation records it once', async () => {
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: m.token, body: { merchant_uid: 'full_r1', amount: 10_000, card_number: card, expiry: '2030-01' } });
    expect(paid.body.response?.status, JSON.stringify(paid.body)).toBe('paid');
    const id: string = paid.body.response.imp_uid;
    const cancel = (amount: number) => pier.call('POST', '/payments/cancel', { token: m.token, body: { imp_uid: id, amount } });

    // before the PG: the refund cannot be reserved; V1's internal error, nothing refunded
    await fillDisk();
    const early = await cancel(1_000);
    expect({ status: early.status, code: early.body.code, response: early.body.response }).toEqual({ status: 500, code: -1, response: null });
    expect(edgeErrorOf(early.body.message)).toBe('database or disk is full');
    freeDisk();
    expect((await ledger()).approvals.find((a) => a.moid === id)?.cancelledAmount).toBe(0);

    // after the PG: the refund was made and cannot be recorded
    await control('faults', { mode: 'hold', op: 'refunds' });
    const pending = cancel(4_000);
    await vi.waitUntil(async () => (await control('holds')).held === 1, { timeout: 10_000, interval: 10 });
    await fillDisk();
    await control('holds/release', {});
    const res = await pending;
    expect({ status: res.status, code: res.body.code, response: res.body.response }).toEqual({ status: 502, code: 1, response: null });
    expect(res.body.message).toContain('취소 결과를 확인 중입니다');
    expect(errorLines('recording the PG\'s answer to a refund failed').map((l) => l.err)).toEqual(['database or disk is full']);
    expect((await ledger()).approvals.find((a) => a.moid === id)?.cancelledAmount).toBe(4_000);
    freeDisk();

    // the connection is not left in a transaction: what follows is committed (another connection sees it)
    const row = () => {
      const other = new SQLite(pier.sqliteFile!, { readonly: true });
      try {
        return other.prepare('SELECT cancel_amount, cancel_pending_amount FROM payments WHERE imp_uid = ?').get(id);
      } finally {
        other.close();
      }
    };
    expect(row()).toEqual({ cancel_amount: 0, cancel_pending_amount: 4_000 });
    pier.clock.advance((graceSeconds + 1) * 1000);
    expect(Object.values(await reconcileInDoubtCancels(pier.deps, { graceSeconds }))).toEqual(['succeeded']);
    expect(await reconcileInDoubtCancels(pier.deps, { graceSeconds })).toEqual({});
    expect(row()).toEqual({ cancel_amount: 4_000, cancel_pending_amount: 0 });
    expect((await ledger()).approvals.find((a) => a.moid === id)?.cancelledAmount).toBe(4_000);
  });

  it('a charge the PG approved whose record fails for the disk is answered "being confirmed"; once space is freed it is reconciled paid once, with one webhook', async () => {
    m.token = (await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } })).body.response.access_token;
    const again = () => pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'full_c', merchant_uid: 'full_p1', amount: 5_100, name: 'disk full' } });

    // before the PG: a token and the attempt cannot be written; V1's internal error, nothing charged
    await fillDisk();
    const token = await pier.call('POST', '/users/getToken', { body: { imp_key: m.impKey, imp_secret: m.impSecret } });
    expect({ status: token.status, code: token.body.code, response: token.body.response }).toEqual({ status: 500, code: -1, response: null });
    expect(edgeErrorOf(token.body.message)).toBe('database or disk is full');
    const early = await again();
    expect({ status: early.status, code: early.body.code, response: early.body.response }).toEqual({ status: 500, code: -1, response: null });
    freeDisk();
    expect((await ledger()).approvals.filter((a) => a.amount === 5_100)).toEqual([]);

    await control('faults', { mode: 'hold', op: 'payments_token' });
    const pending = again();
    await vi.waitUntil(async () => (await control('holds')).held === 1, { timeout: 10_000, interval: 10 });
    await fillDisk();
    await control('holds/release', {});
    const res = await pending;
    const id = (await pier.store.db.selectFrom('payments').select('imp_uid').where('merchant_uid', '=', 'full_p1').executeTakeFirstOrThrow()).imp_uid;
    expect({ status: res.status, code: res.body.code, response: res.body.response }).toEqual({ status: 502, code: 1, response: null });
    expect(res.body.message).toContain(id);
    expect(errorLines('recording the PG\'s answer failed').map((l) => l.err)).toEqual(['database or disk is full']);
    // still full: a retry of the merchant_uid is refused (a read), not charged again
    const retry = await again();
    expect({ status: retry.status, code: retry.body.code, message: retry.body.message }).toEqual({ status: 200, code: 1, message: IN_PROGRESS_MESSAGE });
    freeDisk();

    pier.clock.advance((graceSeconds + 1) * 1000);
    expect(await reconcileInDoubt(pier.deps, { graceSeconds })).toEqual({ [id]: 'paid' });
    expect(await reconcileInDoubt(pier.deps, { graceSeconds })).toEqual({});
    expect(await pier.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', id).execute()).toEqual([{ status: 'paid' }]);
    const after = await again();
    expect({ code: after.body.code, message: after.body.message }).toEqual({ code: 1, message: ALREADY_PAID_MESSAGE });
    expect((await ledger()).approvals.filter((a) => a.amount === 5_100)).toHaveLength(1);
    // and a new charge goes through as before
    const next = await pier.call('POST', '/subscribe/payments/again', { token: m.token, body: { customer_uid: 'full_c', merchant_uid: 'full_p2', amount: 5_200, name: 'after' } });
    expect(next.body.response?.status, JSON.stringify(next.body)).toBe('paid');
  });
});

/**
 * The file system turned read-only under Pier: ext4 mounted `errors=remount-ro` (Debian's and
 * Ubuntu's default for the root file system) after an error of its own, caused here through
 * ext4's `trigger_fs_error`. SQLite's writes then fail with SQLITE_IOERR_WRITE ("disk I/O error"),
 * its checkpoints with SQLITE_READONLY. No recovery without the operator (fsck, a remount): the
 * test checks the answers and that nothing of the charge is lost or doubled.
 */
describe.skipIf(!!process.env.TEST_DATABASE_URL)('SQLite on a file system turned read-only', () => {
  let roDir: string;
  let image: string;
  let ro: TestPier;
  const roReports: string[] = [];

  beforeAll(async () => {
    roDir = mkdtempSync(join(tmpdir(), 'pier-ro-disk-'));
    image = `${roDir}.img`;
    execFileSync('truncate', ['-s', '32M', image]);
    execFileSync('mkfs.ext4', ['-q', '-F', image]);
    execFileSync('mount', ['-o', 'loop,errors=remount-ro', image, roDir]);
    ro = await startTestPier({ sqliteDir: roDir, simulatorSlowMs: 60_000, readTimeoutMs: 10_000, onCheckpointError: (err) => roReports.push(err.message) });
  });
  afterAll(async () => {
    try {
      // its data folder cannot be removed on the read-only file system; the unmount below takes it
      await ro?.close().catch((err: NodeJS.ErrnoException) => {
        if (err.code !== 'EROFS') throw err;
      });
    } finally {
      if (roDir) {
        execFileSync('umount', [roDir]);
        rmSync(roDir, { recursive: true, force: true });
        rmSync(image, { force: true });
      }
    }
  });

  it('a charge the PG approved whose record fails with an I/O error is answered "being confirmed"; the attempt keeps its merchant_uid; a checkpoint that cannot write is reported once', async () => {
    const merchant = await ro.newMerchant();
    const key = await ro.call('POST', '/subscribe/customers/ro_c', { token: merchant.token, body: { card_number: card, expiry: '2030-12' } });
    expect(key.body.code).toBe(0);
    const again = () => ro.call('POST', '/subscribe/payments/again', { token: merchant.token, body: { customer_uid: 'ro_c', merchant_uid: 'ro_p1', amount: 7_300, name: 'read-only' } });
    const roControl = async (path: string, body?: unknown) => (await fetch(`${ro.simulatorUrl}/__control/${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) })).json();

    // frames for the checkpointer to copy when the file system turns: payments while another connection reads
    const reader = new SQLite(ro.sqliteFile!);
    reader.exec('BEGIN');
    reader.prepare('SELECT count(*) FROM payments').get();
    await roControl('faults', { mode: 'hold', op: 'payments_token' });
    const pending = again();
    await vi.waitUntil(async () => (await roControl('holds')).held === 1, { timeout: 10_000, interval: 10 });
    const device = execFileSync('findmnt', ['-no', 'SOURCE', roDir]).toString().trim().split('/').pop()!;
    execFileSync('sh', ['-c', `echo 1 > /sys/fs/ext4/${device}/trigger_fs_error`]);
    expect(execFileSync('findmnt', ['-no', 'OPTIONS', roDir]).toString()).toMatch(/emergency_ro|(^|,)ro(,|$)/);
    await roControl('holds/release', {});
    const res = await pending;
    reader.exec('COMMIT');
    reader.close();

    const id = (await ro.store.db.selectFrom('payments').select(['imp_uid', 'status', 'merchant_uid_lock']).where('merchant_uid', '=', 'ro_p1').executeTakeFirstOrThrow());
    expect({ status: res.status, code: res.body.code, response: res.body.response }).toEqual({ status: 502, code: 1, response: null });
    expect(res.body.message).toContain(id.imp_uid);
    expect(id).toMatchObject({ status: 'ready', merchant_uid_lock: 'ro_p1' });
    const errs = ro
      .logs()
      .split('\n')
      .filter((l) => l.includes('"level":50') && l.includes('recording the PG\'s answer failed'))
      .map((l) => JSON.parse(l).err);
    expect(errs).toEqual(['disk I/O error']);
    const ledgerNow = (await (await fetch(`${ro.simulatorUrl}/__ledger`)).json()) as { approvals: { moid: string; amount: number }[] };
    expect(ledgerNow.approvals.filter((a) => a.moid === id.imp_uid).map((a) => a.amount)).toEqual([7_300]);

    // reads still answer: a retry is refused, not charged again; a token cannot be written (V1's internal error)
    const retry = await again();
    expect({ status: retry.status, code: retry.body.code, message: retry.body.message }).toEqual({ status: 200, code: 1, message: IN_PROGRESS_MESSAGE });
    const token = await ro.call('POST', '/users/getToken', { body: { imp_key: merchant.impKey, imp_secret: merchant.impSecret } });
    expect({ status: token.status, code: token.body.code, response: token.body.response }).toEqual({ status: 500, code: -1, response: null });

    // the checkpointer keeps trying, told once
    const ck = ro.store.checkpointer!;
    const errorsBefore = ck.stats().errors;
    await vi.waitUntil(() => ck.stats().errors >= errorsBefore + 3, { timeout: 10_000, interval: 20 });
    // (SQLite says "disk I/O error" or "attempt to write a readonly database", by where the pass meets it)
    expect(roReports).toHaveLength(1);
    expect(roReports[0]).toMatch(/^WAL checkpoint failed: (disk I\/O error|attempt to write a readonly database)$/);
    expect(ck.running).toBe(true);
  });
});
