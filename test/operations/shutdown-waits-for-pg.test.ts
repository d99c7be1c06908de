/**
 * SIGTERM while a charge waits for its PG (a real child process), decision 0106: the request in
 * flight is answered with its outcome, however long the PG takes within its own timeouts. Before,
 * Pier's stop had a backstop of `shutdownGraceMs` + 5 s (15 s at the defaults) whatever the PG's
 * timeouts (NICE: two calls of 5 s + 30 s for a key-in): a charge whose PG answered later was cut
 * off, the merchant's server got a socket error, the payment was left for reconciliation.
 *
 * Here the grace is 0 (the backstop 5 s after the signal, as the defaults' 15 s) and the PG answers
 * 10 s after it took the charge (the simulator's slow answer; the read timeout is 60 s).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { childPier } from '../child-pier.js';
import { freshDatabase, testCardNumber } from '../harness.js';

/** the PG's answer comes this long after it took the charge: past the old backstop (grace 0 + 5 s) */
const PG_ANSWERS_AFTER_MS = 10_000;

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;

const pier = childPier(() => ({ databaseUrl: db.url, dataDir, simulatorUrl, env: { PIER_SHUTDOWN_GRACE_MS: '0' } }));

async function api(path: string, token: string | null, body: unknown) {
  const res = await fetch(`${pier.url()}${path}`, { method: 'POST', headers: { 'content-type': 'application/json', ...(token ? { authorization: token } : {}) }, body: JSON.stringify(body) });
  return { status: res.status, body: (await res.json()) as any };
}

async function sim(path: string, body?: unknown) {
  const res = await fetch(`${simulatorUrl}${path}`, body === undefined ? {} : { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
  return (await res.json()) as any;
}

/** Polls another process's progress (no timer of this test can know when it gets there). */
async function until(what: string, ok: () => Promise<boolean>, tries = 200): Promise<void> {
  for (let i = 0; !(await ok()); i++) {
    if (i >= tries) throw new Error(`never: ${what}`);
    await new Promise((r) => setTimeout(r, 50));
  }
}

beforeAll(async () => {
  // a held answer goes by itself after PG_ANSWERS_AFTER_MS: a PG slow within Pier's read timeout
  simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: PG_ANSWERS_AFTER_MS });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-shutdown-pg-'));
});
afterAll(async () => {
  await pier.kill('SIGKILL');
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('SIGTERM while a charge waits for its PG', () => {
  it('answers the charge with its outcome once the PG answers, past shutdownGraceMs + 5 s, then exits 0', async () => {
    await pier.start();
    const token = (await api('/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;
    const card = testCardNumber({ kftcCode: '366', lastFour: '4321' });

    await sim('/__control/faults', { mode: 'hold', op: 'payments' });
    const inFlight = api('/subscribe/payments/onetime', token, { merchant_uid: 'sigterm_slow_pg', amount: 3_000, card_number: card, expiry: '2030-01', birth: '123456' }).catch(
      (err: Error & { cause?: { code?: string } }) => ({ status: 0, body: { transportError: err.cause?.code ?? err.message } }),
    );
    await until('the PG holds the charge', async () => (await sim('/__control/holds')).held === 1);
    const heldAt = Date.now();

    const exited = pier.kill('SIGTERM');
    const answered = await inFlight;
    expect(answered).toMatchObject({ status: 200, body: { code: 0, response: { merchant_uid: 'sigterm_slow_pg', status: 'paid', amount: 3_000 } } });
    // the answer is the PG's own, after its delay: the shutdown waited for it
    expect(Date.now() - heldAt).toBeGreaterThanOrEqual(PG_ANSWERS_AFTER_MS - 1_000);
    expect(await exited).toEqual({ code: 0, signal: null });
  }, 120_000);
});
