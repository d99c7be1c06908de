import { createServer, type Server } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { webhookQueue } from '../../src/jobs/handlers/webhooks.js';
import { JobRunner } from '../../src/jobs/runner.js';
import { testCardNumber } from '../harness.js';
import { startConsolePier, type Agent, type ConsolePier, type ConsoleUser } from './console-harness.js';

let c: ConsolePier;
let alice: ConsoleUser;
let bob: ConsoleUser;
let a: Agent;
let b: Agent;
let receiver: Server;
let receiverUrl: string;
let answer = 500;
let queue: ReturnType<typeof webhookQueue>;
let runner: JobRunner;

const good = testCardNumber({ kftcCode: '366', lastFour: '4321' });

async function tok(u: ConsoleUser): Promise<string> {
  const r = await c.pier.call('POST', '/users/getToken', { body: { imp_key: u.merchant.impKey, imp_secret: u.merchant.impSecret } });
  u.merchant.token = r.body.response.access_token;
  return u.merchant.token;
}

beforeAll(async () => {
  c = await startConsolePier({ sandboxClock: true });
  alice = await c.newUser();
  bob = await c.newUser();
  a = c.agent();
  b = c.agent();
  await a.signIn(alice.email, alice.password);
  await b.signIn(bob.email, bob.password);
  receiver = createServer((req, res) => {
    req.resume();
    req.on('end', () => {
      res.statusCode = answer;
      res.end(answer === 200 ? 'ok' : 'try later');
    });
  });
  await new Promise<void>((r) => receiver.listen(0, '127.0.0.1', () => r()));
  receiverUrl = `http://127.0.0.1:${(receiver.address() as AddressInfo).port}/hook`;
  queue = webhookQueue(c.pier.deps, { clock: c.pier.clock, timeouts: { connectTimeoutMs: 500, readTimeoutMs: 500 } });
  runner = new JobRunner({ queues: [queue], logger: c.pier.deps.logger });
});
afterAll(async () => {
  await queue.close();
  await new Promise<void>((r) => receiver.close(() => r()));
  await c.close();
});

describe('schedules', () => {
  it('lists schedules by customer and date, and revokes one; another merchant\'s are out of reach', async () => {
    for (const [u, cust] of [[alice, 'sched_alice'], [bob, 'sched_bob']] as const) {
      const k = await c.pier.call('POST', `/subscribe/customers/${cust}`, { token: await tok(u), body: { card_number: good, expiry: '2030-12', birth: '820213', pwd_2digit: '00' } });
      expect(k.body.code, JSON.stringify(k.body)).toBe(0);
    }
    const now = Math.floor(c.pier.deps.clock.now() / 1000);
    const s = await c.pier.call('POST', '/subscribe/payments/schedule', {
      token: await tok(alice),
      body: { customer_uid: 'sched_alice', schedules: [{ merchant_uid: 'sa_1', schedule_at: now + 86400, amount: 1000 }, { merchant_uid: 'sa_2', schedule_at: now + 10 * 86400, amount: 2000 }] },
    });
    expect(s.body.code, JSON.stringify(s.body)).toBe(0);
    await c.pier.call('POST', '/subscribe/payments/schedule', { token: await tok(bob), body: { customer_uid: 'sched_bob', schedules: [{ merchant_uid: 'sb_1', schedule_at: now + 86400, amount: 1000 }] } });
    const all = (await a.get('/console/api/schedules')).json;
    expect(all.list.map((x: { merchant_uid: string }) => x.merchant_uid).sort()).toEqual(['sa_1', 'sa_2']);
    const day = new Date((now + 86400) * 1000 + 9 * 3600_000).toISOString().slice(0, 10);
    const oneDay = (await a.get(`/console/api/schedules?from=${day}&to=${day}&customer_uid=sched_alice`)).json;
    expect(oneDay.list.map((x: { merchant_uid: string }) => x.merchant_uid)).toEqual(['sa_1']);
    const page = await a.get('/console/schedules?customer_uid=sched_alice');
    expect(page.status).toBe(200);
    expect(page.body).toContain('sa_2');
    expect(page.body).not.toContain('sb_1');
    const bad = await a.get('/console/schedules?from=nope');
    expect(bad.status).toBe(400);
    // a customer_uid filter finds stored keys, so it takes any name one could have been stored
    // under (decision 0068): 27 Hangul (81 bytes, before decision 0062's limit) up to 80 characters
    const long = await a.get(`/console/schedules?customer_uid=${encodeURIComponent('고'.repeat(81))}`);
    expect(long.status).toBe(400);
    expect(long.body).toContain('너무 깁니다.');
    expect((await a.get(`/console/schedules?customer_uid=${encodeURIComponent('고'.repeat(80))}`)).status).toBe(200);
    expect((await a.get(`/console/schedules?customer_uid=${encodeURIComponent('고'.repeat(27))}`)).status).toBe(200);
    const revoke = await a.post('/console/schedules/sa_1/revoke', { back: '/console/schedules?customer_uid=sched_alice' });
    expect(revoke.status).toBe(303);
    expect(revoke.location).toBe('/console/schedules?customer_uid=sched_alice&ok=revoked');
    expect((await a.get('/console/api/schedules?status=revoked')).json.list.map((x: { merchant_uid: string }) => x.merchant_uid)).toEqual(['sa_1']);
    const again = await a.post('/console/schedules/sa_1/revoke');
    expect(again.status).toBe(409);
    // a `back` beyond printable ASCII goes back percent-encoded (a raw one made the answer a 500)
    const odd = await a.post('/console/schedules/sa_2/revoke', { back: '/console/schedules?customer_uid=고객' });
    expect(odd.status).toBe(303);
    expect(odd.location).toBe('/console/schedules?customer_uid=%EA%B3%A0%EA%B0%9D&ok=revoked');
    expect((await a.api('POST', '/console/api/schedules/sb_1/revoke')).status).toBe(404);
    expect((await a.api('POST', '/console/api/schedules/revoke', { merchant_uid: 'sb_1' })).status).toBe(404);
    expect((await a.post('/console/schedules/revoke', { merchant_uid: 'sb_1' })).status).toBe(404);
    expect((await a.api('POST', '/console/api/schedules/sa_2/revoke', {}, { csrf: false })).status).toBe(403);
    expect((await b.get('/console/api/schedules')).json.list[0]).toMatchObject({ merchant_uid: 'sb_1', schedule_status: 'scheduled' });
  });
});

describe('webhooks', () => {
  it('sets the webhook URL with validation; the signing secret is masked until asked for or rotated', async () => {
    const bad = await a.post('/console/keys/webhook', { url: 'ftp://x', content_type: 'json' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('http:// 또는 https://');
    const ok = await a.post('/console/keys/webhook', { url: receiverUrl, content_type: 'json' });
    expect(ok.status).toBe(303);
    const keys = await a.get('/console/keys');
    expect(keys.body).toContain(receiverUrl);
    const settings = (await a.get('/console/api/webhooks/settings')).json;
    expect(settings.secret).toMatch(/^whsec_••••••••.{4}$/);
    const shown = await a.post('/console/keys/webhook/secret');
    const secret = /id="webhook-secret" class="secret">([^<]+)</.exec(shown.body)![1];
    expect(secret.startsWith('whsec_')).toBe(true);
    expect(keys.body).not.toContain(secret);
    const rotated = (await a.api('POST', '/console/api/webhooks/settings/rotate-secret')).json.secret;
    expect(rotated).not.toBe(secret);
    const v1 = await c.pier.call('GET', '/pier/webhooks/settings', { token: await tok(alice) });
    expect(v1.body.response).toMatchObject({ url: receiverUrl, secret: rotated });
    expect((await a.api('PUT', '/console/api/webhooks/settings', { url: 'not a url' })).status).toBe(400);
  });

  it('shows deliveries with every attempt and response code, and redelivers one', async () => {
    answer = 500;
    const p = await c.pier.call('POST', '/subscribe/payments/onetime', {
      token: await tok(alice),
      body: { merchant_uid: 'hook_order_1', amount: 1000, card_number: good, expiry: '2030-12', birth: '820213' },
    });
    expect(p.body.code).toBe(0);
    expect(await runner.drain()).toBe(1);
    const list = (await a.get('/console/api/webhooks/deliveries')).json;
    expect(list.total).toBe(1);
    const d = list.list[0];
    expect(d).toMatchObject({ imp_uid: p.body.response.imp_uid, last_status_code: 500, attempts: 1 });
    const page = await a.get('/console/webhooks');
    expect(page.body).toContain(p.body.response.imp_uid);
    expect(page.body).toContain('500');
    const detail = await a.get(`/console/webhooks/${d.id}`);
    expect(detail.body).toContain('try later');
    expect((await b.get(`/console/webhooks/${d.id}`)).status).toBe(404);
    expect((await b.post(`/console/webhooks/${d.id}/redeliver`)).status).toBe(404);
    expect((await b.get('/console/api/webhooks/deliveries')).json.total).toBe(0);
    answer = 200;
    const re = await a.post(`/console/webhooks/${d.id}/redeliver`, { back: 'detail' });
    expect(re.status).toBe(303);
    expect(re.location).toMatch(/^\/console\/webhooks\/whd_[0-9a-f]{32}\?ok=redelivered$/);
    expect(await runner.drain()).toBeGreaterThanOrEqual(1);
    const newId = re.location!.split('/')[3].split('?')[0];
    const fresh = (await a.get(`/console/api/webhooks/deliveries/${newId}`)).json.delivery;
    expect(fresh).toMatchObject({ state: 'delivered', last_status_code: 200 });
    expect(fresh.attempt_log).toHaveLength(1);
    const api = await a.api('POST', `/console/api/webhooks/deliveries/${d.id}/redeliver`);
    expect(api.json.created).toHaveLength(1);
  });
});

describe('sandbox tools', () => {
  it('moves the sandbox clock forward and back, with the form validated', async () => {
    const before = (await a.get('/console/api/sandbox/clock')).json;
    expect(before).toMatchObject({ ok: true, offset_seconds: 0, live: true });
    const bad = await a.post('/console/sandbox/clock/advance', { by: 'soon' });
    expect(bad.status).toBe(400);
    expect(bad.body).toContain('30d, 12h, 90m');
    const r = await a.post('/console/sandbox/clock/advance', { by: '1d12h' });
    expect(r.status).toBe(200);
    expect(r.body).toContain('+1d 12h 0m 0s');
    const after = (await a.get('/console/api/sandbox/clock')).json;
    expect(after.offset_seconds).toBe(36 * 3600);
    expect(after.now - before.now).toBe(36 * 3600);
    expect(Math.floor(c.pier.deps.clock.now() / 1000)).toBe(after.now);
    expect((await a.api('POST', '/console/api/sandbox/clock/advance', { by: '-5m' })).status).toBe(400);
    expect((await a.api('POST', '/console/api/sandbox/clock/reset', {}, { csrf: false })).status).toBe(403);
    await a.post('/console/sandbox/clock/reset');
    expect((await a.get('/console/api/sandbox/clock')).json.offset_seconds).toBe(0);
  });

  it('deposits only into this merchant\'s virtual accounts, and explains a refusal', async () => {
    const page = await a.get('/console/sandbox');
    expect(page.body).toContain('입금 대기 중인 가상계좌가 없습니다');
    const card = await c.pier.call('POST', '/subscribe/payments/onetime', { token: await tok(bob), body: { merchant_uid: 'bob_card', amount: 1000, card_number: good, expiry: '2030-12', birth: '820213' } });
    const notMine = await a.api('POST', '/console/api/sandbox/vbank-deposit', { imp_uid: card.body.response.imp_uid, amount: '1000' });
    expect(notMine.status).toBe(404);
    const own = await b.api('POST', '/console/api/sandbox/vbank-deposit', { imp_uid: card.body.response.imp_uid, amount: '1000' });
    expect(own.status).toBe(404); // a card payment has no virtual account
    const invalid = await b.post('/console/sandbox/vbank-deposit', { imp_uid: card.body.response.imp_uid, amount: 'abc' });
    expect(invalid.status).toBe(400);
    expect(invalid.body).toContain('금액은 1원 이상의 정수로');
  });

  it('lists waiting virtual accounts and shows the simulator\'s answer when it refuses a deposit', async () => {
    // a virtual account Pier holds but the PG never issued: the simulator must refuse the deposit
    const now = Math.floor(c.pier.deps.clock.now() / 1000);
    const ch = await c.pier.store.db.selectFrom('pg_channels').select('id').where('merchant_id', '=', alice.merchant.merchantId).where('kind', '=', 'window').executeTakeFirstOrThrow();
    const impUid = 'imp_990000000001';
    await c.pier.store.db
      .insertInto('payments')
      .values({
        imp_uid: impUid, merchant_id: alice.merchant.merchantId, merchant_uid: 'vb_console', merchant_uid_lock: 'vb_console', channel_id: ch.id,
        pg_provider: 'jtnet', pg_id: 'tpaytest0m', pay_method: 'vbank', channel: 'pc', status: 'ready', pg_state: 'done', amount: 23000,
        cancel_amount: 0, cancel_pending_amount: 0, tax_free: 0, vat_amount: null, currency: 'KRW', name: null, buyer_name: null,
        buyer_email: null, buyer_tel: null, buyer_addr: null, buyer_postcode: null, custom_data: null, notice_url: null, user_agent: null,
        card_code: null, card_name: null, card_number: null, card_type: null, card_quota: 0, apply_num: null, pg_tid: 'tpaytest0m_unknown_tid',
        receipt_url: null, bank_code: null, bank_name: null, customer_uid: null, customer_uid_usage: null, fail_reason: null,
        cancel_reason: null, sandbox: 1, started_at: now, paid_at: 0, failed_at: 0, cancelled_at: 0, updated_at: now,
        vbank_code: '004', vbank_name: 'KB국민은행', vbank_num: '12345678901234', vbank_holder: 'Test', vbank_date: now + 86400, vbank_issued_at: now,
      })
      .execute();
    const page = await a.get('/console/sandbox');
    expect(page.body).toContain('12345678901234');
    expect((await b.get('/console/sandbox')).body).not.toContain('12345678901234');
    const r = await a.post('/console/sandbox/vbank-deposit', { imp_uid: impUid, amount: '23000', depositor_name: '홍길동' });
    expect(r.status).toBe(409);
    expect(r.body).toContain('시뮬레이터가 입금을 거부했습니다');
    expect(r.body).toContain('no virtual account issued');
    const api = await a.api('POST', '/console/api/sandbox/vbank-deposit', { imp_uid: impUid, amount: 23000 });
    expect(api.status).toBe(409);
    expect(api.json.payment.status).toBe('ready');
  });
});
