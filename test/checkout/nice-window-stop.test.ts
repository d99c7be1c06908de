/**
 * NICE's window result posted while Pier stops (decision 0130): Pier approves the authentication
 * itself, then confirms the approval by an inquiry. A stopping Pier (its `stopping` signal aborted,
 * as main.ts does at SIGTERM) sends no PG call after the one under way: an approve answered during
 * the stop is not asked about (the buyer gets "being confirmed" with the imp_uid, the attempt stays
 * in doubt, reconciliation records it paid), and a post not yet approved when the stop began is
 * not approved at all (the buyer gets "not paid, try again", and the same result posted again to a
 * Pier that runs is approved once). The signal's own path (a child process, the stop's deadline,
 * the exit code) is test/operations/shutdown-window-result.test.ts.
 */
import { afterAll, beforeAll, beforeEach, describe, expect, it, vi } from 'vitest';
import { reconcileGraceSeconds, reconcileInDoubt } from '../../src/core/payments/reconcile.js';
import { testCardNumber } from '../../src/simulators/nicepay/index.js';
import { postForm, rspOf } from '../buyer-forms.js';
import { authenticateAtNice, startNicePier, type NicePier } from './nice-harness.js';
import { uid } from './window-rig.js';

let n: NicePier;
let stop: AbortController;
beforeAll(async () => {
  n = await startNicePier({ readTimeoutMs: 10_000, slowResponseMs: 60_000 });
});
afterAll(async () => n?.close());
beforeEach(async () => {
  // a Pier that runs: the signal aborted by the test, as main.ts aborts it at SIGTERM
  stop = new AbortController();
  n.pier.deps.stopping = stop.signal;
  await fetch(`${n.simUrl}/__control/calls`, { method: 'DELETE' });
});

const calls = async () => ((await (await fetch(`${n.simUrl}/__control/calls?clientId=${n.clientId}`)).json()) as { calls: Record<string, number> }).calls;
const niceLedger = async (impUid: string) => ((await (await fetch(`${n.simUrl}/__ledger?orderId=${encodeURIComponent(impUid)}`)).json()) as { payments: any[] }).payments.map((p) => [p.status, p.amount]);
const row = (impUid: string) => n.pier.deps.store.db.selectFrom('payments').select(['status', 'pg_state', 'merchant_uid_lock']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow();
const events = async (impUid: string) => (await n.pier.deps.store.db.selectFrom('webhook_events').select('status').where('imp_uid', '=', impUid).execute()).map((e) => e.status);

function authenticate(merchantUid: string, amount: number, lastFour: string) {
  return authenticateAtNice(n, { pay_method: 'card', merchant_uid: merchantUid, name: '나이스 상품', amount, buyer_name: '홍길동' }, { cardNo: testCardNumber({ kftcCode: '366', lastFour }), cardExpiry: '12/30', cardQuota: '0' });
}

describe("NICE's window result posted while Pier stops", () => {
  it('an approve answered once the stop has begun is not asked about: "being confirmed" with the imp_uid, the attempt in doubt; reconciliation records it paid once', async () => {
    const merchantUid = uid('stop_n');
    const { result } = await authenticate(merchantUid, 41_000, '6161');
    const impUid = result.fields.orderId!;
    // NICE approves (charges) and its answer is held
    expect((await n.simPost('/__control/faults', { op: 'approve', kind: 'timeout', when: 'after' })).status).toBe(200);
    const pending = postForm(result.action, result.fields);
    await vi.waitUntil(async () => ((await (await fetch(`${n.simUrl}/__control/faults`)).json()) as { held: number }).held === 1, { timeout: 10_000, interval: 10 });
    stop.abort(); // SIGTERM
    await n.simPost('/__control/holds/release', {});
    const answer = await pending;

    expect(answer.status).toBe(200);
    const rsp = rspOf(answer.html);
    expect({ success: rsp.success, imp_uid: rsp.imp_uid, merchant_uid: rsp.merchant_uid, error_code: rsp.error_code }).toEqual({ success: false, imp_uid: impUid, merchant_uid: merchantUid, error_code: 'F1007' });
    expect(rsp.error_msg).toContain('결제 결과를 확인하는 중입니다');
    // one PG call: the approve; no inquiry after it
    expect(await calls()).toEqual({ approve: 1 });
    expect(await niceLedger(impUid)).toEqual([['paid', 41_000]]);
    expect(await row(impUid)).toEqual({ status: 'ready', pg_state: 'in_doubt', merchant_uid_lock: merchantUid });
    expect(await events(impUid)).toEqual([]);

    // the next process's reconciliation
    n.pier.deps.stopping = new AbortController().signal;
    const grace = reconcileGraceSeconds(n.pier.deps.connectors);
    n.pier.clock.advance((grace + 1) * 1000);
    expect((await reconcileInDoubt(n.pier.deps, { graceSeconds: grace }))[impUid]).toBe('paid');
    expect(await row(impUid)).toEqual({ status: 'paid', pg_state: 'done', merchant_uid_lock: merchantUid });
    expect(await events(impUid)).toEqual(['paid']);
    expect(await niceLedger(impUid)).toEqual([['paid', 41_000]]);
  });

  it('a result posted once the stop has begun is not approved: "not paid, try again", nothing charged; posted again to a Pier that runs, it is approved once', async () => {
    const merchantUid = uid('stop_n0');
    const { result } = await authenticate(merchantUid, 42_000, '6262');
    const impUid = result.fields.orderId!;
    stop.abort(); // the post was in flight (before its approve) when the stop began
    const answer = await postForm(result.action, result.fields);

    expect(answer.status).toBe(200);
    const rsp = rspOf(answer.html);
    expect({ success: rsp.success, imp_uid: rsp.imp_uid, error_code: rsp.error_code }).toEqual({ success: false, imp_uid: impUid, error_code: 'F1007' });
    expect(rsp.error_msg).toContain('결제되지 않았으니 다시 시도해 주세요');
    expect(await calls()).toEqual({});
    expect(await niceLedger(impUid)).toEqual([]);
    expect(await row(impUid)).toEqual({ status: 'ready', pg_state: 'window', merchant_uid_lock: null });

    n.pier.deps.stopping = new AbortController().signal;
    const again = await postForm(result.action, result.fields);
    expect(rspOf(again.html)).toMatchObject({ success: true, imp_uid: impUid, status: 'paid', paid_amount: 42_000 });
    expect(await niceLedger(impUid)).toEqual([['paid', 42_000]]);
    expect(await events(impUid)).toEqual(['paid']);
  });
});
