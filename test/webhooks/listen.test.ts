/**
 * `pier listen --forward-to …`: a listen session gets a delivery for every new event of the
 * merchant (in the event's transaction), the CLI forwards it to a local URL signed with the
 * merchant's secret, and reports the attempt back. Through the database, through a running
 * Pier's API, and as the real command. No tunnel: Pier itself never connects to the local URL.
 */
import { spawn } from 'node:child_process';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import { LISTENER_TTL_SECONDS } from '../../src/core/payments/events.js';
import { DbListenSource, forwardOnce, HttpListenSource, MAX_LIVE_LISTENERS } from '../../src/webhooks/listen.js';
import { WebhookSender } from '../../src/webhooks/sender.js';
import { startTestPier, testCardNumber, type TestMerchant, type TestPier } from '../harness.js';
import { startReceiver, verify } from './receiver.js';

const ROOT = resolve(import.meta.dirname, '../..');
let pier: TestPier;
let m: TestMerchant;
let other: TestMerchant;
let local: Awaited<ReturnType<typeof startReceiver>>;
let sender: WebhookSender;
const card = testCardNumber({ kftcCode: '366', lastFour: '8080' });
let n = 0;

async function pay(merchant = m) {
  const res = await pier.call('POST', '/subscribe/payments/onetime', { token: merchant.token, body: { merchant_uid: `listen_${++n}`, amount: 1000, card_number: card, expiry: '2030-12' } });
  expect(res.body.response.status).toBe('paid');
  return res.body.response as { imp_uid: string; merchant_uid: string };
}

beforeAll(async () => {
  pier = await startTestPier();
  m = await pier.newMerchant();
  other = await pier.newMerchant();
  local = await startReceiver();
  sender = new WebhookSender({ connectTimeoutMs: 500, readTimeoutMs: 500 });
});
afterAll(async () => {
  await sender.close();
  await local.stop();
  await pier.close();
});
beforeEach(() => {
  local.requests.length = 0;
  local.setAnswer(() => 200);
});

describe('pier listen through the database', () => {
  it('forwards events recorded while the session is open, signed with the merchant secret; not earlier ones', async () => {
    await pay(); // before the session: not forwarded
    const source = new DbListenSource(pier.deps, m.merchantId, pier.clock);
    const session = await source.open(local.url);
    expect(session.secret).toMatch(/^whsec_/);
    const lines: string[] = [];
    expect(await forwardOnce(source, local.url, { sender, onLine: (l) => lines.push(l) })).toBe(0);

    const p = await pay();
    await pay(other); // another merchant's event is not this session's
    expect(await forwardOnce(source, local.url, { sender, onLine: (l) => lines.push(l) })).toBe(1);
    expect(local.requests).toHaveLength(1);
    expect(verify(session.secret, local.requests[0])).toEqual({ imp_uid: p.imp_uid, merchant_uid: p.merchant_uid, status: 'paid' });
    expect(lines[0]).toContain(`paid      ${p.imp_uid}`);
    expect(lines[0]).toContain('[200]');

    // the attempt is in the delivery log, marked as a listen delivery
    const log = await pier.call('GET', `/pier/webhooks/deliveries?imp_uid=${p.imp_uid}`, { token: m.token });
    expect(log.body.response.list).toMatchObject([{ state: 'delivered', attempts: 1, listener_id: session.listenerId, url: local.url }]);

    // the local server is restarting: the delivery waits and is retried shortly
    await local.stop();
    const q = await pay();
    expect(await forwardOnce(source, local.url, { sender, onLine: (l) => lines.push(l) })).toBe(1);
    expect(lines.at(-1)).toContain('[ERR connection refused]');
    await local.restart();
    expect(await forwardOnce(source, local.url, { sender })).toBe(0); // not due yet
    pier.clock.advance(5_000);
    expect(await forwardOnce(source, local.url, { sender })).toBe(1);
    expect(verify(session.secret, local.requests.at(-1)!)).toMatchObject({ imp_uid: q.imp_uid });

    await source.close();
    await pay();
    await expect(source.poll()).rejects.toThrow();
    const after = await pier.store.db.selectFrom('webhook_deliveries').select('id').where('listener_id', '=', session.listenerId).where('state', '=', 'pending').execute();
    expect(after).toEqual([]);
  });
});

describe('pier listen through the API', () => {
  it("forwards through a running Pier's /pier/webhooks/listeners API with the REST key, and keeps sessions per merchant", async () => {
    const baseUrl = await pier.app.listen({ host: '127.0.0.1', port: 0 });
    const source = new HttpListenSource(baseUrl, m.impKey, m.impSecret);
    const session = await source.open(local.url);
    const p = await pay();
    expect(await forwardOnce(source, local.url, { sender })).toBe(1);
    expect(verify(session.secret, local.requests[0])).toMatchObject({ imp_uid: p.imp_uid, status: 'paid' });
    const d = await pier.call('GET', `/pier/webhooks/deliveries?imp_uid=${p.imp_uid}`, { token: m.token });
    expect(d.body.response.list[0]).toMatchObject({ state: 'delivered', listener_id: session.listenerId });

    // another merchant cannot poll or close this session
    const stolen = await pier.call('POST', `/pier/webhooks/listeners/${session.listenerId}/poll`, { token: other.token, body: {} });
    expect(stolen.status).toBe(404);
    const closed = await pier.call('DELETE', `/pier/webhooks/listeners/${session.listenerId}`, { token: other.token });
    expect(closed.status).toBe(404);
    await pay();
    expect(await forwardOnce(source, local.url, { sender })).toBe(1); // still open: the other merchant's DELETE did nothing
    await source.close();
    expect((await pier.call('POST', '/pier/webhooks/listeners', { body: { forward_to: local.url } })).status).toBe(401);
  });
});

describe('a listen session reporting a result', () => {
  it('for a delivery it no longer holds (already reported) records nothing and answers the state the delivery is in', async () => {
    const reporter = await pier.newMerchant();
    const opened = await pier.call('POST', '/pier/webhooks/listeners', { token: reporter.token, body: { forward_to: local.url } });
    const listenerId = opened.body.response.listener_id as string;
    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: reporter.token, body: { merchant_uid: 'report_1', amount: 1000, card_number: card, expiry: '2030-12' } });
    expect(paid.body.response.status).toBe('paid');
    const [d] = (await pier.call('POST', `/pier/webhooks/listeners/${listenerId}/poll`, { token: reporter.token, body: {} })).body.response;
    const report = (status_code: number) =>
      pier.call('POST', `/pier/webhooks/listeners/${listenerId}/deliveries/${d.delivery_id}/result`, { token: reporter.token, body: { status_code, duration_ms: 5 } });
    expect((await report(200)).body.response).toEqual({ state: 'delivered' });
    // the same report sent again (a retried request), then a contradicting one
    expect((await report(200)).body.response).toEqual({ state: 'delivered' });
    expect((await report(500)).body.response).toEqual({ state: 'delivered' });
    const logged = await pier.store.db.selectFrom('webhook_attempts').select(['attempt', 'status_code']).where('delivery_id', '=', d.delivery_id).execute();
    expect(logged).toEqual([{ attempt: 1, status_code: 200 }]);
    const row = await pier.store.db.selectFrom('webhook_deliveries').select(['state', 'attempts']).where('id', '=', d.delivery_id).executeTakeFirstOrThrow();
    expect(row).toEqual({ state: 'delivered', attempts: 1 });
  });
});

describe('listen sessions of one merchant', () => {
  it('are at most MAX_LIVE_LISTENERS live at once: a flood of opened sessions is refused, and the merchant’s approvals are still recorded', async () => {
    const flooder = await pier.newMerchant();
    const opened: string[] = [];
    let refused: { status: number; body: { code: number; message: string | null } } | null = null;
    // as many as an attacker cares to open (about 1,900 were enough to make every approval of the
    // merchant unrecordable on SQLite: one delivery per session, 18 parameters each, one INSERT)
    for (let i = 0; i < 2000 && !refused; i++) {
      const res = await pier.call('POST', '/pier/webhooks/listeners', { token: flooder.token, body: { forward_to: `http://localhost:3000/hook${i}` } });
      if (res.body.code === 0) opened.push(res.body.response.listener_id);
      else refused = res;
    }
    expect(opened).toHaveLength(MAX_LIVE_LISTENERS);
    expect(refused).toMatchObject({ status: 200, body: { code: 1 } });
    expect(refused!.body.message).toContain(`${MAX_LIVE_LISTENERS}`);

    const paid = await pier.call('POST', '/subscribe/payments/onetime', { token: flooder.token, body: { merchant_uid: 'flood_1', amount: 1000, card_number: card, expiry: '2030-12' } });
    expect(paid.body.code, JSON.stringify(paid.body)).toBe(0);
    expect(paid.body.response.status).toBe('paid');
    const toSessions = await pier.store.db.selectFrom('webhook_deliveries').select('listener_id').where('merchant_id', '=', flooder.merchantId).where('listener_id', 'is not', null).execute();
    expect(toSessions.map((d) => d.listener_id).sort()).toEqual([...opened].sort());

    // a session closed, or silent past its time to live, makes room again
    expect((await pier.call('DELETE', `/pier/webhooks/listeners/${opened[0]}`, { token: flooder.token })).body.code).toBe(0);
    expect((await pier.call('POST', '/pier/webhooks/listeners', { token: flooder.token, body: { forward_to: local.url } })).body.code).toBe(0);
    expect((await pier.call('POST', '/pier/webhooks/listeners', { token: flooder.token, body: { forward_to: local.url } })).body.code).toBe(1);
    await pier.store.db.updateTable('webhook_listeners').set({ last_seen_at: Math.floor(Date.now() / 1000) - LISTENER_TTL_SECONDS - 1 }).where('id', '=', opened[1]).execute();
    expect((await pier.call('POST', '/pier/webhooks/listeners', { token: flooder.token, body: { forward_to: local.url } })).body.code).toBe(0);
  });
});

describe('the pier listen command', () => {
  it('prints the secret, forwards a payment made while it runs, and exits after --max-events', async () => {
    const env: NodeJS.ProcessEnv = {};
    for (const [k, v] of Object.entries(process.env)) if (!/^(PIER_|DATABASE_URL$|LOG_LEVEL$|NODE_OPTIONS$)/.test(k)) env[k] = v;
    Object.assign(env, { DATABASE_URL: pier.databaseUrl, PIER_DATA_DIR: tmpdir(), PIER_VAULT_KEYS: pier.vaultSpec, PIER_SIMULATOR: 'false', PIER_JTNET_URL: 'http://127.0.0.1:9' });
    const child = spawn(process.execPath, [join(ROOT, 'bin', 'pier.js'), 'listen', '--forward-to', local.url, '--merchant', m.merchantCode, '--interval', '100', '--max-events', '1'], { cwd: ROOT, env });
    let stderr = '';
    child.stderr.on('data', (c: Buffer) => (stderr += c.toString()));
    const lines = createInterface({ input: child.stdout });
    const output: string[] = [];
    const ready = new Promise<void>((done) =>
      lines.on('line', (l) => {
        output.push(l);
        if (l.startsWith('Ctrl-C')) done();
      }),
    );
    const exited = new Promise<number>((done) => child.on('exit', (code) => done(code ?? -1)));
    await Promise.race([ready, exited]);
    expect(stderr).toBe('');
    const secret = /Signing secret: (whsec_\S+)/.exec(output.join('\n'))![1];
    const p = await pay();
    expect(await exited).toBe(0);
    expect(local.requests).toHaveLength(1);
    expect(verify(secret, local.requests[0])).toMatchObject({ imp_uid: p.imp_uid, status: 'paid' });
    expect(output.join('\n')).toContain('forwarded 1 delivery; session closed');
  }, 30_000);
});
