/**
 * SIGTERM while a request makes more than one PG call one after another (a real child process),
 * decision 0113. The stop's deadline covers one PG operation (decision 0106); before, a request in
 * flight at the signal still made its next call (the inquiry after a charge that timed out, the
 * charge after a billing key's issue), and the backstop cut it off: the merchant's server got a
 * socket error while the PG had charged the card. Now a stopping Pier starts no further PG call of
 * a request and answers as V1 does.
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
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { openStore } from '../../src/store/db.js';
import { childPier } from '../child-pier.js';
import { freshDatabase, testCardNumber } from '../harness.js';

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;

const pier = childPier(() => ({
  databaseUrl: db.url,
  dataDir,
  simulatorUrl,
  // NICE (configured in sandbox, unused here) kept below tPay, so that tPay's one call is the deadline
  env: {
    PIER_SHUTDOWN_GRACE_MS: '0',
    PIER_JTNET_CONNECT_TIMEOUT_MS: '1000',
    PIER_JTNET_READ_TIMEOUT_MS: '8000',
    PIER_NICE_CONNECT_TIMEOUT_MS: '1000',
    PIER_NICE_READ_TIMEOUT_MS: '2000',
  },
}));

async function api(path: string, token: string | null, body: unknown) {
  const res = await fetch(`${pier.url()}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

/** `api`, its transport error (the process exited mid-request) an answer too */
const answerOf = (p: Promise<{ status: number; body: any }>) =>
  p.catch((err: Error & { cause?: { code?: string } }) => ({ status: 0, body: { transportError: err.cause?.code ?? err.message } as any }));

async function sim(path: string, body?: unknown) {
  const res = await fetch(`${simulatorUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as any;
}

const refusesConnections = () =>
  fetch(`${pier.url()}/health`).then(
    () => false,
    (err: { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
  );

async function paymentOf(merchantUid: string) {
  const store = openStore(db.url);
  try {
    return await store.db.selectFrom('payments').select(['imp_uid', 'status', 'pg_state']).where('merchant_uid', '=', merchantUid).execute();
  } finally {
    await store.close();
  }
}

const card = testCardNumber({ kftcCode: '366', lastFour: '4321' });

beforeAll(async () => {
  // a held answer never comes by itself: only at Pier's read timeout (Pier leaves) or a release
  simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: 600_000 });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-stop-chained-'));
});
afterAll(async () => {
  await pier.kill('SIGKILL');
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('SIGTERM while a charge waits for a PG that will not answer in time', () => {
  it("answers V1's \"being confirmed\" when the call times out, asks nothing more, exits 0; reconciliation has the attempt", async () => {
    await sim('/__control/faults', { mode: 'hold', op: 'payments' });
    await sim('/__control/faults', { mode: 'hold', op: 'trans_search' });
    await pier.start();
    const token = (await api('/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;
    const inFlight = answerOf(api('/subscribe/payments/onetime', token, { merchant_uid: 'sigterm_charge_times_out', amount: 3_000, card_number: card, expiry: '2030-01', birth: '123456' }));
    await vi.waitUntil(async () => (await sim('/__control/holds')).held === 1, { timeout: 20_000, interval: 50 }); // the PG holds the charge

    const exited = pier.kill('SIGTERM');
    const answered = await inFlight;
    expect(answered.status).toBe(502);
    expect(answered.body).toMatchObject({ code: 1, response: null });
    expect(answered.body.message).toMatch(/^PG사 응답을 받지 못해 결제 결과를 확인 중입니다\. .*\(imp_uid: imp_\d{12}\)$/);
    expect(await exited).toEqual({ code: 0, signal: null });
    // the inquiry was never sent: its fault still waits
    expect((await sim('/__control/faults')).pending).toEqual([{ mode: 'hold', op: 'trans_search' }]);
    await fetch(`${simulatorUrl}/__control/faults`, { method: 'DELETE' });
    const impUid = /imp_uid: (imp_\d{12})/.exec(answered.body.message)![1]!;
    expect(await paymentOf('sigterm_charge_times_out')).toEqual([{ imp_uid: impUid, status: 'ready', pg_state: 'in_doubt' }]);
  }, 120_000);
});

describe('SIGTERM while onetime with customer_uid waits for its billing key', () => {
  it('charges nothing once the key is issued: 503 in V1\'s envelope, the key deleted at the PG, nothing stored, exits 0', async () => {
    await sim('/__control/faults', { mode: 'hold', op: 'gen_billkey' });
    // were the charge sent, it would wait for its read timeout, and its inquiry after it
    await sim('/__control/faults', { mode: 'hold', op: 'payments_token' });
    await sim('/__control/faults', { mode: 'hold', op: 'trans_search' });
    await pier.start();
    const token = (await api('/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;
    const inFlight = answerOf(
      api('/subscribe/payments/onetime', token, { merchant_uid: 'sigterm_key_then_charge', customer_uid: 'sigterm_customer', amount: 3_000, card_number: card, expiry: '2030-01', birth: '123456' }),
    );
    await vi.waitUntil(async () => (await sim('/__control/holds')).held === 1, { timeout: 20_000, interval: 50 }); // the PG holds the key issue

    const exited = pier.kill('SIGTERM');
    await vi.waitUntil(refusesConnections, { timeout: 20_000, interval: 50 }); // Pier refuses new connections
    await sim('/__control/holds/release', {});
    const answered = await inFlight;
    expect(answered).toEqual({ status: 503, body: { code: 1, message: '서버가 종료 중입니다. 다시 요청해 주세요.', response: null } });
    expect(await exited).toEqual({ code: 0, signal: null });
    // no charge was sent; the key issued for it was deleted at the PG and stored nowhere
    expect((await sim('/__control/faults')).pending).toEqual([
      { mode: 'hold', op: 'payments_token' },
      { mode: 'hold', op: 'trans_search' },
    ]);
    await fetch(`${simulatorUrl}/__control/faults`, { method: 'DELETE' });
    expect(await paymentOf('sigterm_key_then_charge')).toEqual([]);
    const store = openStore(db.url);
    try {
      expect(await store.db.selectFrom('billing_keys').select('customer_uid').where('customer_uid', '=', 'sigterm_customer').execute()).toEqual([]);
    } finally {
      await store.close();
    }
  }, 120_000);
});
