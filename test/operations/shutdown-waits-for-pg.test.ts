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
import { connect } from 'node:net';
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

/** Whether a new TCP connection to Pier is refused (nothing listens any more). */
const refusesConnections = () =>
  fetch(`${pier.url()}/health`).then(
    () => false,
    (err: { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
  );

/** An HTTP/1.1 request as written on the wire, with a JSON body. */
function rawPost(path: string, token: string, body: unknown): string {
  const json = JSON.stringify(body);
  return `POST ${path} HTTP/1.1\r\nHost: 127.0.0.1\r\nAuthorization: ${token}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(json)}\r\n\r\n${json}`;
}

/** The responses one connection received, in order (each with a Content-Length). */
function responsesIn(wire: Buffer): Array<{ status: number; headers: string; body: string }> {
  const out: Array<{ status: number; headers: string; body: string }> = [];
  let rest = wire;
  while (rest.length > 0) {
    const end = rest.indexOf('\r\n\r\n');
    if (end < 0) break;
    const headers = rest.subarray(0, end).toString();
    const length = Number(/content-length: (\d+)/i.exec(headers)?.[1] ?? 0);
    out.push({ status: Number(headers.slice(9, 12)), headers, body: rest.subarray(end + 4, end + 4 + length).toString() });
    rest = rest.subarray(end + 4 + length);
  }
  return out;
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

describe('SIGTERM with a request sent after it on a connection busy at the signal', () => {
  it("answers it 503 in V1's envelope, not Fastify's own body, and does not process it", async () => {
    await pier.start();
    const token = (await api('/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;
    const card = testCardNumber({ kftcCode: '366', lastFour: '4321' });
    const charge = (merchantUid: string) => ({ merchant_uid: merchantUid, amount: 4_000, card_number: card, expiry: '2030-01', birth: '123456' });

    await sim('/__control/faults', { mode: 'hold', op: 'payments' });
    const socket = connect(Number(new URL(pier.url()).port), '127.0.0.1');
    const wire: Buffer[] = [];
    socket.on('data', (chunk: Buffer) => wire.push(chunk));
    const closed = new Promise<void>((r) => socket.once('close', () => r()));
    socket.write(rawPost('/subscribe/payments/onetime', token, charge('sigterm_busy_connection')));
    await until('the PG holds the charge', async () => (await sim('/__control/holds')).held === 1);

    const exited = pier.kill('SIGTERM');
    await until('Pier refuses new connections', refusesConnections);
    // the next request on the same connection, while the first is still in flight
    socket.write(rawPost('/subscribe/payments/onetime', token, charge('sigterm_after_signal')));
    await sim('/__control/holds/release', {});
    await closed;

    const [first, second, ...more] = responsesIn(Buffer.concat(wire));
    expect(more).toEqual([]);
    expect(first.status).toBe(200);
    expect(JSON.parse(first.body)).toMatchObject({ code: 0, response: { merchant_uid: 'sigterm_busy_connection', status: 'paid' } });
    expect(second.status).toBe(503);
    expect(second.headers).toMatch(/\r\nconnection: close/i);
    expect(JSON.parse(second.body)).toEqual({ code: 1, message: '서버가 종료 중입니다. 다시 요청해 주세요.', response: null });
    // the second charge never reached the PG
    expect((await sim('/__control/holds')).held).toBe(0);
    expect(await exited).toEqual({ code: 0, signal: null });
  }, 120_000);
});
