/**
 * SIGTERM as a load balancer and a service manager expect it (a real child process): Pier stops
 * taking new connections at once, answers the requests already in flight, closes its idle
 * keep-alive connections, and only then has its background work stopped (that work gets
 * `shutdownGraceMs`). Before, the HTTP server kept accepting for as long as the jobs took to stop:
 * up to the whole grace, requests taken on by a process about to exit. And a connection whose
 * request was in flight stayed open after its answer for Fastify's keep-alive timeout (72 s), which
 * the close waited for: past the backstop (grace + 5 s), "shutdown took too long", exit 1.
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { Agent, createServer, request, type IncomingMessage, type Server } from 'node:http';
import type { Socket } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { FastifyInstance } from 'fastify';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { DEMO_IMP_KEY, DEMO_IMP_SECRET } from '../../src/core/merchants/merchants.js';
import { createTpaySimulator } from '../../src/simulators/jtnet/index.js';
import { childPier } from '../child-pier.js';
import { freshDatabase, testCardNumber } from '../harness.js';

let simulator: FastifyInstance;
let simulatorUrl: string;
let db: Awaited<ReturnType<typeof freshDatabase>>;
let dataDir: string;
/** a webhook receiver that holds every request until `answerWebhooks` */
let receiver: Server;
let receiverUrl: string;
const heldWebhooks: Array<() => void> = [];
let webhookArrived: () => void;
const firstWebhook = new Promise<void>((r) => (webhookArrived = r));
const answerWebhooks = () => heldWebhooks.splice(0).forEach((answer) => answer());

const pier = childPier(() => ({
  databaseUrl: db.url,
  dataDir,
  simulatorUrl,
  // the webhook attempt in flight holds the jobs' stop for as long as the test wants; the
  // backstop (grace + 5 s) comes before Fastify's keep-alive timeout (72 s) would end a connection
  env: { PIER_SHUTDOWN_GRACE_MS: '60000', PIER_WEBHOOK_ATTEMPT_DEADLINE_MS: '120000' },
}));

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

/** Whether a new TCP connection to Pier is refused (nothing listens any more). */
const refusesConnections = () =>
  fetch(`${pier.url()}/health`).then(
    () => false,
    (err: { cause?: { code?: string } }) => err.cause?.code === 'ECONNREFUSED',
  );

beforeAll(async () => {
  simulator = createTpaySimulator({ dbFile: ':memory:', slowResponseMs: 600_000 });
  simulatorUrl = await simulator.listen({ host: '127.0.0.1', port: 0 });
  receiver = createServer((req, res) => {
    req.resume();
    heldWebhooks.push(() => res.end('ok'));
    webhookArrived();
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', r));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as { port: number }).port}/hook`;
  db = await freshDatabase();
  dataDir = mkdtempSync(join(tmpdir(), 'pier-shutdown-'));
});
afterAll(async () => {
  answerWebhooks();
  await pier.kill('SIGKILL');
  receiver?.closeAllConnections();
  await new Promise<void>((r) => (receiver ? receiver.close(() => r()) : r()));
  await simulator?.close();
  await db?.drop();
  rmSync(dataDir, { recursive: true, force: true });
});

describe('SIGTERM', () => {
  it('stops accepting connections at once, answers the request in flight, closes idle keep-alive connections, then stops background work and exits 0', async () => {
    await pier.start();
    const token = (await api('/users/getToken', null, { imp_key: DEMO_IMP_KEY, imp_secret: DEMO_IMP_SECRET })).body.response.access_token as string;
    const card = testCardNumber({ kftcCode: '366', lastFour: '4321' });

    // background work in flight: a `paid` webhook its receiver does not answer yet
    const paid = await api('/subscribe/payments/onetime', token, { merchant_uid: 'sigterm_hook', amount: 1_000, card_number: card, expiry: '2030-01', birth: '123456', notice_url: receiverUrl });
    expect(paid.body.response.status).toBe('paid');
    await firstWebhook;

    // a request in flight: a charge whose answer the PG holds
    await sim('/__control/faults', { mode: 'hold', op: 'payments' });
    const inFlight = api('/subscribe/payments/onetime', token, { merchant_uid: 'sigterm_in_flight', amount: 2_000, card_number: card, expiry: '2030-01', birth: '123456' });
    await until('the PG holds the charge', async () => (await sim('/__control/holds')).held === 1);

    // an idle keep-alive connection
    const agent = new Agent({ keepAlive: true, maxSockets: 1 });
    const idle = await new Promise<Socket>((resolve, reject) => {
      const req = request(`${pier.url()}/health`, { agent }, (res: IncomingMessage) => {
        expect(res.statusCode).toBe(200);
        res.resume();
        res.on('end', () => resolve(req.socket as Socket));
      });
      req.on('error', reject);
      req.end();
    });
    // the agent keeps it once the answer is read
    await new Promise((r) => setImmediate(r));
    expect(idle.destroyed).toBe(false);
    const idleClosed = new Promise<void>((r) => idle.once('close', () => r()));

    const exited = pier.kill('SIGTERM');
    let exitedYet = false;
    void exited.then(() => (exitedYet = true));

    // new connections are refused while the webhook attempt still holds the background work
    await until('Pier refuses new connections', refusesConnections);
    await idleClosed;
    expect(heldWebhooks).toHaveLength(1);
    expect(exitedYet).toBe(false);

    // the request taken before the signal is answered in full
    await sim('/__control/holds/release', {});
    const answered = await inFlight;
    expect(answered.status).toBe(200);
    expect(answered.body).toMatchObject({ code: 0, response: { merchant_uid: 'sigterm_in_flight', status: 'paid', amount: 2_000 } });
    expect(exitedYet).toBe(false);

    // the background work finishes within its grace, and Pier exits cleanly
    answerWebhooks();
    expect(await exited).toEqual({ code: 0, signal: null });
    agent.destroy();
  }, 300_000);
});
