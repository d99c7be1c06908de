/**
 * SIGTERM while the buyer's browser posts the payment window's result (a real child process),
 * decision 0130. The post makes PG calls one after another: here tPay approved in its window, Pier
 * asks tPay (trans_search), finds the approval outside the merchant's card rules, refunds it and,
 * when the refund does not go through, asks tPay again. Before, a post in flight at the signal made
 * every one of them, and a slow PG took it past the stop's backstop: the buyer's browser got a
 * socket error (no result page: the SDK callback never fired) and Pier exited 1. Now a stopping
 * Pier starts no PG call after the one under way: the buyer gets the checkout's "being confirmed"
 * page with the imp_uid, the attempt stays in doubt, Pier exits 0, and reconciliation refunds it.
 *
 * Here: no jobs' grace, tPay's timeouts 1 s + 8 s (the deadline 9 s, the backstop 14 s after the
 * signal; NICE's operation shorter); a held PG answer comes only at Pier's read timeout, so two
 * calls after the signal take 16 s.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { openStore } from '../../src/store/db.js';
import { formOf, rspOf } from '../buyer-forms.js';
import { childPier } from '../child-pier.js';
import { freshDatabase, testCardNumber } from '../harness.js';
import { cardFields, postHttp } from '../checkout/window-rig.js';

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;

const pier = childPier(() => ({
  databaseUrl: db.url,
  dataDir,
  simulatorUrl,
  env: {
    PIER_SHUTDOWN_GRACE_MS: '0',
    PIER_JTNET_CONNECT_TIMEOUT_MS: '1000',
    PIER_JTNET_READ_TIMEOUT_MS: '8000',
    PIER_NICE_CONNECT_TIMEOUT_MS: '1000',
    PIER_NICE_READ_TIMEOUT_MS: '1000',
  },
}));

async function sim(path: string, body?: unknown) {
  const res = await fetch(`${simulatorUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as any;
}

const refusesConnections = () =>
  fetch(`${pier.url()}/health`).then(
    () => false,
    (err: { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
  );

async function withStore<T>(f: (store: ReturnType<typeof openStore>) => Promise<T>): Promise<T> {
  const store = openStore(db.url);
  try {
    return await f(store);
  } finally {
    await store.close();
  }
}

const paymentOf = (impUid: string) =>
  withStore((s) => s.db.selectFrom('payments').select(['status', 'pg_state', 'fail_reason']).where('imp_uid', '=', impUid).executeTakeFirstOrThrow());

const ledgerOf = async (impUid: string) =>
  ((await sim('/__ledger')) as { approvals: any[] }).approvals.filter((t) => t.moid === impUid).map((t) => ({ status: t.status, amount: t.amount, cancelledAmount: t.cancelledAmount }));

/**
 * request_pay on the demo merchant's tPay window, the buyer pays in tPay's window with a card the
 * checkout does not allow (card rules: only 366): the result form tPay's page posts to Pier.
 */
async function paidOutsideTheCardRules(merchantUid: string, amount: number) {
  const merchantCode = await withStore(async (s) => (await s.db.selectFrom('merchants').select('merchant_code').executeTakeFirstOrThrow()).merchant_code);
  const created = await fetch(`${pier.url()}/checkout/sessions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({
      imp_code: merchantCode,
      params: { pg: 'jtnet', pay_method: 'card', merchant_uid: merchantUid, name: '상품', amount, buyer_name: '홍길동', card: { detail: [{ card_code: '*', enabled: false }, { card_code: '366', enabled: true }] } },
      mode: 'overlay',
      origin: 'https://shop.example',
    }),
  });
  const session = (await created.json()) as { session_id?: string };
  expect(session.session_id, JSON.stringify(session)).toBeTruthy();
  const toPg = await postHttp(`${pier.url()}/checkout/${session.session_id}/start`, { agree: '1', card_code: '366' });
  expect(toPg.status, toPg.html.slice(0, 500)).toBe(200);
  const pgForm = formOf(toPg.html, 'pg-form');
  const window = await postHttp(pgForm.action, pgForm.fields);
  const payForm = formOf(window.html, 'payForm');
  const paid = await postHttp(new URL(payForm.action, pgForm.action).toString(), { txToken: payForm.fields.txToken!, action: 'pay', ...cardFields(testCardNumber({ kftcCode: '381', lastFour: '4343' })) });
  const result = formOf(paid.html, 'tpayResult');
  expect(result.action).toBe(`${pier.url()}/checkout/${session.session_id}/return`);
  const impUid = await withStore(async (s) => (await s.db.selectFrom('checkout_sessions').select('imp_uid').where('id', '=', session.session_id!).executeTakeFirstOrThrow()).imp_uid!);
  return { impUid, result };
}

beforeAll(async () => {
  // a held answer never comes by itself: only at Pier's read timeout (Pier leaves) or a release
  simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: 600_000 });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-stop-window-'));
});
afterAll(async () => {
  await pier.kill('SIGKILL');
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe("SIGTERM while the window's result post waits for the PG", () => {
  it('answers the buyer the "being confirmed" result page with the imp_uid, sends no refund nor inquiry after the one under way, exits 0; reconciliation refunds it', async () => {
    await pier.start();
    const { impUid, result } = await paidOutsideTheCardRules('sigterm_window_result', 7_000);
    expect(await ledgerOf(impUid)).toEqual([{ status: 'paid', amount: 7_000, cancelledAmount: 0 }]);
    // Pier's inquiry about the post is held; so would be the refund and the inquiry after it
    await sim('/__control/faults', { mode: 'hold', op: 'trans_search' });
    await sim('/__control/faults', { mode: 'hold', op: 'refunds' });
    await sim('/__control/faults', { mode: 'hold', op: 'trans_search' });
    const posted = postHttp(result.action, result.fields).catch((err: Error & { cause?: { code?: string } }) => ({ status: 0, html: `transport error: ${err.cause?.code ?? err.message}` }));
    await vi.waitUntil(async () => (await sim('/__control/holds')).held === 1, { timeout: 20_000, interval: 50 });

    const exited = pier.kill('SIGTERM');
    await vi.waitUntil(refusesConnections, { timeout: 20_000, interval: 50 }); // the stop has begun
    await sim('/__control/holds/release', {}); // tPay answers the inquiry: paid, with a card the checkout does not allow
    const answer = await posted;
    // what the buyer's browser got, and how Pier ended
    const how = { status: answer.status, exited: await exited };
    expect(how, `${JSON.stringify(how)} ${answer.html.slice(0, 200)} ${pier.stderr().slice(-200)}`).toEqual({ status: 200, exited: { code: 0, signal: null } });
    expect(rspOf(answer.html)).toMatchObject({ success: false, imp_uid: impUid, merchant_uid: 'sigterm_window_result', error_code: 'F1007' });
    expect(rspOf(answer.html).error_msg).toContain('결제 결과를 확인하는 중입니다');
    // neither the refund nor the inquiry after it was sent: their faults still wait
    expect((await sim('/__control/faults')).pending).toEqual([
      { mode: 'hold', op: 'refunds' },
      { mode: 'hold', op: 'trans_search' },
    ]);
    await fetch(`${simulatorUrl}/__control/faults`, { method: 'DELETE' });
    // the approval stands at the PG, the attempt in doubt: never recorded paid
    expect(await ledgerOf(impUid)).toEqual([{ status: 'paid', amount: 7_000, cancelledAmount: 0 }]);
    expect(await paymentOf(impUid)).toEqual({ status: 'ready', pg_state: 'in_doubt', fail_reason: null });

    // reconciliation asks tPay and refunds the approval outside the card rules
    const run = await pier.reconcile();
    expect(run.code, run.stderr).toBe(0);
    expect(await paymentOf(impUid)).toEqual({ status: 'failed', pg_state: 'done', fail_reason: expect.stringMatching(/^\[F1008\]/) });
    expect(await ledgerOf(impUid)).toEqual([{ status: 'cancelled', amount: 7_000, cancelledAmount: 7_000 }]);
  }, 120_000);
});
